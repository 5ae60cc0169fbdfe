//go:build unix

package daytona_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/internal/emu"
)

// Bad names and intervals are refused by New, before any request, with
// ErrInvalid naming the rule.
func TestBadInputMakesNoRequest(t *testing.T) {
	srv := newServer(t)
	const nameRule = "1 to 255 characters without '/', '?', '#', '%' or surrounding spaces"
	for _, tc := range []struct {
		name string
		opt  daytona.Option
		rule string
	}{
		{"empty name", daytona.WithName(""), nameRule},
		{"long name", daytona.WithName(strings.Repeat("a", 256)), nameRule},
		{"slash", daytona.WithName("a/b"), nameRule},
		{"percent", daytona.WithName("100%"), nameRule},
		{"surrounding space", daytona.WithName(" a"), nameRule},
		{"NUL", daytona.WithName("a\x00b"), nameRule},
		{"negative auto-stop", daytona.WithAutoStop(-time.Minute), "negative auto-stop interval"},
		{"negative auto-archive", daytona.WithAutoArchive(-time.Minute), "negative auto-archive interval"},
		{"zero wait timeout", daytona.WithWaitTimeout(0), "not positive"},
		{"negative wait timeout", daytona.WithWaitTimeout(-time.Second), "not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := daytona.New(daytona.WithAPIURL(srv.URL), daytona.WithAPIKey(srv.APIKey()), tc.opt)
			require.ErrorIs(t, err, sandagent.ErrInvalid)
			require.ErrorContains(t, err, tc.rule)
		})
	}
	t.Setenv("DAYTONA_API_URL", srv.URL)
	t.Setenv("DAYTONA_API_KEY", srv.APIKey())
	_, err := sandagent.Open(t.Context(), "daytona://"+strings.Repeat("a", 256))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorContains(t, err, nameRule)
	require.Zero(t, srv.Requests.Total())
}

// Daytona documents no maximum auto-stop interval: a long one is sent as
// is (in minutes), and a zero one disables auto-stop.
func TestLongAutoStopIsAccepted(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv, daytona.WithAutoStop(1000*time.Hour)))
	var ctl *daytona.Control
	require.True(t, h.As(&ctl))
	info, err := ctl.Info(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 60000, info.GetAutoStopInterval())
	require.NoError(t, h.SetTimeout(t.Context(), 1000*time.Hour))
	require.NoError(t, h.Destroy(t.Context()))
}

// A server that answers garbage (JSON that does not parse, an HTML page),
// with a success or a failure status, gives a clear error, never a panic
// nor an empty success, and a garbage lookup never leads to a create.
func TestGarbageResponses(t *testing.T) {
	srv := newServer(t)
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		for _, body := range []string{"{not json", "<html><body><h1>Bad Gateway</h1></body></html>"} {
			t.Run(fmt.Sprintf("%d %.5s", status, body), func(t *testing.T) {
				defer srv.Faults.Clear()
				garbage := func(method, path string) {
					srv.Faults.Add(emu.Fault{Method: method, Path: path, Times: 10, Status: status, Body: body})
				}
				srv.Requests.Reset()
				garbage(http.MethodGet, "/api/sandbox/garbage")
				_, err := open(t, srv, daytona.WithName("garbage")).Attach(t.Context())
				requireClearError(t, err, status)
				require.Zero(t, srv.Requests.Count(http.MethodPost, "/api/sandbox"), "no create after a garbage lookup")
				srv.Faults.Clear()

				garbage(http.MethodPost, "/api/sandbox")
				_, err = open(t, srv).Attach(t.Context())
				requireClearError(t, err, status)
				srv.Faults.Clear()

				h := attach(t, open(t, srv))
				defer func() {
					srv.Faults.Clear()
					require.NoError(t, h.Destroy(context.Background()))
				}()
				garbage("", "/api/sandbox/"+h.ID())
				_, err = open(t, srv, daytona.WithID(h.ID())).Attach(t.Context())
				requireClearError(t, err, status)
				_, err = h.State(t.Context())
				requireClearError(t, err, status)
				srv.Faults.Clear()
				garbage("", "/toolbox/"+h.ID())
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
	require.Equal(t, daytona.ProviderName, e.Provider)
	if status == http.StatusOK {
		require.ErrorContains(t, err, "unexpected response")
	} else {
		require.Equal(t, status, e.Status)
	}
	require.NotContains(t, err.Error(), "<html>")
}
