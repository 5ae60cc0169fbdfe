package e2b_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/internal/emu"
)

func TestManagedAndReap(t *testing.T) {
	srv := e2btest.NewServer()
	t.Cleanup(srv.Close)
	ctx := t.Context()
	cfg := func(more ...e2b.Option) *e2b.Sandbox {
		sb, err := e2b.New(append([]e2b.Option{e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL), e2b.WithAPIKey(srv.APIKey())}, more...)...)
		require.NoError(t, err)
		return sb
	}
	ci, err := cfg(e2b.WithName("ci-box"), e2b.WithMetadata(map[string]string{"env": "ci"})).Attach(ctx)
	require.NoError(t, err)
	prod, err := cfg(e2b.WithMetadata(map[string]string{"env": "prod"})).Attach(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = prod.Destroy(t.Context()) })
	require.NoError(t, ci.Pause(ctx))

	m := cfg()
	srv.Requests.Reset()
	got := map[string]sandagent.Info{}
	for info, err := range m.Managed(ctx) {
		require.NoError(t, err)
		got[info.ID] = info
	}
	require.Equal(t, 1, srv.Requests.Count("GET", "/v2/sandboxes"), "one page")
	require.Len(t, got, 2)
	require.Equal(t, "ci-box", got[ci.ID()].Name)
	require.Equal(t, sandagent.StatePaused, got[ci.ID()].State)
	require.Equal(t, "e2b", got[prod.ID()].Provider)

	reaped, err := sandagent.Reap(ctx, m, sandagent.ReapOptions{Labels: map[string]string{"env": "ci"}, Apply: true})
	require.NoError(t, err)
	require.Len(t, reaped, 1)
	require.Equal(t, ci.ID(), reaped[0].ID)
	require.NoError(t, m.Kill(ctx, ci.ID()), "killing what is gone is fine")
	_, err = cfg(e2b.WithID(ci.ID())).Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrNotFound)

	srv.Faults.FailNext(1, "/v2/sandboxes", 401)
	for _, err := range m.Managed(ctx) {
		require.ErrorIs(t, err, sandagent.ErrAuth)
	}
}

func TestLostCreateResponseIsAdopted(t *testing.T) {
	srv := e2btest.NewServer()
	t.Cleanup(srv.Close)
	sb, err := e2b.New(e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL), e2b.WithAPIKey(srv.APIKey()), e2b.WithName("lost"))
	require.NoError(t, err)
	srv.Faults.Add(emu.Fault{Method: "POST", Path: "/v2/sandboxes", Reset: emu.ResetAfter})
	h, err := sb.Attach(t.Context())
	require.NoError(t, err, "the sandbox the lost response made is found by name")
	t.Cleanup(func() { _ = h.Destroy(t.Context()) })
	require.Equal(t, sandagent.Created, h.Outcome())
	n := 0
	for range sb.Managed(t.Context()) {
		n++
	}
	require.Equal(t, 1, n, "no duplicate")
	h2, err := sb.Attach(t.Context())
	require.NoError(t, err)
	require.Equal(t, h.ID(), h2.ID())
}
