//go:build unix

package daytona_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/internal/emu"
)

func attach(t *testing.T, sb *daytona.Sandbox) *sandagent.Handle {
	t.Helper()
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestAttachEveryState(t *testing.T) {
	for _, tc := range []struct {
		state, then string
		recoverable bool
		want        sandagent.Outcome
		wantErr     error
	}{
		{state: "started", want: sandagent.Reused},
		{state: "stopped", want: sandagent.Started},
		{state: "archived", want: sandagent.Started},
		{state: "stopping", then: "stopped", want: sandagent.Started},
		{state: "archiving", then: "archived", want: sandagent.Started},
		{state: "starting", then: "started", want: sandagent.Started},
		{state: "restoring", then: "started", want: sandagent.Started},
		{state: "creating", then: "started", want: sandagent.Reused},
		{state: "pending_build", then: "started", want: sandagent.Reused},
		{state: "pulling_snapshot", then: "started", want: sandagent.Reused},
		{state: "error", recoverable: true, want: sandagent.Started},
		{state: "error", wantErr: sandagent.ErrState},
		{state: "build_failed", wantErr: sandagent.ErrState},
		{state: "destroyed", want: sandagent.Created},
	} {
		t.Run(tc.state+tc.then+map[bool]string{true: "-recoverable"}[tc.recoverable], func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			sb := open(t, srv, daytona.WithName("proj"))
			first := attach(t, sb)
			require.NoError(t, first.WriteFile(t.Context(), "kept.txt", []byte("kept")))
			if tc.state == "error" {
				srv.SetError("proj", "runner lost", tc.recoverable)
			} else {
				require.True(t, srv.SetState("proj", tc.state, tc.then))
			}
			h, err := sb.Attach(t.Context())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Contains(t, err.Error(), tc.state)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, h.Outcome())
			require.Equal(t, "started", srv.State("proj"))
			if tc.want == sandagent.Created {
				require.NotEqual(t, first.ID(), h.ID())
				return
			}
			require.Equal(t, first.ID(), h.ID())
			got, err := h.ReadFile(t.Context(), "kept.txt")
			require.NoError(t, err)
			require.Equal(t, "kept", string(got))
		})
	}
}

func TestVolumePersistsAcrossStopAndRecreate(t *testing.T) {
	srv := newServer(t)
	sb := open(t, srv, daytona.WithName("proj"), daytona.WithVolume("proj-vol", ""))
	ctx := t.Context()

	h := attach(t, sb)
	require.Equal(t, sandagent.Created, h.Outcome())
	require.Equal(t, []sandagent.Volume{{Name: "proj-vol", MountPath: daytona.DefaultMountPath}}, h.Volumes())
	// The volume was pending_create and was waited on: 1 lookup (404), the
	// create, then 2 reads until ready.
	require.Equal(t, 3, srv.Requests.Count("GET", "/api/volumes/by-name/proj-vol"))
	require.Equal(t, 1, srv.Requests.Count("POST", "/api/volumes"))
	// The volume is at /home/daytona/volume: "volume" in the home, the
	// working directory.
	require.NoError(t, h.WriteFile(ctx, "volume/notes/a.txt", []byte("across stop")))

	require.NoError(t, h.Stop(ctx))
	h2 := attach(t, sb)
	require.Equal(t, sandagent.Started, h2.Outcome())
	got, err := h2.ReadFile(ctx, "volume/notes/a.txt")
	require.NoError(t, err)
	require.Equal(t, "across stop", string(got))

	require.NoError(t, h2.Destroy(ctx))
	h3 := attach(t, sb)
	require.Equal(t, sandagent.Created, h3.Outcome())
	require.NotEqual(t, h2.ID(), h3.ID())
	res, err := h3.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "volume/notes/a.txt"}})
	require.NoError(t, err)
	require.Equal(t, "across stop", string(res.Stdout), "a new sandbox with the volume sees the files")
	require.Equal(t, 1, srv.Requests.Count("POST", "/api/volumes"), "the volume is found by name, not created again")
}

func TestAutoStopAfterIdle(t *testing.T) {
	srv := newServer(t)
	srv.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sb := open(t, srv, daytona.WithName("idle"), daytona.WithAutoStop(10*time.Minute))
	h := attach(t, sb)
	srv.Clock.Advance(9 * time.Minute)
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "true"}) // activity
	require.NoError(t, err)
	srv.Clock.Advance(9 * time.Minute)
	require.Equal(t, "started", srv.State("idle"), "activity restarted the idle clock")
	srv.Clock.Advance(2 * time.Minute)
	require.Equal(t, "stopped", srv.State("idle"))
	st, err := h.State(t.Context())
	require.NoError(t, err)
	require.Equal(t, sandagent.StateStopped, st)
	_, err = h.Exec(t.Context(), &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)

	h2 := attach(t, sb)
	require.Equal(t, sandagent.Started, h2.Outcome())
	require.Equal(t, h.ID(), h2.ID())
}

