//go:build unix

package sandock_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/secrettest"
	"github.com/sandagent/sandagent/sandboxtest"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newServer(t *testing.T, opts ...sandocktest.Option) *sandocktest.Server {
	t.Helper()
	srv := sandocktest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func newSandbox(t *testing.T, srv *sandocktest.Server, opts ...sandock.Option) *sandock.Sandbox {
	t.Helper()
	all := append([]sandock.Option{sandock.WithBaseURL(srv.URL), sandock.WithAPIKey(srv.APIKey())}, opts...)
	sb, err := sandock.New(all...)
	require.NoError(t, err)
	return sb
}

func attach(t *testing.T, srv *sandocktest.Server, opts ...sandock.Option) *sandagent.Handle {
	t.Helper()
	h, err := newSandbox(t, srv, opts...).Attach(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	return h
}

func TestConformance(t *testing.T) {
	for _, mode := range []sandocktest.Mode{sandocktest.Kubernetes, sandocktest.Docker} {
		t.Run(mode.String(), func(t *testing.T) { conformance(t, nil, sandocktest.WithMode(mode)) })
	}
	// The public server has no SSE route: the blocking shell then.
	t.Run("without-stream", func(t *testing.T) {
		conformance(t, map[sandboxtest.Capability]string{
			sandboxtest.LiveOutput: "a server without the SSE route answers a command's output at its end",
		}, sandocktest.WithoutStream())
	})
}

func conformance(t *testing.T, lacks map[sandboxtest.Capability]string, opts ...sandocktest.Option) {
	// Titles in the list, so that the fault suite can count what was made.
	srv := newServer(t, append(opts, sandocktest.WithListTitles())...)
	f := sandboxtest.Factory{
		Faults: srv.Faults,
		New: func(t *testing.T, o sandboxtest.Options) sandagent.Sandbox {
			var opts []sandock.Option
			if o.ID != "" {
				opts = append(opts, sandock.WithID(o.ID))
			}
			if o.Env != nil {
				opts = append(opts, sandock.WithEnv(o.Env))
			}
			return newSandbox(t, srv, opts...)
		},
		Lacks: map[sandboxtest.Capability]string{
			sandboxtest.NameReuse:    "Sandock sandboxes have no names; callers reattach by the stored id (WithID)",
			sandboxtest.Pause:        "Sandock's pause keeps no memory (on Kubernetes it deletes the pod)",
			sandboxtest.SetTimeout:   "activeDeadlineSeconds is set at create only; the API cannot extend it",
			sandboxtest.Stdin:        "the shell API takes stdin only as one string before the command runs, not as a stream",
			sandboxtest.BinaryOutput: "output streams as JSON strings in SSE events: bytes that are not UTF-8 become U+FFFD",
			sandboxtest.Root:         "the emulator still runs its sandboxes in the engine's confined-directory mode",
			sandboxtest.URL:          "not wired in yet: Sandock's preview-url route",
			sandboxtest.PTY:          "not wired in yet: Sandock's PTY websocket",
			sandboxtest.Fork:         "the Sandock API has no fork",
			sandboxtest.Snapshot:     "the Sandock API cannot snapshot a sandbox (its snapshots are prebuilt images)",
			sandboxtest.AttachToken:  "Sandock sandboxes carry no labels or metadata to hold an attach token: a create whose answer is lost cannot be found again",
		},
	}
	maps.Copy(f.Lacks, lacks)
	sandboxtest.Run(t, f)
}

func TestCreateIsOneRequest(t *testing.T) {
	srv := newServer(t)
	sb := newSandbox(t, srv)
	h1, err := sb.Attach(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = h1.Destroy(context.Background()) })
	require.Equal(t, sandagent.Created, h1.Outcome())
	require.True(t, strings.HasPrefix(h1.ID(), "sdb"), h1.ID())
	require.Equal(t, []string{"POST /api/v1/sandbox"}, srv.Requests.Requests(), "create starts the sandbox")
	require.Equal(t, sandocktest.StatusRunning, srv.Status(h1.ID()))

	h2, err := sb.Attach(t.Context())
	require.NoError(t, err, "without an id every Attach creates")
	t.Cleanup(func() { _ = h2.Destroy(context.Background()) })
	require.Equal(t, sandagent.Created, h2.Outcome())
	require.NotEqual(t, h1.ID(), h2.ID())
	require.Equal(t, 2, srv.Requests.Total())
}

func TestReattachRunningIsOneRequest(t *testing.T) {
	srv := newServer(t)
	h1 := attach(t, srv)
	require.NoError(t, h1.WriteFile(t.Context(), "kept.txt", []byte("kept")))
	require.NoError(t, h1.Close())

	srv.Requests.Reset()
	h2 := attach(t, srv, sandock.WithID(h1.ID()))
	require.Equal(t, sandagent.Reused, h2.Outcome())
	require.Equal(t, h1.ID(), h2.ID())
	require.Equal(t, []string{"GET /api/v1/sandbox"}, srv.Requests.Requests(), "reattach is one status check")
	got, err := h2.ReadFile(t.Context(), "kept.txt")
	require.NoError(t, err)
	require.Equal(t, "kept", string(got))
}

// rest returns the handle's REST client, for routes the Handle does not
// wrap.
func rest(t *testing.T, h *sandagent.Handle) *resty.Client {
	var rc *resty.Client
	require.True(t, h.As(&rc))
	return rc
}

// TestNotRunningIsReplaced covers every way a stored id stops being usable:
// each gives a new sandbox with a new id, in which the volume's files are
// still there, and the old sandbox is not restarted.
func TestNotRunningIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		name      string
		make      func(t *testing.T, srv *sandocktest.Server, h *sandagent.Handle)
		oldStatus string
	}{
		{"stopped", func(t *testing.T, _ *sandocktest.Server, h *sandagent.Handle) {
			require.NoError(t, h.Stop(t.Context()))
		}, sandocktest.StatusStopped},
		{"paused", func(t *testing.T, _ *sandocktest.Server, h *sandagent.Handle) {
			resp, err := rest(t, h).R().SetContext(t.Context()).Post("/api/v1/sandbox/" + h.ID() + "/pause")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode())
		}, sandocktest.StatusPaused},
		{"deleted", func(t *testing.T, _ *sandocktest.Server, h *sandagent.Handle) {
			require.NoError(t, h.Destroy(t.Context()))
		}, ""},
		{"expired", func(t *testing.T, srv *sandocktest.Server, _ *sandagent.Handle) {
			srv.Clock.Advance(31 * time.Minute) // past the default 1800 s deadline
		}, sandocktest.StatusStopped},
		{"expired-and-auto-deleted", func(t *testing.T, srv *sandocktest.Server, _ *sandagent.Handle) {
			srv.Clock.Advance(31*time.Minute + 24*time.Hour)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sandocktest.WithVolumeDelay(0))
			srv.Clock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			vol := sandock.WithVolume("work-"+tc.name, "/sandbox/data")
			h1 := attach(t, srv, vol)
			require.NoError(t, h1.WriteFile(t.Context(), "data/notes.txt", []byte("on the volume")))
			require.NoError(t, h1.WriteFile(t.Context(), "scratch.txt", []byte("in the sandbox")))
			tc.make(t, srv, h1)

			srv.Requests.Reset()
			h2 := attach(t, srv, sandock.WithID(h1.ID()), vol)
			require.Equal(t, sandagent.Created, h2.Outcome())
			require.NotEqual(t, h1.ID(), h2.ID())
			require.Equal(t, []string{
				"GET /api/v1/sandbox",
				"GET /api/v1/volume/name/work-" + tc.name,
				"POST /api/v1/sandbox",
			}, srv.Requests.Requests())
			require.Equal(t, tc.oldStatus, srv.Status(h1.ID()), "the old sandbox is not restarted")

			got, err := h2.ReadFile(t.Context(), "data/notes.txt")
			require.NoError(t, err)
			require.Equal(t, "on the volume", string(got))
			_, err = h2.ReadFile(t.Context(), "scratch.txt")
			require.ErrorIs(t, err, sandagent.ErrNotFound, "a new sandbox: only the volume's files carry over")
			require.Equal(t, []sandagent.Volume{{Name: "work-" + tc.name, MountPath: "/sandbox/data"}}, h2.Volumes())
		})
	}
}

