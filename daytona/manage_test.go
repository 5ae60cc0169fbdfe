//go:build unix

package daytona_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/internal/emu"
)

var _ sandagent.Manager = (*daytona.Sandbox)(nil)

// queries records the query of every request that goes through it.
type queries struct {
	mu  sync.Mutex
	got []url.Values
}

func (q *queries) RoundTrip(r *http.Request) (*http.Response, error) {
	q.mu.Lock()
	q.got = append(q.got, r.URL.Query())
	q.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// createUnmanaged creates a sandbox the way another client would: without
// sandagent's labels.
func createUnmanaged(t *testing.T, srv *daytonatest.Server) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/sandbox", strings.NewReader(`{"name":"theirs","labels":{"env":"ci"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.APIKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestManagedAndReap(t *testing.T) {
	srv := newServer(t)
	ctx := t.Context()
	start := time.Now()
	srv.Clock.Set(start.Add(-2 * time.Hour))
	old := attach(t, open(t, srv, daytona.WithName("old"), daytona.WithLabels(map[string]string{"env": "ci"})))
	srv.Clock.Set(start)
	young := attach(t, open(t, srv, daytona.WithLabels(map[string]string{"env": "ci"})))
	prod := attach(t, open(t, srv, daytona.WithName("prod"), daytona.WithLabels(map[string]string{"env": "prod"})))
	stopped := attach(t, open(t, srv))
	require.NoError(t, stopped.Stop(ctx))
	archived := attach(t, open(t, srv))
	srv.SetState(archived.ID(), "archived", "")
	createUnmanaged(t, srv)

	q := &queries{}
	sb := open(t, srv, daytona.PageSize(2), daytona.WithHTTPClient(&http.Client{Transport: q}))
	srv.Requests.Reset()
	got := map[string]sandagent.Info{}
	for info, err := range sb.Managed(ctx) {
		require.NoError(t, err)
		require.NotContains(t, got, info.ID, "each sandbox once")
		got[info.ID] = info
	}
	require.Len(t, got, 5, "the unmanaged one is left out")
	require.Equal(t, []string{"GET /api/sandbox", "GET /api/sandbox", "GET /api/sandbox"}, srv.Requests.Requests(), "5 sandboxes, 2 a page")
	require.Len(t, q.got, 3)
	for i, v := range q.got {
		require.Equal(t, `{"sandagent.managed":"true"}`, v.Get("labels"))
		require.Equal(t, "true", v.Get("includeErroredDeleted"))
		require.Equal(t, "2", v.Get("limit"))
		require.Equal(t, i > 0, v.Has("cursor"), "page %d", i)
	}

	o := got[old.ID()]
	require.Equal(t, "daytona", o.Provider)
	require.Equal(t, "old", o.Name)
	require.Equal(t, sandagent.StateStopped, o.State, "auto-stopped after 15 idle minutes")
	require.WithinDuration(t, start.Add(-2*time.Hour), o.CreatedAt, time.Millisecond)
	require.NotEmpty(t, o.Labels[sandagent.AttachLabel], "the creating Attach's token")
	delete(o.Labels, sandagent.AttachLabel)
	require.Equal(t, map[string]string{"sandagent.managed": "true", "sandagent.name": "old", "env": "ci", "code-toolbox-language": "python"}, o.Labels)
	require.Equal(t, sandagent.StateRunning, got[young.ID()].State)
	require.Equal(t, sandagent.StateStopped, got[stopped.ID()].State)
	require.Equal(t, sandagent.StateArchived, got[archived.ID()].State)

	dry, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{Labels: map[string]string{"env": "ci"}})
	require.NoError(t, err)
	require.Len(t, dry, 2, "a dry run picks both ci sandboxes")
	require.Equal(t, "started", srv.State(young.ID()), "and destroys nothing")

	reaped, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{Labels: map[string]string{"env": "ci"}, OlderThan: time.Hour, Apply: true})
	require.NoError(t, err)
	require.Len(t, reaped, 1)
	require.Equal(t, old.ID(), reaped[0].ID)
	require.NotContains(t, srv.Sandboxes(), old.ID())
	require.Equal(t, "started", srv.State(young.ID()), "younger ones are left alone")
	require.Equal(t, "started", srv.State(prod.ID()), "other labels are left alone")
	require.Equal(t, "started", srv.State("theirs"))

	srv.Requests.Reset()
	require.NoError(t, sb.Kill(ctx, old.ID()), "killing one being destroyed is fine")
	require.Equal(t, []string{"DELETE /api/sandbox/" + old.ID(), "GET /api/sandbox/" + old.ID()}, srv.Requests.Requests(), "a 409, then a look")
	srv.Clock.Advance(time.Minute)
	srv.Requests.Reset()
	require.NoError(t, sb.Kill(ctx, old.ID()), "and one already gone")
	require.Equal(t, []string{"DELETE /api/sandbox/" + old.ID()}, srv.Requests.Requests())
	require.ErrorIs(t, sb.Kill(ctx, ""), sandagent.ErrInvalid)

	again := attach(t, open(t, srv, daytona.WithName("old")))
	require.Equal(t, sandagent.Created, again.Outcome(), "the name was released")
}

func TestManagedFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   error
	}{{http.StatusUnauthorized, sandagent.ErrAuth}, {http.StatusServiceUnavailable, nil}} {
		srv := newServer(t)
		h := attach(t, open(t, srv))
		attach(t, open(t, srv))
		sb := open(t, srv, daytona.PageSize(1))
		// The second page fails: the listing ends with the error.
		var ids []string
		var errs []error
		srv.Requests.Reset()
		for info, err := range sb.Managed(t.Context()) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ids = append(ids, info.ID)
			srv.Faults.Add(emu.Fault{Method: http.MethodGet, Path: "/api/sandbox", Status: tc.status, Times: 10})
		}
		require.Len(t, ids, 1)
		require.Len(t, errs, 1)
		var se *sandagent.Error
		require.ErrorAs(t, errs[0], &se)
		require.Equal(t, tc.status, se.Status)
		require.NotErrorIs(t, errs[0], sandagent.ErrNotFound)
		if tc.kind != nil {
			require.ErrorIs(t, errs[0], tc.kind)
		}

		srv.Faults.Clear()
		srv.Faults.Add(emu.Fault{Method: http.MethodGet, Path: "/api/sandbox", Status: tc.status, Times: 10})
		reaped, err := sandagent.Reap(t.Context(), sb, sandagent.ReapOptions{Apply: true})
		require.Error(t, err)
		require.Empty(t, reaped)
		require.Equal(t, 0, srv.Requests.Count(http.MethodDelete, ""))
		require.Equal(t, "started", srv.State(h.ID()))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, err := range open(t, newServer(t)).Managed(ctx) {
		require.ErrorIs(t, err, context.Canceled)
	}
}

func TestKillFailsClosed(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	srv.Faults.Add(emu.Fault{Method: http.MethodDelete, Path: "/api/sandbox/", Status: http.StatusForbidden})
	err := open(t, srv).Kill(t.Context(), h.ID())
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.Equal(t, "started", srv.State(h.ID()))
}

func TestFromURLWithoutNameManages(t *testing.T) {
	srv := newServer(t)
	t.Setenv("DAYTONA_API_KEY", srv.APIKey())
	t.Setenv("DAYTONA_API_URL", srv.URL)
	h := attach(t, open(t, srv))
	sb, err := sandagent.FromURL("daytona://")
	require.NoError(t, err)
	m, ok := sb.(sandagent.Manager)
	require.True(t, ok)
	var ids []string
	for info, err := range m.Managed(t.Context()) {
		require.NoError(t, err)
		ids = append(ids, info.ID)
	}
	require.Equal(t, []string{h.ID()}, ids)
}
