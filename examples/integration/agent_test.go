//go:build unix

package integration_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
	integration "github.com/sandagent/sandagent/examples/integration"
	"github.com/sandagent/sandagent/local"
	"github.com/sandagent/sandagent/sandbase"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

// backend is one provider for the agent under test, started fresh for one
// test.
type backend struct {
	// config configures the agent's sandbox. id is the one a previous
	// Handle reported, "" at first; providers with names use a fixed name.
	config func(id string) (sandagent.Sandbox, error)
	// faults and requests are the emulator's Faults and Requests; nil for
	// local, which has no server.
	faults interface {
		FailNext(n int, pathPrefix string, status int)
	}
	requests interface {
		Reset()
		Requests() []string
	}
}

var backends = map[string]func(t *testing.T) backend{
	"local": func(t *testing.T) backend {
		dir := t.TempDir()
		return backend{config: func(string) (sandagent.Sandbox, error) {
			return local.New(local.WithDir(dir), local.WithName("agent"))
		}}
	},
	"e2b": func(t *testing.T) backend {
		srv := e2btest.NewServer()
		t.Cleanup(srv.Close)
		return backend{func(string) (sandagent.Sandbox, error) {
			return e2b.New(e2b.WithName("agent"), e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL))
		}, srv.Faults, srv.Requests}
	},
	"sandbase": func(t *testing.T) backend {
		srv := sandbasetest.NewServer()
		t.Cleanup(srv.Close)
		return backend{func(string) (sandagent.Sandbox, error) {
			return sandbase.New(sandbase.WithName("agent"), sandbase.WithAPIKey(srv.APIKey()), sandbase.WithAPIURL(srv.URL), sandbase.WithSandboxURL(srv.URL), sandbase.WithTemplate("base"))
		}, srv.Faults, srv.Requests}
	},
	"sandock": func(t *testing.T) backend {
		srv := sandocktest.NewServer()
		t.Cleanup(srv.Close)
		return backend{func(id string) (sandagent.Sandbox, error) {
			opts := []sandock.Option{sandock.WithAPIKey(srv.APIKey()), sandock.WithBaseURL(srv.URL)}
			if id != "" { // Sandock has no names: reattach by the stored id
				opts = append(opts, sandock.WithID(id))
			}
			return sandock.New(opts...)
		}, srv.Faults, srv.Requests}
	},
	"daytona": func(t *testing.T) backend {
		srv := daytonatest.NewServer()
		t.Cleanup(srv.Close)
		return backend{func(string) (sandagent.Sandbox, error) {
			return daytona.New(daytona.WithName("agent"), daytona.WithAPIKey(srv.APIKey()), daytona.WithAPIURL(srv.URL))
		}, srv.Faults, srv.Requests}
	},
}

func TestRunTask(t *testing.T) {
	t.Parallel()
	for name, start := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := start(t)
			attach := func(id string) *sandagent.Handle {
				t.Helper()
				sb, err := b.config(id)
				require.NoError(t, err)
				h, err := sb.Attach(t.Context())
				require.NoError(t, err)
				t.Cleanup(func() { _ = h.Destroy(context.Background()) })
				return h
			}

			// The agent's task runs, and its files stay for the next one.
			h := attach("")
			out, err := integration.RunTask(t.Context(), h, "echo hello > greeting; cat greeting")
			require.NoError(t, err)
			require.Equal(t, "hello\n", out)

			// A failing task is an error with its exit code and stderr.
			_, err = integration.RunTask(t.Context(), h, "echo oops >&2; exit 3")
			var exit *sandagent.ExitError
			require.True(t, errors.As(err, &exit), "%v", err)
			require.Equal(t, 3, exit.ExitCode)
			require.ErrorContains(t, err, "oops")

			if b.faults == nil {
				return
			}
			// Reattaching starts with a lookup, an idempotent request: a
			// 503 on it is retried, and the agent never sees it.
			b.requests.Reset()
			b.faults.FailNext(1, "", http.StatusServiceUnavailable)
			h2 := attach(h.ID())
			sent := b.requests.Requests()
			require.Equal(t, sent[0], sent[1], "the failed lookup was sent again")
			require.Equal(t, sandagent.Reused, h2.Outcome())
			require.Equal(t, h.ID(), h2.ID())
			out, err = integration.RunTask(t.Context(), h2, "cat greeting")
			require.NoError(t, err)
			require.Equal(t, "hello\n", out)

			// A refused key is not retried, nor read as "no sandbox yet":
			// the agent gets ErrAuth.
			b.faults.FailNext(1, "", http.StatusUnauthorized)
			sb, err := b.config(h.ID())
			require.NoError(t, err)
			_, err = sb.Attach(t.Context())
			require.ErrorIs(t, err, sandagent.ErrAuth)
		})
	}
}
