//go:build unix

package sandbase_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/secrettest"
	"github.com/sandagent/sandagent/sandbase"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
	"github.com/sandagent/sandagent/sandboxtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server starts an emulator for one test.
func server(t testing.TB) *sandbasetest.Server {
	srv := sandbasetest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// opts points the client at srv, with the template "base".
func opts(srv *sandbasetest.Server, more ...sandbase.Option) []sandbase.Option {
	return append([]sandbase.Option{sandbase.WithAPIKey(srv.APIKey()), sandbase.WithAPIURL(srv.URL), sandbase.WithSandboxURL(srv.URL), sandbase.WithTemplate("base")}, more...)
}

func attach(t *testing.T, srv *sandbasetest.Server, more ...sandbase.Option) *sandagent.Handle {
	t.Helper()
	sb, err := sandbase.New(opts(srv, more...)...)
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	return h
}

func TestConformance(t *testing.T) {
	srv := server(t)
	sandboxtest.Run(t, sandboxtest.Factory{
		New: func(t *testing.T, o sandboxtest.Options) sandagent.Sandbox {
			var more []sandbase.Option
			if o.Name != "" {
				more = append(more, sandbase.WithName(o.Name))
			}
			if o.ID != "" {
				more = append(more, sandbase.WithID(o.ID))
			}
			if o.Env != nil {
				more = append(more, sandbase.WithEnv(o.Env))
			}
			sb, err := sandbase.New(opts(srv, more...)...)
			require.NoError(t, err)
			return sb
		},
		Lacks: map[sandboxtest.Capability]string{
			sandboxtest.Stop:     "SandBase sandboxes are paused or killed (E2B's protocol has no stop)",
			sandboxtest.PTY:      "not wired in yet: envd's process Start with its pty option",
			sandboxtest.Fork:     "SandBase documents no fork",
			sandboxtest.Snapshot: "SandBase documents no snapshots",
		},
		Faults: srv.Faults,
	})
}

// requests returns the requests srv served since the last call.
func requests(srv *sandbasetest.Server) []string {
	defer srv.Requests.Reset()
	return srv.Requests.Requests()
}

func TestRequestCounts(t *testing.T) {
	srv := server(t)
	ctx := t.Context()

	h := attach(t, srv, sandbase.WithName("counted"))
	require.Equal(t, sandagent.Created, h.Outcome())
	require.Equal(t, []string{"GET /v2/sandboxes", "POST /v2/sandboxes", "GET /v2/sandboxes"}, requests(srv),
		"create by name: look up, create, look again to converge")
	require.NoError(t, h.Close())

	h = attach(t, srv, sandbase.WithName("counted"))
	require.Equal(t, sandagent.Reused, h.Outcome())
	require.Equal(t, []string{"GET /v2/sandboxes", "POST /v2/sandboxes/" + h.ID() + "/connect"}, requests(srv),
		"attach by name of a running sandbox: 2 requests")

	h2 := attach(t, srv, sandbase.WithID(h.ID()))
	require.Equal(t, sandagent.Reused, h2.Outcome())
	require.Equal(t, []string{"GET /sandboxes/" + h.ID(), "POST /v2/sandboxes/" + h.ID() + "/connect"}, requests(srv),
		"attach by id: the state (connect answers 200 either way), then connect")

	h3 := attach(t, srv)
	require.Equal(t, sandagent.Created, h3.Outcome())
	require.Equal(t, []string{"POST /v2/sandboxes"}, requests(srv), "create without a name: 1 request")
	require.NoError(t, h3.Destroy(ctx))
	requests(srv)

	var out bytes.Buffer
	res, err := h2.Exec(ctx, &sandagent.Cmd{Args: []string{"echo", "hi"}, Stdout: &out})
	require.NoError(t, err)
	require.Equal(t, "hi\n", string(res.Stdout))
	require.Equal(t, "hi\n", out.String())
	require.Equal(t, []string{"POST /process.Process/Start"}, requests(srv), "exec: 1 stream")

	require.NoError(t, h2.Pause(ctx))
	h4 := attach(t, srv, sandbase.WithName("counted"))
	require.Equal(t, sandagent.Resumed, h4.Outcome(), "the list said paused")
	require.Equal(t, []string{"POST /sandboxes/" + h.ID() + "/pause", "GET /v2/sandboxes", "POST /v2/sandboxes/" + h.ID() + "/connect"}, requests(srv),
		"attach by name of a paused sandbox: 2 requests")

	require.NoError(t, h4.Destroy(ctx))
	require.Equal(t, []string{"DELETE /sandboxes/" + h.ID()}, requests(srv))
}

// A background process started before the pause continues after the
// resume, with what it held in memory: a shell counter that appends
// 1, 2, 3, ... to a file goes on from where it was, it does not restart.
func TestPauseResumeKeepsMemory(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv, sandbase.WithName("memory"))
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: `nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i >> count.log; sleep 0.02; done' >/dev/null 2>&1 &`})
	require.NoError(t, err)
	before := waitCount(t, h, 3)

	require.NoError(t, h.Pause(ctx))
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)
	require.NoError(t, h.Close())

	// Another process, later: only the name (or the id) was kept.
	h2 := attach(t, srv, sandbase.WithName("memory"))
	require.Equal(t, sandagent.Resumed, h2.Outcome())
	require.Equal(t, h.ID(), h2.ID())
	after := waitCount(t, h2, before+3)
	log, err := h2.ReadFile(ctx, "count.log")
	require.NoError(t, err)
	lines := strings.Fields(string(log))
	require.GreaterOrEqual(t, len(lines), after)
	for i, l := range lines {
		require.Equal(t, strconv.Itoa(i+1), l, "the counter goes on from its value in memory, never restarts")
	}
}

