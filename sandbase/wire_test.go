//go:build unix

package sandbase_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandbase"
)

// A service that ignores the metadata filter and answers connect 200 even
// when it resumed: the name lookup filters the answer itself, and the
// outcome comes from the state the list showed.
func TestNameLookupOnAServiceThatIgnoresTheFilter(t *testing.T) {
	const key = "sk-0123456789abcdef"
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /v2/sandboxes":
			_, _ = w.Write([]byte(`[
				{"sandboxID":"iother","templateID":"base","state":"running","startedAt":"2026-01-01T00:00:00Z","metadata":{"sandagent.name":"other","sandagent.managed":"true"}},
				{"sandboxID":"imine","templateID":"base","state":"paused","startedAt":"2026-01-02T00:00:00Z","metadata":{"sandagent.name":"mine","sandagent.managed":"true"}},
				{"sandboxID":"istray","templateID":"base","state":"running","startedAt":"2026-01-01T00:00:00Z"}]`))
		case "POST /v2/sandboxes/imine/connect":
			_, _ = w.Write([]byte(`{"sandboxID":"imine","templateID":"base","envdAccessToken":"t","envdVersion":"0.6.13"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":404,"message":"sandbox not found"}`))
		}
	}))
	defer srv.Close()

	sb, err := sandbase.New(sandbase.WithAPIKey(key), sandbase.WithAPIURL(srv.URL), sandbase.WithTemplate("base"), sandbase.WithName("mine"))
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	require.Equal(t, "imine", h.ID())
	require.Equal(t, sandagent.Resumed, h.Outcome(), "the list said paused; connect's 200 cannot tell")

	var managed []string
	for info, err := range sb.Managed(t.Context()) {
		require.NoError(t, err)
		managed = append(managed, info.ID)
	}
	require.Equal(t, []string{"iother", "imine"}, managed, "the unlabelled sandbox is left out")

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "sandagent.name=mine", seen[0].URL.Query().Get("metadata"), "the filter is sent")
	for _, r := range seen {
		require.Equal(t, key, r.Header.Get("X-API-Key"))
		require.Empty(t, r.Header.Get("Authorization"))
	}
}
