package e2bapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// conflict answers every request 409 with message, and records the auth
// headers it saw.
func conflict(t *testing.T, message string, seen *http.Header) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"code":409,"message":"` + message + `"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDialect(t *testing.T) {
	ctx := context.Background()
	var seen http.Header
	const key = "sk-sb-secret-key"
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	e2b := New(Options{Dialect: Dialect{Provider: "e2b"}, BaseURL: conflict(t, "sandbox is paused", &seen), APIKey: key, HTTPClient: hc})
	err := e2b.SetTimeout(ctx, "i1", time.Minute)
	require.ErrorIs(t, err, sandagent.ErrConflict, "E2B's 409 stays a conflict")
	require.Equal(t, key, seen.Get("X-API-Key"))
	require.Empty(t, seen.Get("Authorization"))

	sb := New(Options{Dialect: Dialect{Provider: "sandbase", ConflictIsState: true}, BaseURL: conflict(t, "sandbox is not active", &seen), APIKey: key, HTTPClient: hc})
	err = sb.SetTimeout(ctx, "i1", time.Minute)
	require.ErrorIs(t, err, sandagent.ErrState)
	require.ErrorContains(t, err, "sandbox is not active")
	require.Equal(t, key, seen.Get("X-API-Key"))
	require.ErrorIs(t, sb.Pause(ctx, "i1"), sandagent.ErrState, "pausing a paused sandbox is told apart by its message only")

	already := New(Options{Dialect: Dialect{Provider: "e2b"}, BaseURL: conflict(t, "sandbox is already paused", &seen), APIKey: key, HTTPClient: hc})
	require.NoError(t, already.Pause(ctx, "i1"))
}

func TestLabels(t *testing.T) {
	md := map[string]string{"user": "u1"}
	require.Equal(t, map[string]string{"user": "u1", ManagedKey: "true", NameKey: "n"}, Labels("n", md))
	require.Equal(t, map[string]string{"user": "u1"}, md, "the caller's map is not changed")
	require.Equal(t, map[string]string{ManagedKey: "true"}, Labels("", nil))
}

func TestAddMetadata(t *testing.T) {
	got, err := AddMetadata(nil, map[string]string{"a": "1"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "1"}, got)
	for _, bad := range []map[string]string{{NameKey: "x"}, {ManagedKey: "x"}, {"": "x"}, {"a\n": "x"}, {"a": "\xff"}} {
		_, err := AddMetadata(nil, bad)
		require.ErrorIs(t, err, sandagent.ErrInvalid, "%q", bad)
	}
}

func TestSortOldestFirst(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sbs := []Sandbox{{SandboxID: "c", StartedAt: t0.Add(time.Second)}, {SandboxID: "b", StartedAt: t0}, {SandboxID: "a", StartedAt: t0}}
	SortOldestFirst(sbs)
	require.Equal(t, "a", sbs[0].SandboxID)
	require.Equal(t, "b", sbs[1].SandboxID)
	require.Equal(t, "c", sbs[2].SandboxID)
}