// waitCount waits, inside the sandbox, until count.log has at least n
// lines, and returns how many it has.
func waitCount(t *testing.T, h *sandagent.Handle, n int) int {
	t.Helper()
	res, err := h.Exec(t.Context(), &sandagent.Cmd{
		Shell:   fmt.Sprintf(`while [ "$(wc -l < count.log 2>/dev/null || echo 0)" -lt %d ]; do sleep 0.02; done; wc -l < count.log`, n),
		Timeout: 30 * time.Second,
	})
	require.NoError(t, err)
	got, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	require.NoError(t, err)
	return got
}

func TestTimeoutResetsOnResume(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	srv.Clock.Advance(0) // freeze
	h := attach(t, srv, sandbase.WithTimeout(10*time.Minute))
	id := h.ID()
	srv.Clock.Advance(8 * time.Minute)
	require.NoError(t, h.Pause(ctx))
	srv.Clock.Advance(24 * time.Hour) // paused sandboxes are kept, with no timeout
	require.NoError(t, h.Close())

	h = attach(t, srv, sandbase.WithID(id), sandbase.WithTimeout(10*time.Minute))
	require.Equal(t, sandagent.Resumed, h.Outcome())
	srv.Clock.Advance(9 * time.Minute) // past the old deadline, within the new one
	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateRunning, st, "the timeout counts afresh from the resume")

	srv.Clock.Advance(2 * time.Minute)
	st, err = h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateDestroyed, st, "killed at the end of the timeout")
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)
	require.NoError(t, h.Destroy(ctx))
}

func TestSetTimeoutKeepsAlive(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	srv.Clock.Advance(0)
	h := attach(t, srv)
	require.NoError(t, h.SetTimeout(ctx, time.Hour))
	srv.Clock.Advance(50 * time.Minute) // the default 300 s would have ended it
	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateRunning, st)
	require.NoError(t, h.Destroy(ctx))
}