func TestAutoDeleteOnStop(t *testing.T) {
	srv := newServer(t)
	srv.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := attach(t, open(t, srv, daytona.WithName("eph"), daytona.WithAutoDelete(0), daytona.WithAutoStop(time.Minute)))
	srv.Clock.Advance(time.Minute)
	require.Equal(t, "", srv.State("eph"), "auto-delete 0 deletes on stop")
	h2 := attach(t, open(t, srv, daytona.WithName("eph")))
	require.Equal(t, sandagent.Created, h2.Outcome())
	require.NotEqual(t, h.ID(), h2.ID())
}

func TestConflictOnCreateAdoptsTheWinner(t *testing.T) {
	srv := newServer(t)
	winner := attach(t, open(t, srv, daytona.WithName("race")))
	srv.Requests.Reset()
	// The lookup misses the winner (as if it created a moment later): the
	// create then meets 409 and adopts.
	srv.Faults.FailNext(1, "/api/sandbox/race", 404)
	h := attach(t, open(t, srv, daytona.WithName("race")))
	require.Equal(t, winner.ID(), h.ID())
	require.Equal(t, sandagent.Reused, h.Outcome())
	require.Equal(t, []string{"GET /api/sandbox/race", "POST /api/sandbox", "GET /api/sandbox/race"}, srv.Requests.Requests())
	require.Len(t, srv.Sandboxes(), 1)
}

func TestLookupFailsClosed(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		status int
		kind   error
		tries  int
	}{{503, nil, 4}, {429, sandagent.ErrRateLimited, 4}, {500, nil, 1}, {403, sandagent.ErrAuth, 1}} {
		srv.Requests.Reset()
		srv.Faults.FailNext(tc.tries, "/api/sandbox/closed", tc.status)
		_, err := open(t, srv, daytona.WithName("closed")).Attach(t.Context())
		require.Error(t, err)
		if tc.kind != nil {
			require.ErrorIs(t, err, tc.kind)
		}
		require.Equal(t, 0, srv.Requests.Count("POST", "/api/sandbox"), "status %d must not lead to a create", tc.status)
		require.Equal(t, tc.tries, srv.Requests.Count("GET", "/api/sandbox/closed"), "idempotent lookups are retried on 429/503 only")
	}
	_, err := open(t, srv, daytona.WithName("closed"), daytona.WithAPIKey("dtn_wrong_secret_key")).Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.NotContains(t, err.Error(), "dtn_wrong_secret_key")
	require.Empty(t, srv.Sandboxes())
}

func TestFailedAttachDeletesOnlyWhatItCreated(t *testing.T) {
	srv := newServer(t)
	// An image build is pending; the first poll fails: Attach deletes the
	// sandbox it created.
	srv.Faults.Add(emu.Fault{Method: "GET", Path: "/api/sandbox/built", Status: 404}) // the lookup: absent
	srv.Faults.Add(emu.Fault{Method: "GET", Path: "/api/sandbox/", Status: 500})      // the first poll
	_, err := open(t, srv, daytona.WithName("built"), daytona.WithImage("python:3.12")).Attach(t.Context())
	require.Error(t, err)
	require.Equal(t, 1, srv.Requests.Count("DELETE", "/api/sandbox/"))
	require.Empty(t, srv.Sandboxes())

	// A reused sandbox is never deleted by a failed Attach.
	h := attach(t, open(t, srv, daytona.WithName("kept")))
	srv.SetState("kept", "starting", "build_failed")
	srv.SetState("kept", "build_failed", "")
	_, err = open(t, srv, daytona.WithName("kept")).Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrState)
	require.Contains(t, srv.Sandboxes(), h.ID())
}

