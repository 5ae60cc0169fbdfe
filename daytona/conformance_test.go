//go:build unix

package daytona_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/sandboxtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// newServer starts an emulator for one test.
func newServer(t *testing.T, opts ...daytonatest.Option) *daytonatest.Server {
	t.Helper()
	srv := daytonatest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// open returns a Sandbox pointed at srv.
func open(t *testing.T, srv *daytonatest.Server, opts ...daytona.Option) *daytona.Sandbox {
	t.Helper()
	all := append([]daytona.Option{daytona.WithAPIURL(srv.URL), daytona.WithAPIKey(srv.APIKey()), daytona.FastPolls()}, opts...)
	sb, err := daytona.New(all...)
	require.NoError(t, err)
	return sb
}

func TestConformance(t *testing.T) {
	srv := newServer(t)
	sandboxtest.Run(t, sandboxtest.Factory{
		Faults: srv.Faults,
		New: func(t *testing.T, o sandboxtest.Options) sandagent.Sandbox {
			var opts []daytona.Option
			if o.Name != "" {
				opts = append(opts, daytona.WithName(o.Name))
			}
			if o.ID != "" {
				opts = append(opts, daytona.WithID(o.ID))
			}
			if o.Env != nil {
				opts = append(opts, daytona.WithEnv(o.Env))
			}
			return open(t, srv, opts...)
		},
		Lacks: map[sandboxtest.Capability]string{
			sandboxtest.Pause:     "Daytona pauses only linux-vm and windows sandboxes",
			sandboxtest.Stdin:     "the toolbox can send input lines but cannot close a command's stdin",
			sandboxtest.Signal:    "the toolbox cannot signal a command; cancelling kills it",
			sandboxtest.URL:       "not wired in yet: GET /sandbox/{id}/ports/{port}/preview-url",
			sandboxtest.PTY:       "not wired in yet: the toolbox's /process/pty sessions",
			sandboxtest.Fork:      "not wired in yet: POST /sandbox/{id}/fork",
			sandboxtest.Snapshot:  "not wired in yet: POST /sandbox/{id}/snapshot",
			sandboxtest.ManyExecs: "the emulator's toolbox sessions (one per command) do not keep up with 1,000 concurrent commands: most time out",
		},
	})
}
