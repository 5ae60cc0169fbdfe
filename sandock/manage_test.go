//go:build unix

package sandock_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

var _ sandagent.Manager = (*sandock.Sandbox)(nil)

func managedIDs(t *testing.T, sb sandagent.Manager) map[string]sandagent.Info {
	t.Helper()
	got := map[string]sandagent.Info{}
	for info, err := range sb.Managed(t.Context()) {
		require.NoError(t, err)
		got[info.ID] = info
	}
	return got
}

func TestManagedAndReap(t *testing.T) {
	srv := newServer(t, sandocktest.WithListTitles())
	ctx := t.Context()
	start := time.Now()
	srv.Clock.Set(start.Add(-2 * time.Hour))
	old := attach(t, srv)
	srv.Clock.Set(start)
	young := attach(t, srv)
	stopped := attach(t, srv)
	require.NoError(t, stopped.Stop(ctx))
	foreign := attach(t, srv, sandock.WithTitle("mine"))

	sb := newSandbox(t, srv)
	srv.Requests.Reset()
	got := managedIDs(t, sb)
	require.Equal(t, []string{"GET /api/v1/sandbox"}, srv.Requests.Requests(), "one list request")
	require.Len(t, got, 3)
	require.NotContains(t, got, foreign.ID(), "another title is not ours")
	require.Equal(t, sandagent.StateRunning, got[young.ID()].State)
	require.Equal(t, sandagent.StateStopped, got[stopped.ID()].State)
	require.Equal(t, sandagent.StateStopped, got[old.ID()].State, "its 30-minute deadline has passed")
	require.Equal(t, "sandock", got[old.ID()].Provider)
	require.True(t, got[old.ID()].CreatedAt.IsZero(), "the list has no createdAt")

	dry, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{OlderThan: time.Hour, Apply: true})
	require.NoError(t, err)
	require.Empty(t, dry, "without a creation time, OlderThan picks nothing")

	srv.Requests.Reset()
	require.NoError(t, sb.Kill(ctx, stopped.ID()))
	require.Equal(t, []string{"DELETE /api/v1/sandbox/" + stopped.ID()}, srv.Requests.Requests(), "one request when it exists")
	require.Empty(t, srv.Status(stopped.ID()))

	none, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{Labels: map[string]string{"env": "ci"}, Apply: true})
	require.NoError(t, err)
	require.Empty(t, none, "Sandock has no labels: a label filter selects nothing")

	srv.Requests.Reset()
	require.NoError(t, sb.Kill(ctx, stopped.ID()), "killing what is gone is fine")
	require.Equal(t, []string{"DELETE /api/v1/sandbox/" + stopped.ID(), "GET /api/v1/sandbox"}, srv.Requests.Requests(),
		"the delete fails (500), the list confirms")
	require.NoError(t, sb.Kill(ctx, young.ID()))
	require.NoError(t, sb.Kill(ctx, young.ID()))
	require.NoError(t, sb.Kill(ctx, "sdbNeverExisted"))
	require.Empty(t, srv.Status(young.ID()))
	require.ErrorIs(t, sb.Kill(ctx, ""), sandagent.ErrInvalid)

	mine := managedIDs(t, newSandbox(t, srv, sandock.WithTitle("mine")))
	require.Len(t, mine, 1)
	require.Contains(t, mine, foreign.ID(), "WithTitle selects another title")
}

func TestManagedWithoutTitlesIsUnsupported(t *testing.T) {
	srv := newServer(t) // the documented list item: no title
	attach(t, srv)
	var errs int
	for _, err := range newSandbox(t, srv).Managed(t.Context()) {
		require.ErrorIs(t, err, sandagent.ErrUnsupported)
		errs++
	}
	require.Equal(t, 1, errs)
	picked, err := sandagent.Reap(t.Context(), newSandbox(t, srv), sandagent.ReapOptions{Apply: true})
	require.ErrorIs(t, err, sandagent.ErrUnsupported)
	require.Empty(t, picked)
}

func TestManagedFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   error
	}{
		{http.StatusUnauthorized, sandagent.ErrAuth},
		{http.StatusServiceUnavailable, nil},
	} {
		srv := newServer(t, sandocktest.WithListTitles())
		h := attach(t, srv)
		srv.Faults.Add(emu.Fault{Method: http.MethodGet, Path: "/api/v1/sandbox", Times: 10, Status: tc.status})
		sb := newSandbox(t, srv, sandock.WithRetries(0))
		var n int
		for info, err := range sb.Managed(t.Context()) {
			n++
			require.Error(t, err)
			require.Empty(t, info.ID)
			var se *sandagent.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.status, se.Status)
			if tc.kind != nil {
				require.ErrorIs(t, err, tc.kind)
			}
		}
		require.Equal(t, 1, n, "one error, no sandbox")
		reaped, err := sandagent.Reap(t.Context(), sb, sandagent.ReapOptions{Apply: true})
		require.Error(t, err)
		require.Empty(t, reaped)
		require.Equal(t, sandocktest.StatusRunning, srv.Status(h.ID()))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, err := range newSandbox(t, newServer(t)).Managed(ctx) {
		require.ErrorIs(t, err, context.Canceled)
	}
}

func TestKillFailsClosed(t *testing.T) {
	srv := newServer(t)
	h := attach(t, srv)
	srv.Faults.Add(emu.Fault{Method: http.MethodDelete, Path: "/api/v1/sandbox/", Times: 10, Status: http.StatusServiceUnavailable})
	err := newSandbox(t, srv, sandock.WithRetries(0)).Kill(t.Context(), h.ID())
	require.Error(t, err)
	require.NotErrorIs(t, err, sandagent.ErrNotFound)
	require.Equal(t, sandocktest.StatusRunning, srv.Status(h.ID()))
}

func TestFromURLWithoutIDManages(t *testing.T) {
	srv := newServer(t, sandocktest.WithListTitles())
	t.Setenv("SANDOCK_API_KEY", srv.APIKey())
	t.Setenv("SANDOCK_BASE_URL", srv.URL)
	h := attach(t, srv)
	sb, err := sandagent.FromURL("sandock://")
	require.NoError(t, err)
	m, ok := sb.(sandagent.Manager)
	require.True(t, ok)
	got := managedIDs(t, m)
	require.Len(t, got, 1)
	require.Contains(t, got, h.ID())
}
