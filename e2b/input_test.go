//go:build unix

package e2b_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/internal/emu"
)

// Bad names and timeouts are refused by New, before any request, with
// ErrInvalid naming the rule.
func TestBadInputMakesNoRequest(t *testing.T) {
	srv := server(t)
	for _, tc := range []struct {
		name string
		opt  e2b.Option
		rule string
	}{
		{"empty name", e2b.WithName(""), "1 to 128 bytes"},
		{"long name", e2b.WithName(strings.Repeat("a", 129)), "1 to 128 bytes"},
		{"control character", e2b.WithName("a\nb"), "without control characters"},
		{"invalid UTF-8", e2b.WithName("a\xffb"), "of UTF-8"},
		{"empty template", e2b.WithTemplate(""), "1 to 128 bytes"},
		{"zero timeout", e2b.WithTimeout(0), "not positive"},
		{"negative timeout", e2b.WithTimeout(-time.Second), "not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e2b.New(opts(srv, tc.opt)...)
			require.ErrorIs(t, err, sandagent.ErrInvalid)
			require.ErrorContains(t, err, tc.rule)
		})
	}
	t.Setenv("E2B_API_URL", srv.URL)
	t.Setenv("E2B_SANDBOX_URL", srv.URL)
	t.Setenv("E2B_API_KEY", srv.APIKey())
	_, err := sandagent.Open(t.Context(), "e2b://"+strings.Repeat("a", 129))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorContains(t, err, "1 to 128 bytes")
	require.Zero(t, srv.Requests.Total())
}

// The longest timeout is the team's maximum sandbox length (1 hour on
// E2B's Hobby tier, 24 hours on Pro; the emulator's team has 24), which
// only the server knows: a longer one is its 400, ErrInvalid, and nothing
// is created.
func TestTooLongTimeout(t *testing.T) {
	srv := server(t)
	sb, err := e2b.New(opts(srv, e2b.WithName("long"), e2b.WithTimeout(25*time.Hour))...)
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorContains(t, err, "Timeout cannot be greater than 24 hours")
	for _, err := range e2b.List(t.Context(), e2b.Filter{}, opts(srv)...) {
		require.NoError(t, err)
		t.Error("a sandbox was created")
	}

	h := attach(t, srv, e2b.WithTimeout(24*time.Hour))
	defer func() { require.NoError(t, h.Destroy(context.Background())) }()
	err = h.SetTimeout(t.Context(), 1000*time.Hour) // clamped by E2B to the sandbox's remaining window
	require.NoError(t, err)
}

func TestUnknownTemplate(t *testing.T) {
	srv := server(t)
	sb, err := e2b.New(opts(srv, e2b.WithTemplate("no-such-template"))...)
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.ErrorContains(t, err, "no-such-template")
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
				sb, err := e2b.New(opts(srv, e2b.WithName("garbage"))...)
				require.NoError(t, err)
				_, err = sb.Attach(t.Context())
				requireClearError(t, err, status)
				require.Zero(t, srv.Requests.Count(http.MethodPost, "/v2/sandboxes"), "no create after a garbage lookup")
				srv.Faults.Clear()

				garbage(http.MethodPost, "/v2/sandboxes")
				sb, err = e2b.New(opts(srv)...)
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
				sb, err = e2b.New(opts(srv, e2b.WithID(h.ID()))...)
				require.NoError(t, err)
				_, err = sb.Attach(t.Context())
				requireClearError(t, err, status)
				_, err = h.State(t.Context())
				requireClearError(t, err, status)
				srv.Faults.Clear()
				garbage("", "/process.Process/")
				garbage("", "/filesystem.Filesystem/")
				garbage("", "/files")
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
	require.Equal(t, e2b.ProviderName, e.Provider)
	if status == http.StatusOK {
		require.Regexp(t, "unexpected response|malformed|invalid content-type", err.Error())
	} else {
		require.Contains(t, err.Error(), "500")
	}
	require.NotContains(t, err.Error(), "<html>")
}