func TestUnknownIDIsReplaced(t *testing.T) {
	srv := newServer(t)
	sb := newSandbox(t, srv, sandock.WithID("sdbNoSuchSandbox"))
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	require.Equal(t, sandagent.Created, h.Outcome())
	require.Equal(t, []string{"GET /api/v1/sandbox", "POST /api/v1/sandbox"}, srv.Requests.Requests())

	// The Sandbox now follows the replacement.
	srv.Requests.Reset()
	h2, err := sb.Attach(t.Context())
	require.NoError(t, err)
	require.Equal(t, sandagent.Reused, h2.Outcome())
	require.Equal(t, h.ID(), h2.ID())
	require.Equal(t, []string{"GET /api/v1/sandbox"}, srv.Requests.Requests())
}

// TestRestartStopped: with WithRestartStopped a stopped or paused sandbox
// is started under its id (Outcome Started), and, as Sandock does, holds
// only what its volumes held.
func TestRestartStopped(t *testing.T) {
	for _, mode := range []sandocktest.Mode{sandocktest.Kubernetes, sandocktest.Docker} {
		for _, how := range []string{"stop", "pause"} {
			t.Run(mode.String()+"/"+how, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, sandocktest.WithMode(mode), sandocktest.WithVolumeDelay(0))
				vol := sandock.WithVolume("v-"+how, "/sandbox/data")
				h1 := attach(t, srv, vol)
				require.NoError(t, h1.WriteFile(t.Context(), "data/kept.txt", []byte("kept")))
				require.NoError(t, h1.WriteFile(t.Context(), "lost.txt", []byte("lost")))
				if how == "stop" {
					require.NoError(t, h1.Stop(t.Context()))
				} else {
					_, err := rest(t, h1).R().SetContext(t.Context()).Post("/api/v1/sandbox/" + h1.ID() + "/pause")
					require.NoError(t, err)
				}

				srv.Requests.Reset()
				h2 := attach(t, srv, sandock.WithID(h1.ID()), sandock.WithRestartStopped(), vol)
				require.Equal(t, sandagent.Started, h2.Outcome())
				require.Equal(t, h1.ID(), h2.ID())
				require.Equal(t, []string{"GET /api/v1/sandbox", "GET /api/v1/volume/name/v-" + how, "POST /api/v1/sandbox/" + h1.ID() + "/start"}, srv.Requests.Requests())
				got, err := h2.ReadFile(t.Context(), "data/kept.txt")
				require.NoError(t, err)
				require.Equal(t, "kept", string(got))
				_, err = h2.ReadFile(t.Context(), "lost.txt")
				if mode == sandocktest.Docker && how == "pause" {
					require.NoError(t, err, "Docker's pause leaves the container as it was")
				} else {
					require.ErrorIs(t, err, sandagent.ErrNotFound, "only the volume's files survive")
				}
			})
		}
	}
}