func TestStateErrors(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	srv.Clock.Advance(0)
	h := attach(t, srv)
	require.NoError(t, h.Pause(ctx))
	require.NoError(t, h.Pause(ctx), "pausing a paused sandbox is not an error")
	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StatePaused, st)

	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)
	_, err = h.ReadFile(ctx, "x")
	require.ErrorIs(t, err, sandagent.ErrState)
	err = h.SetTimeout(ctx, time.Minute)
	require.ErrorIs(t, err, sandagent.ErrState)
	require.ErrorContains(t, err, "sandbox is not active")

	// Resumed, then killed at the end of its lifetime.
	h2 := attach(t, srv, sandbase.WithID(h.ID()), sandbase.WithTimeout(2*time.Hour))
	require.Equal(t, sandagent.Resumed, h2.Outcome())
	srv.Clock.Advance(time.Hour)
	sb, err := sandbase.New(opts(srv, sandbase.WithID(h.ID()))...)
	require.NoError(t, err)
	_, err = sb.Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrState)
	require.ErrorContains(t, err, "sandbox maximum lifetime exceeded")
	require.ErrorIs(t, h2.SetTimeout(ctx, time.Minute), sandagent.ErrState)

	require.NoError(t, h2.Destroy(ctx))
	_, err = sb.Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrNotFound, "killed: not found")

	srv.SetBalance(false)
	_, err = sandbase.New(opts(srv)...)
	require.NoError(t, err)
	_, err = attachErr(t, srv)
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusPaymentRequired, e.Status)
	require.ErrorContains(t, err, "insufficient balance")
	srv.SetBalance(true)

	srv.Faults.Add(emu.Fault{Method: http.MethodPost, Path: "/v2/sandboxes", Times: 10, Status: http.StatusTooManyRequests, Body: `{"code":429,"message":"rate limit exceeded"}`})
	_, err = attachErr(t, srv)
	require.ErrorIs(t, err, sandagent.ErrRateLimited)
	require.ErrorContains(t, err, "rate limit exceeded")
	srv.Faults.Clear()
}

// attachErr attaches a new sandbox and returns the error.
func attachErr(t *testing.T, srv *sandbasetest.Server, more ...sandbase.Option) (*sandagent.Handle, error) {
	sb, err := sandbase.New(opts(srv, more...)...)
	require.NoError(t, err)
	return sb.Attach(t.Context())
}

func TestKillByID(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv, sandbase.WithName("doomed"))
	require.NoError(t, h.Pause(ctx))
	requests(srv)

	require.NoError(t, sandbase.Kill(ctx, h.ID(), opts(srv)...))
	require.Equal(t, []string{"DELETE /sandboxes/" + h.ID()}, requests(srv), "no connect: a paused sandbox is not resumed to be killed")
	require.NoError(t, sandbase.Kill(ctx, h.ID(), opts(srv)...), "killing a gone sandbox is not an error")
	require.ErrorIs(t, sandbase.Kill(ctx, "not an id", opts(srv)...), sandagent.ErrInvalid)

	sb, err := sandbase.New(opts(srv, sandbase.WithID(h.ID()))...)
	require.NoError(t, err)
	_, err = sb.Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrNotFound)

	h2 := attach(t, srv, sandbase.WithName("doomed"))
	require.Equal(t, sandagent.Created, h2.Outcome(), "the name is free again")
	require.NotEqual(t, h.ID(), h2.ID())
	require.NoError(t, h2.Destroy(ctx))
}

func TestManaged(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	named := attach(t, srv, sandbase.WithName("listed"), sandbase.WithMetadata(map[string]string{"user": "u1"}))
	unnamed := attach(t, srv)
	require.NoError(t, unnamed.Pause(ctx))
	sb, err := sandbase.New(opts(srv)...)
	require.NoError(t, err)
	got := map[string]sandagent.Info{}
	for info, err := range sb.Managed(ctx) {
		require.NoError(t, err)
		got[info.ID] = info
	}
	require.Len(t, got, 2)
	require.Equal(t, "listed", got[named.ID()].Name)
	require.Equal(t, "u1", got[named.ID()].Labels["user"])
	require.Equal(t, sandagent.StateRunning, got[named.ID()].State)
	require.Equal(t, sandagent.StatePaused, got[unnamed.ID()].State)

	reaped, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{Apply: true})
	require.NoError(t, err)
	require.Len(t, reaped, 2)
	for range sb.Managed(ctx) {
		t.Error("reaped sandboxes are gone")
	}
}

