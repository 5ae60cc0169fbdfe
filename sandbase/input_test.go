//go:build unix

package sandbase_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/sandbase"
)

// Bad names and timeouts are refused by New, before any request, with
// ErrInvalid naming the rule.
func TestBadInputMakesNoRequest(t *testing.T) {
	srv := server(t)
	for _, tc := range []struct {
		name string
		opt  sandbase.Option
		rule string
	}{
		{"empty name", sandbase.WithName(""), "1 to 128 bytes"},
		{"long name", sandbase.WithName(strings.Repeat("a", 129)), "1 to 128 bytes"},
		{"control character", sandbase.WithName("a\tb"), "without control characters"},
		{"invalid UTF-8", sandbase.WithName("a\xffb"), "of UTF-8"},
		{"zero timeout", sandbase.WithTimeout(0), "not positive"},
		{"negative timeout", sandbase.WithTimeout(-time.Second), "not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sandbase.New(opts(srv, tc.opt)...)
			require.ErrorIs(t, err, sandagent.ErrInvalid)
			require.ErrorContains(t, err, tc.rule)
		})
	}
	t.Setenv("SANDBASE_API_URL", srv.URL)
	t.Setenv("SANDBASE_API_KEY", srv.APIKey())
	t.Setenv("SANDBASE_TEMPLATE", "base")
	_, err := sandagent.Open(t.Context(), "sandbase://"+strings.Repeat("a", 129))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorContains(t, err, "1 to 128 bytes")
	require.Zero(t, srv.Requests.Total())
}

// SandBase documents no maximum timeout: its one-hour maximum lifetime
// bounds a sandbox whatever the timeout, so a long one is accepted (and
// cut to the lifetime by the service).
func TestLongTimeoutIsAccepted(t *testing.T) {
	srv := server(t)
	h := attach(t, srv, sandbase.WithTimeout(1000*time.Hour))
	require.NoError(t, h.SetTimeout(t.Context(), 1000*time.Hour))
	require.NoError(t, h.Destroy(t.Context()))
}

// A server that answers garbage (JSON that does not parse, an HTML page),
// with a success or a failure status, gives a clear error, never a panic
// nor an empty success, and a garbage lookup never leads to a create.
func TestGarbageResponses(t *testing.T) {
	srv := server(t)
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		for _, body := range []string{"{not json", "<html><body><h1>Bad Gateway</h1></body></html>"} {
			t.Run(fmt.Sprintf("%d %.5s", status, body), func(t *testing.T) {
				defer srv.Faults.Clear()
				garbage := func(method, path string) {
					srv.Faults.Add(emu.Fault{Method: method, Path: path, Times: 10, Status: status, Body: body})
				}
				srv.Requests.Reset()
				garbage(http.MethodGet, "/v2/sandboxes")
				sb, err := sandbase.New(opts(srv, sandbase.WithName("garbage"))...)
				require.NoError(t, err)
				_, err = sb.Attach(t.Context())
				requireClearError(t, err, status)
				require.Zero(t, srv.Requests.Count(http.MethodPost, "/v2/sandboxes"), "no create after a garbage lookup")
				srv.Faults.Clear()

				garbage(http.MethodPost, "/v2/sandboxes")
				sb, err = sandbase.New(opts(srv)...)
				require.NoError(t, err)
				_, err = sb.Attach(t.Context())
				requireClearError(t, err, status)
				srv.Faults.Clear()

				h := attach(t, srv)
				defer func() {
					srv.Faults.Clear()
					require.NoError(t, h.Destroy(context.Background()))
				}()
				garbage("", "/sandboxes/"+h.ID())
				garbage("", "/v2/sandboxes/"+h.ID())
				garbage("", "/process.Process/")
				garbage("", "/filesystem.Filesystem/")
				garbage("", "/files")
				sb, err = sandbase.New(opts(srv, sandbase.WithID(h.ID()))...)
				require.NoError(t, err)
				_, err = sb.Attach(t.Context())
				requireClearError(t, err, status)
				_, err = h.State(t.Context())
				requireClearError(t, err, status)
				_, err = h.Exec(t.Context(), &sandagent.Cmd{Shell: "true"})
				requireClearError(t, err, status)
				_, err = h.ReadFile(t.Context(), "x")
				requireClearError(t, err, status)
				_, err = h.Stat(t.Context(), "x")
				requireClearError(t, err, status)
				_, err = h.ListDir(t.Context(), ".")
				requireClearError(t, err, status)
			})
		}
	}
}

// requireClearError checks that err is this provider's *sandagent.Error
// and says what went wrong: the failure status, or that the answer was
// not what was expected. Raw HTML never reaches the message.
func requireClearError(t *testing.T, err error, status int) {
	t.Helper()
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, sandbase.ProviderName, e.Provider)
	if status == http.StatusOK {
		require.Regexp(t, "unexpected response|malformed|invalid content-type", err.Error())
	} else {
		require.Contains(t, err.Error(), "500")
	}
	require.NotContains(t, err.Error(), "<html>")
}
