//go:build unix

package sandock_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/sandock"
)

// Sandock sandboxes have no names (the title is free text, never looked
// up), so there is no name rule. Bad durations are refused by New, before
// any request, with ErrInvalid naming the rule. The active deadline's
// maximum is Sandock's: 24 hours (activeDeadlineSeconds ≤ 86400).
func TestBadInputMakesNoRequest(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		name string
		opt  sandock.Option
		rule string
	}{
		{"zero deadline", sandock.WithActiveDeadline(0), "want whole seconds, from 1s to 24h"},
		{"negative deadline", sandock.WithActiveDeadline(-time.Second), "want whole seconds, from 1s to 24h"},
		{"too long deadline", sandock.WithActiveDeadline(24*time.Hour + time.Second), "want whole seconds, from 1s to 24h"},
		{"zero exec timeout", sandock.WithExecTimeout(0), "shorter than 1ms"},
		{"negative exec timeout", sandock.WithExecTimeout(-time.Second), "shorter than 1ms"},
		{"zero volume timeout", sandock.WithVolumeTimeout(0), "not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sandock.New(sandock.WithBaseURL(srv.URL), sandock.WithAPIKey(srv.APIKey()), tc.opt)
			require.ErrorIs(t, err, sandagent.ErrInvalid)
			require.ErrorContains(t, err, tc.rule)
		})
	}
	t.Setenv("SANDOCK_BASE_URL", srv.URL)
	t.Setenv("SANDOCK_API_KEY", srv.APIKey())
	_, err := sandagent.Open(t.Context(), "sandock://?deadline=25h")
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorContains(t, err, "from 1s to 24h")
	require.Zero(t, srv.Requests.Total())
}

// A server that answers garbage (JSON that does not parse, an HTML page),
// with a success or a failure status, gives a clear error, never a panic
// nor an empty success.
func TestGarbageResponses(t *testing.T) {
	srv := newServer(t)
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		for _, body := range []string{"{not json", "<html><body><h1>Bad Gateway</h1></body></html>"} {
			t.Run(fmt.Sprintf("%d %.5s", status, body), func(t *testing.T) {
				defer srv.Faults.Clear()
				garbage := func(method, path string) {
					srv.Faults.Add(emu.Fault{Method: method, Path: path, Times: 10, Status: status, Body: body})
				}
				garbage(http.MethodPost, "/api/v1/sandbox")
				_, err := newSandbox(t, srv, sandock.WithRetries(0)).Attach(t.Context())
				requireClearError(t, err, status)
				srv.Faults.Clear()

				h := attach(t, srv)
				defer func() {
					srv.Faults.Clear()
					require.NoError(t, h.Destroy(context.Background()))
				}()
				garbage("", "/api/v1/sandbox")
				_, err = newSandbox(t, srv, sandock.WithID(h.ID()), sandock.WithRetries(0)).Attach(t.Context())
				requireClearError(t, err, status)
				_, err = h.State(t.Context())
				requireClearError(t, err, status)
				_, err = h.Exec(t.Context(), &sandagent.Cmd{Shell: "true"})
				requireClearError(t, err, status)
				_, err = h.ReadFile(t.Context(), "x")
				requireClearError(t, err, status)
				_, err = h.ListDir(t.Context(), ".")
				requireClearError(t, err, status)
				require.Error(t, h.WriteFile(t.Context(), "x", []byte("x")))
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
	require.Equal(t, sandock.ProviderName, e.Provider)
	if status == http.StatusOK {
		// A 200 that is not an event stream reads as a stream without
		// the command's exit event: an error too.
		require.Regexp(t, "malformed response|ended before the command's exit event", err.Error())
	} else {
		require.Contains(t, err.Error(), "500")
	}
	require.NotContains(t, err.Error(), "<html>")
}