func TestRequestCounts(t *testing.T) {
	srv := newServer(t)
	ctx := t.Context()
	sb := open(t, srv, daytona.WithName("count"))
	h := attach(t, sb)
	require.Equal(t, []string{"GET /api/sandbox/count", "POST /api/sandbox"}, srv.Requests.Requests(), "create")

	for _, tc := range []struct {
		name string
		do   func()
		want []string
	}{
		{"reuse", func() { attach(t, sb) }, []string{"GET /api/sandbox/count"}},
		{"first exec: a session, then one request", func() {
			_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo hi"})
			require.NoError(t, err)
		}, []string{"POST /toolbox/" + h.ID() + "/process/session", "POST /toolbox/" + h.ID() + "/process/session/"}},
		{"exec: one request", func() {
			_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo hi"})
			require.NoError(t, err)
		}, []string{"POST /toolbox/" + h.ID() + "/process/session/"}},
		{"write", func() { require.NoError(t, h.WriteFile(ctx, "f", []byte("x"))) }, []string{"GET /toolbox/" + h.ID() + "/work-dir", "POST /toolbox/" + h.ID() + "/files/bulk-upload"}},
		{"write-again", func() { require.NoError(t, h.WriteFile(ctx, "f", []byte("x"))) }, []string{"POST /toolbox/" + h.ID() + "/files/bulk-upload"}},
		{"read", func() {
			_, err := h.ReadFile(ctx, "f")
			require.NoError(t, err)
		}, []string{"GET /toolbox/" + h.ID() + "/files/download"}},
		{"stop", func() { require.NoError(t, h.Stop(ctx)) }, []string{"POST /api/sandbox/" + h.ID() + "/stop", "GET /api/sandbox/" + h.ID(), "GET /api/sandbox/" + h.ID()}},
		{"start-on-attach", func() {
			require.Equal(t, sandagent.Started, attach(t, sb).Outcome())
		}, []string{"GET /api/sandbox/count", "POST /api/sandbox/" + h.ID() + "/start", "GET /api/sandbox/" + h.ID(), "GET /api/sandbox/" + h.ID()}},
	} {
		srv.Requests.Reset()
		tc.do()
		got := srv.Requests.Requests()
		require.Len(t, got, len(tc.want), "%s: %v", tc.name, got)
		for i := range got {
			require.True(t, strings.HasPrefix(got[i], tc.want[i]), "%s: request %d is %s, want %s", tc.name, i, got[i], tc.want[i])
		}
	}
}

func TestControl(t *testing.T) {
	srv := newServer(t)
	ctx := t.Context()
	sb := open(t, srv, daytona.WithName("ctl"), daytona.WithLabels(map[string]string{"team": "a"}))
	h := attach(t, sb)
	labels := srv.Labels("ctl")
	require.NotEmpty(t, labels[sandagent.AttachLabel], "the creating Attach's token")
	delete(labels, sandagent.AttachLabel)
	require.Equal(t, map[string]string{"sandagent.managed": "true", "sandagent.name": "ctl", "team": "a", "code-toolbox-language": "python"}, labels)
	var ctl *daytona.Control
	require.True(t, h.As(&ctl))
	require.NoError(t, ctl.SetLabels(ctx, map[string]string{"team": "b"}))
	require.Equal(t, map[string]string{"sandagent.managed": "true", "sandagent.name": "ctl", "team": "b"}, srv.Labels("ctl"))
	require.NoError(t, ctl.Resize(ctx, daytona.Resources{CPU: 2, Memory: 4}))
	require.NoError(t, ctl.SetAutoArchive(ctx, time.Hour))
	require.NoError(t, ctl.SetAutoDelete(ctx, -1))
	require.NoError(t, ctl.Restart(ctx))
	require.NoError(t, ctl.Stop(ctx))
	require.NoError(t, ctl.Archive(ctx))
	st, err := ctl.State(ctx)
	require.NoError(t, err)
	require.EqualValues(t, "archived", st)
	info, err := ctl.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.Cpu)
	h2 := attach(t, sb)
	require.Equal(t, sandagent.Started, h2.Outcome())
	require.NoError(t, ctl.Start(context.Background()))
}

func TestOpenURL(t *testing.T) {
	srv := newServer(t)
	t.Setenv("DAYTONA_API_KEY", srv.APIKey())
	t.Setenv("DAYTONA_API_URL", srv.URL)
	h, err := sandagent.Open(t.Context(), "daytona://via-url?volume=via-url-vol:/home/daytona/data&autostop=15m")
	require.NoError(t, err)
	require.Equal(t, "via-url", h.Name())
	require.Equal(t, []sandagent.Volume{{Name: "via-url-vol", MountPath: "/home/daytona/data"}}, h.Volumes())
	_, err = sandagent.Open(t.Context(), "daytona://x?volume=v&colour=blue")
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.Contains(t, err.Error(), "colour")
}

func TestOptionsValidate(t *testing.T) {
	for _, opts := range [][]daytona.Option{
		{daytona.WithAPIKey("k"), daytona.WithResources(daytona.Resources{CPU: 2})},
		{daytona.WithAPIKey("k"), daytona.WithVolume("v", "/proc/x")},
		{daytona.WithAPIKey("k"), daytona.WithAutoStop(-time.Minute)},
		{daytona.WithAPIKey("k"), daytona.WithLanguage("cobol")},
		{daytona.WithAPIKey("k"), daytona.WithName("a"), daytona.WithID("b")},
		{daytona.WithAPIKey("k"), daytona.WithAPIURL("ftp://x")},
	} {
		_, err := daytona.New(opts...)
		require.ErrorIs(t, err, sandagent.ErrInvalid)
	}
	t.Setenv("DAYTONA_API_KEY", "")
	_, err := daytona.New()
	require.ErrorIs(t, err, sandagent.ErrAuth)
}

var _ = daytonatest.DefaultAPIKey