func TestOldestMatchWins(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	srv.Clock.Advance(0)
	older := attach(t, srv, sandbase.WithName("twins"))
	srv.Clock.Advance(time.Second)
	newer := attach(t, srv) // then labelled with the same name by someone else
	require.NotEqual(t, older.ID(), newer.ID())
	require.NoError(t, older.Pause(ctx)) // paused or running, the oldest wins

	h := attach(t, srv, sandbase.WithName("twins"))
	require.Equal(t, older.ID(), h.ID())
	require.Equal(t, sandagent.Resumed, h.Outcome())
	require.NoError(t, h.Destroy(ctx))
	require.NoError(t, newer.Destroy(ctx))
}

func TestConcurrentAttachByName(t *testing.T) {
	srv := server(t)
	const n = 10
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each caller has its own Sandbox value, as separate processes would.
			sb, err := sandbase.New(opts(srv, sandbase.WithName("shared"))...)
			if err == nil {
				var h *sandagent.Handle
				if h, err = sb.Attach(t.Context()); err == nil {
					ids[i] = h.ID()
				}
			}
			require.NoError(t, err)
		})
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	creates := 0
	for _, r := range srv.Requests.Requests() {
		if r == "POST /v2/sandboxes" {
			creates++
		}
	}
	require.Equal(t, 1, creates, "one create")
}