// TestStatusCheckFailsClosed: an unanswered status check is an error, and
// nothing is created.
func TestStatusCheckFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		kind   error
	}{
		{"503", http.StatusServiceUnavailable, nil},
		{"500", http.StatusInternalServerError, nil},
		{"429", http.StatusTooManyRequests, sandagent.ErrRateLimited},
		{"401", http.StatusUnauthorized, sandagent.ErrAuth},
		{"403", http.StatusForbidden, sandagent.ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			h := attach(t, srv)
			srv.Requests.Reset()
			srv.Faults.Add(emu.Fault{Method: http.MethodGet, Path: "/api/v1/sandbox", Times: 10, Status: tc.status})
			_, err := newSandbox(t, srv, sandock.WithID(h.ID()), sandock.WithRetries(1)).Attach(t.Context())
			require.Error(t, err)
			require.NotErrorIs(t, err, sandagent.ErrNotFound)
			if tc.kind != nil {
				require.ErrorIs(t, err, tc.kind)
			}
			var se *sandagent.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.status, se.Status)
			for _, r := range srv.Requests.Requests() {
				require.True(t, strings.HasPrefix(r, "GET /api/v1/sandbox"), "only status checks, no create: %v", srv.Requests.Requests())
			}
			require.Equal(t, sandocktest.StatusRunning, srv.Status(h.ID()))
		})
	}

	t.Run("network", func(t *testing.T) {
		srv := newServer(t)
		url := srv.URL
		srv.Close()
		sb, err := sandock.New(sandock.WithBaseURL(url), sandock.WithAPIKey("k-network"), sandock.WithID("sdbGone"), sandock.WithRetries(0))
		require.NoError(t, err)
		_, err = sb.Attach(t.Context())
		require.Error(t, err)
		require.NotErrorIs(t, err, sandagent.ErrNotFound)
	})

	t.Run("a transient 503 is retried", func(t *testing.T) {
		srv := newServer(t)
		h := attach(t, srv)
		srv.Requests.Reset()
		srv.Faults.FailNext(1, "/api/v1/sandbox", http.StatusServiceUnavailable)
		h2 := attach(t, srv, sandock.WithID(h.ID()))
		require.Equal(t, sandagent.Reused, h2.Outcome())
		require.Equal(t, []string{"GET /api/v1/sandbox", "GET /api/v1/sandbox"}, srv.Requests.Requests())
	})
}

func TestCreateIsNeverRetried(t *testing.T) {
	srv := newServer(t)
	srv.Faults.Add(emu.Fault{Method: http.MethodPost, Path: "/api/v1/sandbox", Times: 3, Status: http.StatusServiceUnavailable})
	_, err := newSandbox(t, srv).Attach(t.Context())
	require.Error(t, err)
	require.Equal(t, []string{"POST /api/v1/sandbox"}, srv.Requests.Requests())
}