func TestLookupFailsClosed(t *testing.T) {
	srv := server(t)
	for _, tc := range []struct {
		status int
		kind   error
	}{
		{http.StatusUnauthorized, sandagent.ErrAuth},
		{http.StatusForbidden, sandagent.ErrAuth},
		{http.StatusTooManyRequests, sandagent.ErrRateLimited},
		{http.StatusServiceUnavailable, nil},
		{http.StatusInternalServerError, nil},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			srv.Requests.Reset()
			srv.Faults.Add(emu.Fault{Method: http.MethodGet, Path: "/v2/sandboxes", Times: 10, Status: tc.status}) // more than the retries
			defer srv.Faults.Clear()
			sb, err := sandbase.New(opts(srv, sandbase.WithName("closed"))...)
			require.NoError(t, err)
			_, err = sb.Attach(t.Context())
			require.Error(t, err)
			if tc.kind != nil {
				require.ErrorIs(t, err, tc.kind)
			}
			var e *sandagent.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tc.status, e.Status)
			require.NotContains(t, err.Error(), srv.APIKey())
			require.Zero(t, srv.Requests.Count(http.MethodPost, "/v2/sandboxes"), "no create after a failed lookup")
		})
	}

	t.Run("network", func(t *testing.T) {
		sb, err := sandbase.New(sandbase.WithAPIKey(srv.APIKey()), sandbase.WithAPIURL("http://127.0.0.1:1"), sandbase.WithName("closed"), sandbase.WithTemplate("base"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = sb.Attach(ctx)
		require.Error(t, err)
		require.NotErrorIs(t, err, sandagent.ErrNotFound)
	})

	require.Zero(t, srv.Requests.Count(http.MethodPost, "/v2/sandboxes"), "nothing was created")
}

func TestWrongKey(t *testing.T) {
	srv := server(t)
	const key = "sk-sb-00000000000000000000000000000000ff"
	sb, err := sandbase.New(sandbase.WithAPIKey(key), sandbase.WithAPIURL(srv.URL), sandbase.WithName("k"), sandbase.WithTemplate("base"))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.NotContains(t, err.Error(), key)
	require.ErrorIs(t, sandbase.Kill(t.Context(), "i0123", sandbase.WithAPIKey(key), sandbase.WithAPIURL(srv.URL)), sandagent.ErrAuth)
}

// The API key appears in no error, no log line (debug level) and no panic,
// on every error path: each failure status, a wrong key, garbage, a server
// that echoes the key in its error body, a refused connection.
func TestNoSecretsInLogs(t *testing.T) {
	srv := server(t)
	key := srv.APIKey()
	var rec secrettest.Recorder
	logger := rec.Logger()
	h := attach(t, srv, sandbase.WithName("logged"), sandbase.WithLogger(logger))
	ctx := t.Context()
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo hi"})
	require.NoError(t, err)
	require.NoError(t, h.WriteFile(ctx, "a.txt", []byte("a")))
	_, err = h.ReadFile(ctx, "missing")
	require.ErrorIs(t, err, sandagent.ErrNotFound)

	try := rec.Try
	// Idempotent requests are retried on 429, 5xx and network errors,
	// with real backoff: those faults go to the requests that are not.
	everything := func(sb *sandbase.Sandbox, idempotentToo bool) {
		try(func() error { _, err := sb.Attach(ctx); return err })
		try(func() error { _, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"}); return err })
		try(func() error { return h.WriteFile(ctx, "b.txt", []byte("b")) })
		if !idempotentToo {
			return
		}
		try(func() error { _, err := h.ReadFile(ctx, "a.txt"); return err })
		try(func() error { _, err := h.State(ctx); return err })
		try(func() error { return sb.Kill(ctx, h.ID()) })
		for _, err := range sb.Managed(ctx) {
			try(func() error { return err })
		}
	}
	echo := `{"code":%d,"message":"key ` + key + ` is not valid: X-API-Key ` + key + `"}`
	unnamed, err := sandbase.New(opts(srv, sandbase.WithLogger(logger))...)
	require.NoError(t, err)
	for _, f := range []emu.Fault{
		{Status: http.StatusUnauthorized}, {Status: http.StatusForbidden},
		{Status: http.StatusOK, Body: "{not json"}, {Status: http.StatusOK, Body: "<html>" + key + "</html>"},
		{Status: http.StatusUnauthorized, Body: fmt.Sprintf(echo, 401)},
		{Method: http.MethodPost, Status: http.StatusTooManyRequests},
		{Method: http.MethodPost, Status: http.StatusInternalServerError},
		{Method: http.MethodPost, Status: http.StatusInternalServerError, Body: fmt.Sprintf(echo, 500)},
	} {
		f.Times = 100
		srv.Faults.Add(f)
		everything(unnamed, f.Method == "")
		srv.Faults.Clear()
	}
	// A wrong key is a secret too.
	const wrong = "sk-sb-wrong0000000000000000000000000000"
	sb, err := sandbase.New(sandbase.WithAPIKey(wrong), sandbase.WithAPIURL(srv.URL), sandbase.WithSandboxURL(srv.URL), sandbase.WithTemplate("base"), sandbase.WithName("logged"), sandbase.WithLogger(logger))
	require.NoError(t, err)
	everything(sb, true)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	sb, err = sandbase.New(sandbase.WithAPIKey(key), sandbase.WithAPIURL(closed.URL), sandbase.WithTemplate("base"), sandbase.WithLogger(logger))
	require.NoError(t, err)
	try(func() error { _, err := sb.Attach(ctx); return err })

	require.NoError(t, h.Destroy(ctx))
	require.Greater(t, len(rec.Errors()), 30, "the error paths were taken")
	require.Contains(t, fmt.Sprint(rec.Errors()), "[REDACTED]", "the echoes reached errors, redacted")
	require.Contains(t, rec.Log(), "POST", "requests are logged")
	rec.Check(t, key, wrong)
}

// TestLiveOutputStdinSignals: SandBase's data plane is envd, so what the
// archived REST dialect lacked works.
func TestLiveOutputStdinSignals(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })

	res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat"}, Stdin: strings.NewReader("x\x00\xff")})
	require.NoError(t, err)
	require.Equal(t, "x\x00\xff", string(res.Stdout), "stdin in, bytes out unchanged")

	p, err := h.Start(ctx, &sandagent.Cmd{Shell: "sleep 30"})
	require.NoError(t, err)
	require.NoError(t, p.Signal(ctx, os.Kill))
	_, err = p.Wait()
	require.Error(t, err)

	big := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16)
	require.NoError(t, h.WriteFile(ctx, "big/three.bin", big))
	got, err := h.ReadFile(ctx, "big/three.bin")
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got))

	var n sandbase.Native
	require.True(t, h.As(&n))
	require.Equal(t, h.ID(), n.SandboxID)
	require.Equal(t, "base", n.TemplateID)
}

func TestOpenURL(t *testing.T) {
	srv := server(t)
	t.Setenv("SANDBASE_API_KEY", srv.APIKey())
	t.Setenv("SANDBASE_API_URL", srv.URL)
	t.Setenv("SANDBASE_SANDBOX_URL", srv.URL)
	h, err := sandagent.Open(t.Context(), "sandbase://from-url?timeout=10m&template=base&meta.user=u1")
	require.NoError(t, err)
	require.Equal(t, sandbase.ProviderName, h.Provider())
	require.Equal(t, "from-url", h.Name())
	h2, err := sandagent.Open(t.Context(), "sandbase://?id="+h.ID())
	require.NoError(t, err)
	require.Equal(t, h.ID(), h2.ID())
	require.NoError(t, h2.Destroy(t.Context()))

	for _, bad := range []string{"sandbase://x?bogus=1", "sandbase://x?timeout=soon", "sandbase://x/path", "sandbase://?id=i.123"} {
		_, err := sandagent.Open(t.Context(), bad)
		require.ErrorIs(t, err, sandagent.ErrInvalid, bad)
	}
	_, err = sandagent.Open(t.Context(), "sandbase://x?bogus=1")
	require.ErrorContains(t, err, "bogus")
}

func TestNewValidates(t *testing.T) {
	t.Setenv("SANDBASE_API_KEY", "")
	t.Setenv("SANDBASE_API_URL", "")
	t.Setenv("SANDBASE_TEMPLATE", "")
	_, err := sandbase.New()
	require.ErrorIs(t, err, sandagent.ErrAuth, "no key")
	for _, o := range [][]sandbase.Option{
		{sandbase.WithName("a"), sandbase.WithID("iabc")},
		{sandbase.WithName("")},
		{sandbase.WithName("a\nb")},
		{sandbase.WithID("sbx.abc")},
		{sandbase.WithID("")},
		{sandbase.WithID(strings.Repeat("a", 129))},
		{sandbase.WithTimeout(0)},
		{sandbase.WithTemplate("")},
		{sandbase.WithMetadata(map[string]string{sandbase.NameKey: "x"})},
		{sandbase.WithEnv(map[string]string{"A=B": "c"})},
		{sandbase.WithAPIURL("ftp://x")},
		{sandbase.WithDomain("a/b")},
		{sandbase.WithHTTPClient(nil)},
		{sandbase.WithAPIKey("")},
	} {
		_, err := sandbase.New(append([]sandbase.Option{sandbase.WithAPIKey("sk-00")}, o...)...)
		require.ErrorIs(t, err, sandagent.ErrInvalid)
		var e *sandagent.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, sandbase.ProviderName, e.Provider)
	}
	for _, id := range []string{"sbx_a1B2-c3", "i1a2b3c4d5e6f7g8h9i0j"} {
		_, err := sandbase.New(sandbase.WithAPIKey("sk-00"), sandbase.WithID(id))
		require.NoError(t, err, id)
	}
	t.Setenv("SANDBASE_API_URL", "ftp://x")
	_, err = sandbase.New(sandbase.WithAPIKey("sk-00"))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	t.Setenv("SANDBASE_API_URL", "")
	_, err = sandbase.New(sandbase.WithAPIKey("e2b_not-a-sandbase-key"), sandbase.WithAPIURL("http://127.0.0.1:1"))
	require.NoError(t, err, "no key-format check")

	// No template: an Attach that may create fails before any request.
	sb, err := sandbase.New(sandbase.WithAPIKey("sk-00"), sandbase.WithAPIURL("http://127.0.0.1:1"), sandbase.WithName("n"))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorContains(t, err, "SANDBASE_TEMPLATE")
}