func TestVolumeWaitFollowsTheClock(t *testing.T) {
	srv := newServer(t, sandocktest.WithVolumeDelay(time.Minute))
	srv.Clock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sb := newSandbox(t, srv, sandock.WithVolume("slow", "/workspace/slow"))
	type result struct {
		h   *sandagent.Handle
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, err := sb.Attach(t.Context())
		done <- result{h, err}
	}()
	// The volume stays pending_create, however often it is polled, until
	// the emulator's clock passes its delay.
	require.Eventually(t, func() bool { return srv.Requests.Count(http.MethodGet, "/api/v1/volume/") >= 3 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, srv.Requests.Count(http.MethodPost, "/api/v1/sandbox"), "no sandbox before the volume is ready")
	srv.Clock.Advance(time.Minute)
	r := <-done
	require.NoError(t, r.err)
	t.Cleanup(func() { _ = r.h.Destroy(context.Background()) })
	require.Equal(t, sandagent.Created, r.h.Outcome())
	reqs := srv.Requests.Requests()
	require.Equal(t, "GET /api/v1/volume/name/slow", reqs[0])
	for _, p := range reqs[1 : len(reqs)-1] {
		require.True(t, strings.HasPrefix(p, "GET /api/v1/volume/vol"), "polls by id: %v", reqs)
	}
	require.Equal(t, "POST /api/v1/sandbox", reqs[len(reqs)-1])
}

func TestVolumeWaitIsBounded(t *testing.T) {
	srv := newServer(t, sandocktest.WithVolumeDelay(time.Hour))
	srv.Clock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	_, err := newSandbox(t, srv, sandock.WithVolume("never", "/workspace/never"), sandock.WithVolumeTimeout(250*time.Millisecond)).Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrTimeout)
	require.Zero(t, srv.Requests.Count(http.MethodPost, ""), "nothing created")

	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	_, err = newSandbox(t, srv, sandock.WithVolume("never", "/workspace/never")).Attach(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the wait ends with the ctx")
}

func TestSecretsStayOut(t *testing.T) {
	const secret = "sk-live-VERY-SECRET-123456"
	var rec secrettest.Recorder
	logger := rec.Logger()
	ctx := t.Context()
	try := rec.Try

	// A service that echoes the key in its error message; the emulator,
	// which rejects it; a refused connection.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"success":false,"code":400,"message":"bad request from `+r.Header.Get("Authorization")+`"}`)
	}))
	defer echo.Close()
	srv := newServer(t, sandocktest.WithListTitles())
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, base := range []string{srv.URL, echo.URL, closed.URL} {
		sb, err := sandock.New(sandock.WithBaseURL(base), sandock.WithAPIKey(secret), sandock.WithID("sdbX"), sandock.WithLogger(logger), sandock.WithRetries(0))
		require.NoError(t, err)
		try(func() error { _, err := sb.Attach(ctx); return err })
	}

	// Every failure on every operation of a handle with the right key.
	key := srv.APIKey()
	sb := newSandbox(t, srv, sandock.WithLogger(logger), sandock.WithRetries(0))
	h, err := sb.Attach(ctx)
	require.NoError(t, err)
	byID := newSandbox(t, srv, sandock.WithID(h.ID()), sandock.WithLogger(logger), sandock.WithRetries(0))
	echoed := `{"success":false,"code":%d,"message":"bad key Bearer ` + key + `"}`
	for _, f := range []emu.Fault{
		{Status: http.StatusUnauthorized}, {Status: http.StatusForbidden}, {Status: http.StatusTooManyRequests},
		{Status: http.StatusInternalServerError}, {Status: http.StatusOK, Body: "{not json"},
		{Status: http.StatusOK, Body: "<html>" + key + "</html>"},
		{Status: http.StatusUnauthorized, Body: fmt.Sprintf(echoed, 401)},
		{Status: http.StatusInternalServerError, Body: fmt.Sprintf(echoed, 500)},
		{Status: http.StatusOK, Body: fmt.Sprintf(echoed, 500)},
	} {
		f.Times = 1000
		srv.Faults.Add(f)
		try(func() error { _, err := sb.Attach(ctx); return err })
		try(func() error { _, err := byID.Attach(ctx); return err })
		try(func() error { _, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"}); return err })
		try(func() error { _, err := h.ReadFile(ctx, "a"); return err })
		try(func() error { return h.WriteFile(ctx, "a", []byte("a")) })
		try(func() error { _, err := h.State(ctx); return err })
		try(func() error { return sb.Kill(ctx, h.ID()) })
		for _, err := range sb.Managed(ctx) {
			try(func() error { return err })
		}
		srv.Faults.Clear()
	}
	require.NoError(t, h.Destroy(ctx))

	require.Greater(t, len(rec.Errors()), 50, "the error paths were taken")
	require.Contains(t, fmt.Sprint(rec.Errors()), "[REDACTED]", "the echoes reached errors, redacted")
	require.NotEmpty(t, rec.Log())
	rec.Check(t, secret, key)
}

// tagPattern finds the record tag in a wrapped command line.
var tagPattern = regexp.MustCompile(`T='?(sandagent-[0-9a-f]+:)`)

// fakeService answers create and start, and streams canned SSE bodies, in
// which {T} stands for the command's record tag.
func fakeService(t *testing.T, stream string) *sandock.Sandbox {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tag := ""
		if m := tagPattern.FindSubmatch(body); m != nil {
			tag = string(m[1])
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/sandbox":
			_, _ = io.WriteString(w, `{"success":true,"code":200,"message":"SUCCESS","data":{"id":"sdbFake"}}`)
		case strings.HasSuffix(r.URL.Path, "/start"):
			_, _ = io.WriteString(w, `{"success":true,"code":200,"message":"SUCCESS","data":{"id":"sdbFake","started":true}}`)
		case strings.HasSuffix(r.URL.Path, "/shell/stream"):
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, strings.ReplaceAll(stream, "{T}", tag))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(ts.Close)
	sb, err := sandock.New(sandock.WithBaseURL(ts.URL), sandock.WithAPIKey("k-fake"))
	require.NoError(t, err)
	return sb
}

func TestStreamEvents(t *testing.T) {
	run := func(t *testing.T, stream string) (*sandagent.Result, string, string, error) {
		h, err := fakeService(t, stream).Attach(t.Context())
		require.NoError(t, err)
		var out, errb bytes.Buffer
		res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "x", Stdout: &out, Stderr: &errb})
		return res, out.String(), errb.String(), err
	}
	t.Run("framing", func(t *testing.T) {
		res, out, errs, err := run(t, ": keep-alive\n\n"+
			"data: {\"type\":\"stderr\",\"data\":\"{T}pid=42;wa\"}\n\n"+
			"data:{\"type\":\"stdout\",\"data\":\"a\"}\r\n\r\n"+
			"event: message\ndata: {\"type\":\"stdout\",\"data\":\"b\\u0000\"}\n\n"+
			"data: {\"type\":\"stderr\",\"data\":\"rn\\n{T}ex\"}\n\n"+
			"data: {\"type\":\"stderr\",\"data\":\"it=3;\"}\n\n"+
			"data: {\"type\":\"exit\",\"exitCode\":1,\"timedOut\":false,\"durationMs\":5}\n\n"+
			"data: [DONE]\n\n"+
			"data: {\"type\":\"stdout\",\"data\":\"after DONE\"}\n\n")
		var ee *sandagent.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, res.ExitCode)
		require.Equal(t, "ab\x00", out)
		require.Equal(t, "warn\n", errs, "the records are removed, wherever they are cut")
	})
	t.Run("error event", func(t *testing.T) {
		_, _, _, err := run(t, "data: {\"type\":\"error\",\"message\":\"spawn failed: boom\"}\n\ndata: [DONE]\n\n")
		require.ErrorContains(t, err, "spawn failed: boom")
	})
	t.Run("no exit record", func(t *testing.T) {
		_, _, _, err := run(t, "data: {\"type\":\"exit\",\"exitCode\":1,\"timedOut\":false,\"durationMs\":5}\n\ndata: [DONE]\n\n")
		require.ErrorContains(t, err, "without reporting its exit status", "the service's 0 or 1 is not an exit code")
	})
	t.Run("watcher timeout", func(t *testing.T) {
		_, _, _, err := run(t, "data: {\"type\":\"stderr\",\"data\":\"{T}timeout;{T}exit=137;\"}\n\ndata: {\"type\":\"exit\",\"exitCode\":1}\n\ndata: [DONE]\n\n")
		require.ErrorIs(t, err, sandagent.ErrTimeout)
	})
	t.Run("server timeout", func(t *testing.T) {
		_, _, _, err := run(t, "data: {\"type\":\"exit\",\"exitCode\":null,\"timedOut\":true,\"durationMs\":30000}\n\ndata: [DONE]\n\n")
		require.ErrorIs(t, err, sandagent.ErrTimeout)
	})
	t.Run("cut stream", func(t *testing.T) {
		_, out, _, err := run(t, "data: {\"type\":\"stdout\",\"data\":\"partial\"}\n\n")
		require.ErrorContains(t, err, "ended before the command's exit")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a dropped stream, as on every provider")
		require.NotErrorIs(t, err, sandagent.ErrInvalid)
		require.Equal(t, "partial", out)
	})
}

func TestCreateRequestBody(t *testing.T) {
	var body []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/sandbox":
			body, _ = io.ReadAll(r.Body)
			_, _ = io.WriteString(w, `{"success":true,"code":200,"message":"SUCCESS","data":{"id":"sdbFake"}}`)
		default:
			_, _ = io.WriteString(w, `{"success":true,"code":200,"message":"SUCCESS","data":{"id":"sdbFake","started":true}}`)
		}
	}))
	defer ts.Close()
	sb, err := sandock.New(sandock.WithBaseURL(ts.URL), sandock.WithAPIKey("k-fake"),
		sandock.WithImage("node:22"), sandock.WithMemory(2048), sandock.WithCPU(512), sandock.WithTitle("mine"),
		sandock.WithEnv(map[string]string{"A": "1"}), sandock.WithActiveDeadline(2*time.Hour))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.NoError(t, err)
	require.JSONEq(t, `{"image":"node:22","title":"mine","env":{"A":"1"},"memoryLimitMb":2048,"cpuShares":512,"activeDeadlineSeconds":7200,"command":["sleep","7200"]}`, string(body))

	// The defaults are explicit: the deadline, and a keep-alive as long.
	sb, err = sandock.New(sandock.WithBaseURL(ts.URL), sandock.WithAPIKey("k-fake"))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.NoError(t, err)
	require.JSONEq(t, `{"image":"sandockai/sandock-code:latest","title":"sandagent","activeDeadlineSeconds":1800,"command":["sleep","1800"]}`, string(body))
}

func TestWrapperFailureOn2xx(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"success":false,"code":429,"message":"quota exceeded","data":null}`)
	}))
	defer ts.Close()
	sb, err := sandock.New(sandock.WithBaseURL(ts.URL), sandock.WithAPIKey("k-fake"))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrRateLimited)
	require.ErrorContains(t, err, "quota exceeded")
}

func TestOutputIsText(t *testing.T) {
	srv := newServer(t)
	h := attach(t, srv)
	// Documented limit: output travels as JSON strings.
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: `printf 'ok\377é'`})
	require.NoError(t, err)
	require.Equal(t, "ok\uFFFDé", string(res.Stdout))
	// Files are binary-safe.
	bin := []byte{0xff, 0xfe, 0, '\n', 0xc3}
	require.NoError(t, h.WriteFile(t.Context(), "bin", bin))
	got, err := h.ReadFile(t.Context(), "bin")
	require.NoError(t, err)
	require.Equal(t, bin, got)
	require.NoError(t, h.WriteFile(t.Context(), "empty", nil))
	got, err = h.ReadFile(t.Context(), "empty")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestExecOptions(t *testing.T) {
	srv := newServer(t)
	h := attach(t, srv, sandock.WithEnv(map[string]string{"AT_CREATE": "yes"}))
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: `echo "$AT_CREATE $PER_CALL"`, Env: map[string]string{"PER_CALL": "too"}})
	require.NoError(t, err)
	require.Equal(t, "yes too\n", string(res.Stdout))
	_, err = h.Exec(t.Context(), &sandagent.Cmd{Shell: "cat", Stdin: strings.NewReader("x")})
	require.ErrorIs(t, err, sandagent.ErrUnsupported)
	var rc any
	require.False(t, h.As(&rc))
}

func TestNewValidates(t *testing.T) {
	t.Setenv("SANDOCK_API_KEY", "")
	_, err := sandock.New()
	require.ErrorIs(t, err, sandagent.ErrAuth)
	for _, o := range []sandock.Option{
		sandock.WithID(""), sandock.WithImage(" "), sandock.WithVolume("v", "relative"), sandock.WithVolume("", "/x"),
		sandock.WithMemory(0), sandock.WithCPU(-1), sandock.WithActiveDeadline(1500 * time.Millisecond),
		sandock.WithActiveDeadline(25 * time.Hour), sandock.WithBaseURL("ftp://x"), sandock.WithHTTPClient(nil),
		sandock.WithEnv(map[string]string{"A=B": "c"}), sandock.WithRetries(-1),
	} {
		_, err := sandock.New(sandock.WithAPIKey("k"), o)
		require.ErrorIs(t, err, sandagent.ErrInvalid)
	}
	_, err = sandock.New(sandock.WithAPIKey("k"), sandock.WithVolume("a", "/m"), sandock.WithVolume("b", "/m/"))
	require.ErrorIs(t, err, sandagent.ErrInvalid, "two volumes at one mount path")
}

func TestEnvironment(t *testing.T) {
	srv := newServer(t)
	t.Setenv("SANDOCK_API_KEY", srv.APIKey())
	t.Setenv("SANDOCK_BASE_URL", srv.URL)
	sb, err := sandock.New()
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	require.NoError(t, h.Destroy(t.Context()))
}

func TestURL(t *testing.T) {
	srv := newServer(t, sandocktest.WithVolumeDelay(0))
	t.Setenv("SANDOCK_API_KEY", srv.APIKey())
	h, err := sandagent.Open(t.Context(), "sandock://?baseurl="+srv.URL+"&image=node:22&volume=v1:/workspace/v1&memory=512&cpu=256&deadline=1h")
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	require.Equal(t, sandagent.Created, h.Outcome())
	require.Equal(t, "sandock", h.Provider())

	h2, err := sandagent.Open(t.Context(), "sandock://?restart=true&baseurl="+srv.URL+"&id="+h.ID())
	require.NoError(t, err)
	require.Equal(t, sandagent.Reused, h2.Outcome())

	for _, u := range []string{"sandock://name", "sandock://?bogus=1&id=x", "sandock://?memory=lots", "sandock://?volume=novolume"} {
		_, err := sandagent.Open(t.Context(), u)
		require.ErrorIs(t, err, sandagent.ErrInvalid, u)
	}
	_, err = sandagent.Open(t.Context(), "sandock://?bogus=1&zzz=2")
	require.ErrorContains(t, err, "bogus, zzz")
}

// TestServerTimeoutKillsTheCommand: on Kubernetes a shell call that times
// out makes the service kill every shell of the sandbox; a command whose
// wrapper shell is killed that way must not keep running.
func TestServerTimeoutKillsTheCommand(t *testing.T) {
	srv := newServer(t) // Kubernetes
	h := attach(t, srv)
	p, err := h.Start(t.Context(), &sandagent.Cmd{Shell: "echo $$ > victim.pid; exec sleep 600"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := h.Stat(t.Context(), "victim.pid")
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

	var out struct {
		Data struct{ TimedOut bool } `json:"data"`
	}
	_, err = rest(t, h).R().SetContext(t.Context()).SetResult(&out).
		SetBody(map[string]any{"cmd": "sleep 5", "timeoutMs": 50}).Post("/api/v1/sandbox/" + h.ID() + "/shell")
	require.NoError(t, err)
	require.True(t, out.Data.TimedOut)

	_, err = p.Wait()
	require.ErrorContains(t, err, "without reporting its exit status")
	// The watcher polls its wrapper once a second.
	require.Eventually(t, func() bool {
		res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: `ps -o stat= -p "$(cat victim.pid)" | grep -v Z || echo gone`})
		return err == nil && string(res.Stdout) == "gone\n"
	}, 20*time.Second, 100*time.Millisecond, "the watcher killed the command")
}

// TestExitCodesOnKubernetes: the service says 0 or 1; the records say more.
func TestExitCodesOnKubernetes(t *testing.T) {
	h := attach(t, newServer(t))
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "exit 42"})
	var ee *sandagent.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 42, res.ExitCode)
	p, err := h.Start(t.Context(), &sandagent.Cmd{Shell: `trap 'exit 7' USR1; echo $$ > usr1.pid; while :; do sleep 0.05; done`})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := h.Stat(t.Context(), "usr1.pid"); return err == nil }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, p.Signal(t.Context(), syscall.SIGUSR1), "sent by name")
	res, err = p.Wait()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 7, res.ExitCode, "the trap ran: USR1 arrived as USR1")
}

// TestErrorShapes: oRPC's error JSON and the wrapper are both read.
func TestErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		kind   error
		msg    string
	}{
		{500, `{"defined":false,"code":"INTERNAL_SERVER_ERROR","status":500,"message":"Internal server error"}`, nil, "INTERNAL_SERVER_ERROR: Internal server error"},
		{400, `{"defined":false,"code":"BAD_REQUEST","status":400,"message":"Input validation failed"}`, sandagent.ErrInvalid, "BAD_REQUEST: Input validation failed"},
		{404, `{"success":false,"code":404,"message":"Not Found: /api/v1/sandbox","data":{}}`, sandagent.ErrNotFound, "Not Found: /api/v1/sandbox"},
		{401, `{"defined":false,"code":"UNAUTHORIZED","status":401,"message":"no"}`, sandagent.ErrAuth, "UNAUTHORIZED: no"},
		{200, `{"success":false,"code":429,"message":"quota exceeded","data":null}`, sandagent.ErrRateLimited, "quota exceeded"},
	} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		}))
		sb, err := sandock.New(sandock.WithBaseURL(ts.URL), sandock.WithAPIKey("k-fake"), sandock.WithRetries(0))
		require.NoError(t, err)
		_, err = sb.Attach(t.Context())
		ts.Close()
		require.ErrorContains(t, err, tc.msg)
		if tc.kind != nil {
			require.ErrorIs(t, err, tc.kind)
		}
	}
}

func TestDestroyIsIdempotent(t *testing.T) {
	srv := newServer(t)
	h := attach(t, srv)
	h2 := attach(t, srv, sandock.WithID(h.ID()))
	require.NoError(t, h.Destroy(t.Context()))
	srv.Requests.Reset()
	require.NoError(t, h2.Destroy(t.Context()), "already deleted through another handle")
	require.Equal(t, []string{"DELETE /api/v1/sandbox/" + h.ID(), "GET /api/v1/sandbox"}, srv.Requests.Requests())
}

func TestClientViaAs(t *testing.T) {
	srv := newServer(t)
	h := attach(t, srv)
	var c *sandock.Client
	require.True(t, h.As(&c))
	require.Equal(t, h.ID(), c.ID())
	if _, err := exec.LookPath("python3"); err == nil { // what the emulator runs Python with
		res, err := c.RunCode(t.Context(), "python", "print(6*7)", 0)
		require.NoError(t, err)
		require.Equal(t, "42\n", res.Stdout)
		require.Equal(t, 0, res.ExitCode)
	}
	_, err := c.RunCode(t.Context(), "cobol", "", 0)
	require.ErrorIs(t, err, sandagent.ErrInvalid)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "from the sandbox") })}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	u, token, err := c.PreviewURL(t.Context(), ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, err)
	require.NotEmpty(t, token)
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "from the sandbox", string(b))
	_, _, err = c.PreviewURL(t.Context(), 0)
	require.ErrorIs(t, err, sandagent.ErrInvalid)
}

// TestWithoutStream: a server without the SSE route is asked once, then
// served by the blocking shell; exit codes and output are the same.
func TestWithoutStream(t *testing.T) {
	srv := newServer(t, sandocktest.WithoutStream())
	h := attach(t, srv)
	srv.Requests.Reset()
	base := "POST /api/v1/sandbox/" + h.ID()
	for i := range 2 {
		var out bytes.Buffer
		res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "echo hi; echo warn >&2; exit 3", Stdout: &out})
		var ee *sandagent.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, res.ExitCode)
		require.Equal(t, "hi\n", out.String())
		require.Equal(t, "warn\n", string(res.Stderr))
		if i == 0 {
			require.Equal(t, []string{base + "/shell/stream", base + "/shell"}, srv.Requests.Requests())
		}
	}
	require.Equal(t, []string{base + "/shell/stream", base + "/shell", base + "/shell"}, srv.Requests.Requests(), "asked once")
}

// TestStoppedBehindTheHandle: a sandbox stopped by the platform is started
// again, empty but for its volumes, by the next call, as Sandock does; the
// next Attach tells.
func TestStoppedBehindTheHandle(t *testing.T) {
	srv := newServer(t)
	h := attach(t, srv)
	require.NoError(t, h.WriteFile(t.Context(), "f", []byte("x")))
	require.NoError(t, srv.Stop(h.ID()))
	_, err := h.ReadFile(t.Context(), "f")
	require.ErrorIs(t, err, sandagent.ErrNotFound, "a new container under the same id")
	require.Equal(t, sandocktest.StatusRunning, srv.Status(h.ID()), "the call started it again")
}

// TestOwnExecTimeout: a command without Cmd.Timeout gets WithExecTimeout,
// enforced in the sandbox before the service's own timeout, which on
// Docker would kill the whole sandbox.
func TestOwnExecTimeout(t *testing.T) {
	srv := newServer(t, sandocktest.WithMode(sandocktest.Docker))
	h := attach(t, srv, sandock.WithExecTimeout(time.Second))
	require.NoError(t, h.WriteFile(t.Context(), "kept", []byte("x")))
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "sleep 30"})
	require.ErrorIs(t, err, sandagent.ErrTimeout)
	require.Equal(t, sandocktest.StatusRunning, srv.Status(h.ID()), "the service's timeout did not fire")
	_, err = h.ReadFile(t.Context(), "kept")
	require.NoError(t, err, "the container was not killed")
}
