//go:build unix

package e2b_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/secrettest"
	"github.com/sandagent/sandagent/sandboxtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server starts an emulator for one test.
func server(t testing.TB) *e2btest.Server {
	srv := e2btest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// opts points the client at srv.
func opts(srv *e2btest.Server, more ...e2b.Option) []e2b.Option {
	return append([]e2b.Option{e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL)}, more...)
}

func attach(t *testing.T, srv *e2btest.Server, more ...e2b.Option) *sandagent.Handle {
	t.Helper()
	sb, err := e2b.New(opts(srv, more...)...)
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	return h
}

func TestConformance(t *testing.T) {
	srv := server(t)
	sandboxtest.Run(t, sandboxtest.Factory{
		Faults: srv.Faults,
		New: func(t *testing.T, o sandboxtest.Options) sandagent.Sandbox {
			var more []e2b.Option
			if o.Name != "" {
				more = append(more, e2b.WithName(o.Name))
			}
			if o.ID != "" {
				more = append(more, e2b.WithID(o.ID))
			}
			if o.Env != nil {
				more = append(more, e2b.WithEnv(o.Env))
			}
			sb, err := e2b.New(opts(srv, more...)...)
			require.NoError(t, err)
			return sb
		},
		Lacks: map[sandboxtest.Capability]string{
			sandboxtest.Stop:     "E2B sandboxes are paused or killed, never stopped",
			sandboxtest.PTY:      "not wired in yet: envd's process Start with its pty option",
			sandboxtest.Fork:     "not wired in yet: POST /sandboxes/{id}/fork",
			sandboxtest.Snapshot: "not wired in yet: POST /sandboxes/{id}/snapshots",
		},
	})
}

// requests returns the requests srv served since the last call.
func requests(srv *e2btest.Server) []string {
	defer srv.Requests.Reset()
	return srv.Requests.Requests()
}

func TestRequestCounts(t *testing.T) {
	srv := server(t)
	ctx := t.Context()

	h := attach(t, srv, e2b.WithName("counted"))
	require.Equal(t, sandagent.Created, h.Outcome())
	require.Equal(t, []string{"GET /v2/sandboxes", "POST /v2/sandboxes", "GET /v2/sandboxes"}, requests(srv),
		"create by name: look up, create, look again to converge")
	require.NoError(t, h.Close())

	h = attach(t, srv, e2b.WithName("counted"))
	require.Equal(t, sandagent.Reused, h.Outcome())
	require.Equal(t, []string{"GET /v2/sandboxes", "POST /v2/sandboxes/" + h.ID() + "/connect"}, requests(srv),
		"attach by name of a running sandbox: 2 requests")

	h2 := attach(t, srv, e2b.WithID(h.ID()))
	require.Equal(t, sandagent.Reused, h2.Outcome())
	require.Equal(t, []string{"POST /v2/sandboxes/" + h.ID() + "/connect"}, requests(srv), "attach by id: 1 request")

	res, err := h2.Exec(ctx, &sandagent.Cmd{Args: []string{"echo", "hi"}})
	require.NoError(t, err)
	require.Equal(t, "hi\n", string(res.Stdout))
	require.Equal(t, []string{"POST /process.Process/Start"}, requests(srv), "exec: 1 stream")

	require.NotEmpty(t, h2.Workdir())
	require.Equal(t, []string{"POST /filesystem.Filesystem/Stat"}, requests(srv), "the workdir is learnt once, lazily")
	require.NotEmpty(t, h2.Workdir())
	require.Empty(t, requests(srv))

	require.NoError(t, h2.Destroy(ctx))
	require.Equal(t, []string{"DELETE /sandboxes/" + h.ID()}, requests(srv))
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
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv.Requests.Reset()
			srv.Faults.FailNext(10, "/v2/sandboxes", tc.status) // more than the retries
			defer srv.Faults.Clear()
			sb, err := e2b.New(opts(srv, e2b.WithName("closed"))...)
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
		sb, err := e2b.New(e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL("http://127.0.0.1:1"), e2b.WithName("closed"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = sb.Attach(ctx)
		require.Error(t, err)
		require.NotErrorIs(t, err, sandagent.ErrNotFound)
	})

	// Nothing was created by any of them.
	for sb, err := range e2b.List(t.Context(), e2b.Filter{}, opts(srv)...) {
		require.NoError(t, err)
		t.Errorf("unexpected sandbox %s", sb.ID)
	}
}

func TestWrongKey(t *testing.T) {
	srv := server(t)
	const key = "e2b_00000000000000000000000000000000000000ff"
	sb, err := e2b.New(e2b.WithAPIKey(key), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL), e2b.WithName("k"))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.NotContains(t, err.Error(), key)
	for _, err := range e2b.List(t.Context(), e2b.Filter{}, e2b.WithAPIKey(key), e2b.WithAPIURL(srv.URL)) {
		require.ErrorIs(t, err, sandagent.ErrAuth)
		require.NotContains(t, err.Error(), key)
	}
}

func TestReconnectFromAnywhere(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv) // no name: a new sandbox
	require.Equal(t, sandagent.Created, h.Outcome())
	id := h.ID()
	require.NoError(t, h.WriteFile(ctx, "state/progress.txt", []byte("step 3 of 7")))
	require.NoError(t, h.SetTimeout(ctx, time.Hour), "keep it alive past the default 300 s")
	require.NoError(t, h.Close())

	srv.Clock.Advance(30 * time.Minute) // the default timeout would have killed it

	// Later, in another process: only the id was kept.
	h2 := attach(t, srv, e2b.WithID(id))
	require.Equal(t, sandagent.Reused, h2.Outcome())
	require.Equal(t, id, h2.ID())
	got, err := h2.ReadFile(ctx, "state/progress.txt")
	require.NoError(t, err)
	require.Equal(t, "step 3 of 7", string(got))
	require.NoError(t, h2.Destroy(ctx))

	// Gone for good: by id it is not found, unless asked to create.
	sb, err := e2b.New(opts(srv, e2b.WithID(id))...)
	require.NoError(t, err)
	_, err = sb.Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrNotFound)

	h3 := attach(t, srv, e2b.WithID(id), e2b.WithCreateIfMissing())
	require.Equal(t, sandagent.Created, h3.Outcome())
	require.NotEqual(t, id, h3.ID())
	require.NoError(t, h3.Destroy(ctx))
}

func TestTimeoutKillsWithoutKeepAlive(t *testing.T) {
	srv := server(t)
	h := attach(t, srv, e2b.WithTimeout(time.Minute))
	require.NoError(t, h.Close())
	srv.Clock.Advance(2 * time.Minute)
	sb, err := e2b.New(opts(srv, e2b.WithID(h.ID()))...)
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrNotFound)
}

// TestResumeWithoutMemory: WithResumeMemory(false) boots the paused
// sandbox afresh from its files: they stay, its processes do not.
func TestResumeWithoutMemory(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv)
	defer h.Destroy(context.Background())
	require.NoError(t, h.WriteFile(ctx, "f.txt", []byte("kept")))
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "nohup sleep 600 >/dev/null 2>&1 & echo $! > bg.pid"})
	require.NoError(t, err)
	require.NoError(t, h.Pause(ctx))

	h2 := attach(t, srv, e2b.WithID(h.ID()), e2b.WithResumeMemory(false))
	require.Equal(t, sandagent.Resumed, h2.Outcome())
	got, err := h2.ReadFile(ctx, "f.txt")
	require.NoError(t, err)
	require.Equal(t, "kept", string(got))
	// Killed: gone, or a zombie not reaped yet.
	res, err := h2.Exec(ctx, &sandagent.Cmd{Shell: `st=$(ps -o stat= -p "$(cat bg.pid)"); case "$st" in ""|Z*) echo gone;; *) echo alive;; esac`})
	require.NoError(t, err)
	require.Equal(t, "gone\n", string(res.Stdout), "a cold boot: the processes are gone")
}

func TestPausedIsResumed(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv, e2b.WithName("pausing"))
	require.NoError(t, h.WriteFile(ctx, "f.txt", []byte("kept")))
	require.NoError(t, h.Pause(ctx))
	require.NoError(t, h.Pause(ctx), "pausing a paused sandbox is not an error")
	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StatePaused, st)
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)
	_, err = h.ReadFile(ctx, "f.txt")
	require.ErrorIs(t, err, sandagent.ErrState)
	require.NoError(t, h.Close())

	srv.Requests.Reset()
	h2 := attach(t, srv, e2b.WithName("pausing"))
	require.Equal(t, sandagent.Resumed, h2.Outcome())
	require.Equal(t, h.ID(), h2.ID())
	require.Equal(t, 2, srv.Requests.Total(), "list (finds it paused) and connect (resumes it)")
	got, err := h2.ReadFile(ctx, "f.txt")
	require.NoError(t, err)
	require.Equal(t, "kept", string(got))
	require.NoError(t, h2.Destroy(ctx))
	require.NoError(t, h2.Destroy(ctx))
}

func TestAutoPauseOnTimeout(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv, e2b.WithName("idle"), e2b.WithTimeout(time.Minute), e2b.WithAutoPause())
	require.NoError(t, h.Close())
	srv.Clock.Advance(5 * time.Minute)
	h2 := attach(t, srv, e2b.WithName("idle"))
	require.Equal(t, sandagent.Resumed, h2.Outcome(), "the idle sandbox was paused, not killed")
	require.Equal(t, h.ID(), h2.ID())
	require.NoError(t, h2.Destroy(ctx))
}

func TestListAcrossPages(t *testing.T) {
	defer e2b.SetPageSize(2)()
	srv := server(t)
	ctx := t.Context()
	var ids []string
	for i := range 5 {
		h := attach(t, srv, e2b.WithMetadata(map[string]string{"user": "u-42", "n": fmt.Sprint(i)}))
		ids = append(ids, h.ID())
	}
	other := attach(t, srv, e2b.WithMetadata(map[string]string{"user": "u-7"}))
	require.NoError(t, other.Pause(ctx))

	srv.Requests.Reset()
	var got []string
	for sb, err := range e2b.List(ctx, e2b.Filter{Metadata: map[string]string{"user": "u-42"}}, opts(srv)...) {
		require.NoError(t, err)
		require.Equal(t, "u-42", sb.Metadata["user"])
		require.Equal(t, sandagent.StateRunning, sb.State)
		require.Equal(t, "true", sb.Metadata[e2b.ManagedKey])
		got = append(got, sb.ID)
	}
	require.ElementsMatch(t, ids, got)
	require.Equal(t, 3, srv.Requests.Count(http.MethodGet, "/v2/sandboxes"), "5 sandboxes in pages of 2")

	var paused []string
	for sb, err := range e2b.List(ctx, e2b.Filter{States: []sandagent.State{sandagent.StatePaused}}, opts(srv)...) {
		require.NoError(t, err)
		paused = append(paused, sb.ID)
	}
	require.Equal(t, []string{other.ID()}, paused)

	// Stopping early reads no further page.
	srv.Requests.Reset()
	for range e2b.List(ctx, e2b.Filter{}, opts(srv)...) {
		break
	}
	require.Equal(t, 1, srv.Requests.Total())

	for _, err := range e2b.List(ctx, e2b.Filter{States: []sandagent.State{sandagent.StateStopped}}, opts(srv)...) {
		require.ErrorIs(t, err, sandagent.ErrInvalid)
	}
}

// Callers in different processes (here: different API URLs for the same
// server, so they share no lock) converge on one sandbox.
func TestConvergeAcrossProcesses(t *testing.T) {
	srv := server(t)
	urls := []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)}
	const n = 8
	handles := make([]*sandagent.Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb, err := e2b.New(e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL(urls[i%2]), e2b.WithSandboxURL(srv.URL), e2b.WithName("shared"))
			if err != nil {
				errs[i] = err
				return
			}
			handles[i], errs[i] = sb.Attach(t.Context())
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	created := 0
	for _, h := range handles {
		require.Equal(t, handles[0].ID(), h.ID())
		if h.Outcome() == sandagent.Created {
			created++
		}
	}
	require.Equal(t, 1, created)
	alive := 0
	for _, err := range e2b.List(t.Context(), e2b.Filter{Metadata: map[string]string{e2b.NameKey: "shared"}}, opts(srv)...) {
		require.NoError(t, err)
		alive++
	}
	require.Equal(t, 1, alive, "the losers' sandboxes were destroyed by their creators")
}

// hookTransport calls after once, when a response to a request matching
// method and path has arrived.
type hookTransport struct {
	method, path string
	after        func()
	once         sync.Once
}

func (h *hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.Method == h.method && r.URL.Path == h.path {
		h.once.Do(h.after)
	}
	return resp, err
}

func TestFailureAfterCreateDestroysIt(t *testing.T) {
	srv := server(t)
	t.Run("lookup after create fails", func(t *testing.T) {
		hc := &http.Client{Transport: &hookTransport{method: http.MethodPost, path: "/v2/sandboxes", after: func() {
			srv.Faults.FailNext(1, "/v2/sandboxes", http.StatusUnauthorized)
		}}}
		sb, err := e2b.New(opts(srv, e2b.WithName("doomed"), e2b.WithHTTPClient(hc))...)
		require.NoError(t, err)
		_, err = sb.Attach(t.Context())
		require.ErrorIs(t, err, sandagent.ErrAuth)
		require.Equal(t, 1, srv.Requests.Count(http.MethodDelete, "/sandboxes/"), "the new sandbox was destroyed")
	})
	t.Run("ctx ends after create", func(t *testing.T) {
		srv.Requests.Reset()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		hc := &http.Client{Transport: &hookTransport{method: http.MethodPost, path: "/v2/sandboxes", after: cancel}}
		sb, err := e2b.New(opts(srv, e2b.WithHTTPClient(hc))...)
		require.NoError(t, err)
		_, err = sb.Attach(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, srv.Requests.Count(http.MethodDelete, "/sandboxes/"), "the new sandbox was destroyed")
	})
	for _, err := range e2b.List(t.Context(), e2b.Filter{}, opts(srv)...) {
		require.NoError(t, err)
		t.Error("a sandbox survived")
	}
}

func TestExec(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv, e2b.WithEnv(map[string]string{"FROM_CREATE": "yes"}))
	defer h.Destroy(context.Background())

	t.Run("CreateEnv", func(t *testing.T) {
		res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"printenv", "FROM_CREATE"}})
		require.NoError(t, err)
		require.Equal(t, "yes\n", string(res.Stdout))
	})
	t.Run("LoginShell", func(t *testing.T) {
		res, err := h.Exec(ctx, &sandagent.Cmd{Shell: `echo "$0"; shopt -q login_shell && echo login`})
		require.NoError(t, err)
		require.Equal(t, "/bin/bash\nlogin\n", string(res.Stdout))
	})
	t.Run("StdinRequests", func(t *testing.T) {
		srv.Requests.Reset()
		res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat"}, Stdin: strings.NewReader("abc")})
		require.NoError(t, err)
		require.Equal(t, "abc", string(res.Stdout))
		require.Equal(t, 1, srv.Requests.Count("", "/process.Process/Start"))
		require.Equal(t, 1, srv.Requests.Count("", "/process.Process/SendInput"))
		require.Equal(t, 1, srv.Requests.Count("", "/process.Process/CloseStdin"))
	})
	t.Run("UnsupportedSignal", func(t *testing.T) {
		p, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"sleep", "30"}})
		require.NoError(t, err)
		require.ErrorIs(t, p.Signal(ctx, syscall.SIGHUP), sandagent.ErrUnsupported)
		require.NoError(t, p.Signal(ctx, os.Kill))
		res, err := p.Wait()
		var ee *sandagent.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, -1, res.ExitCode)
	})
	t.Run("BadDir", func(t *testing.T) {
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true", Dir: "/no/such/dir"})
		require.ErrorIs(t, err, sandagent.ErrInvalid)
	})
}

func TestNative(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv)
	defer h.Destroy(context.Background())
	var n e2b.Native
	require.True(t, h.As(&n))
	require.Equal(t, h.ID(), n.SandboxID)
	require.NotEmpty(t, n.EnvdAccessToken, "secure by default")
	require.Equal(t, "base", n.TemplateID)
	require.Equal(t, "3000-"+h.ID()+"."+n.Domain, n.Host(3000))
	require.False(t, h.As(new(string)))

	require.NoError(t, h.WriteFile(ctx, "a.txt", []byte("x")))
	require.NoError(t, n.Move(ctx, h.Workdir()+"/a.txt", h.Workdir()+"/b.txt"))
	got, err := h.ReadFile(ctx, "b.txt")
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
}

// TestInsecure: secure=false is v1's flag (v2 secures every sandbox), so
// it takes a service that serves v1 only.
func TestInsecure(t *testing.T) {
	srv := e2btest.NewServer(e2btest.WithV1Only())
	t.Cleanup(srv.Close)
	h := attach(t, srv, e2b.WithSecure(false))
	defer h.Destroy(context.Background())
	var n e2b.Native
	require.True(t, h.As(&n))
	require.Empty(t, n.EnvdAccessToken)
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Args: []string{"true"}})
	require.NoError(t, err)
	require.Zero(t, res.ExitCode)
}

// TestV1Fallback: against a service without the v2 routes, the client
// falls back to v1 once, remembers it, and keeps its request counts.
func TestV1Fallback(t *testing.T) {
	srv := e2btest.NewServer(e2btest.WithV1Only())
	t.Cleanup(srv.Close)
	sb, err := e2b.New(opts(srv, e2b.WithName("old"))...)
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	defer h.Destroy(context.Background())
	require.Equal(t, sandagent.Created, h.Outcome())
	require.Equal(t, []string{"GET /v2/sandboxes", "POST /v2/sandboxes", "POST /sandboxes", "GET /v2/sandboxes"}, requests(srv),
		"v2 create is 404: v1 once")
	var n e2b.Native
	require.True(t, h.As(&n))
	require.NotEmpty(t, n.EnvdAccessToken, "v1 with secure")

	h2, err := sb.Attach(t.Context())
	require.NoError(t, err)
	require.Equal(t, sandagent.Reused, h2.Outcome())
	require.Equal(t, []string{"GET /v2/sandboxes", "POST /sandboxes/" + h.ID() + "/connect"}, requests(srv),
		"v1 remembered: attach by name, 2 requests")
	res, err := h2.Exec(t.Context(), &sandagent.Cmd{Args: []string{"echo", "old"}})
	require.NoError(t, err)
	require.Equal(t, "old\n", string(res.Stdout))

	// A v2 404 that names what is missing is the route's own answer.
	srv2 := server(t)
	missing, err := e2b.New(opts(srv2, e2b.WithID("inosuch0000000000000"))...)
	require.NoError(t, err)
	_, err = missing.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.Equal(t, []string{"POST /v2/sandboxes/inosuch0000000000000/connect"}, requests(srv2), "no v1 retry")
	tmpl, err := e2b.New(opts(srv2, e2b.WithTemplate("nosuch"))...)
	require.NoError(t, err)
	_, err = tmpl.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.ErrorContains(t, err, "template 'nosuch' not found")
	require.Equal(t, []string{"POST /v2/sandboxes"}, requests(srv2), "no v1 retry")
}

func TestOpenURL(t *testing.T) {
	srv := server(t)
	t.Setenv("E2B_API_KEY", srv.APIKey())
	t.Setenv("E2B_API_URL", srv.URL)
	t.Setenv("E2B_SANDBOX_URL", srv.URL)
	h, err := sandagent.Open(t.Context(), "e2b://from-url?timeout=10m&meta.team=core")
	require.NoError(t, err)
	defer h.Destroy(context.Background())
	require.Equal(t, "e2b", h.Provider())
	require.Equal(t, "from-url", h.Name())
	for sb, err := range e2b.List(t.Context(), e2b.Filter{Metadata: map[string]string{"team": "core"}}) {
		require.NoError(t, err)
		require.Equal(t, h.ID(), sb.ID)
		require.Equal(t, "from-url", sb.Name)
	}
	_, err = sandagent.Open(t.Context(), "e2b://x?key=secret")
	require.ErrorIs(t, err, sandagent.ErrInvalid)
}

// headerTransport records the headers of requests to one path.
type headerTransport struct {
	path string
	mu   sync.Mutex
	seen []http.Header
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == h.path {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Clone())
		h.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestExecWire(t *testing.T) {
	srv := server(t)
	ht := &headerTransport{path: "/process.Process/Start"}
	h := attach(t, srv, e2b.WithHTTPClient(&http.Client{Transport: ht}))
	defer h.Destroy(context.Background())
	var n e2b.Native
	require.True(t, h.As(&n))

	_, err := h.Exec(context.Background(), &sandagent.Cmd{Args: []string{"true"}})
	require.NoError(t, err)
	_, err = h.Exec(context.Background(), &sandagent.Cmd{Args: []string{"true"}, Timeout: 90 * time.Second})
	require.NoError(t, err)
	require.Len(t, ht.seen, 2)
	for _, hd := range ht.seen {
		require.Equal(t, h.ID(), hd.Get("E2b-Sandbox-Id"))
		require.Equal(t, "49983", hd.Get("E2b-Sandbox-Port"))
		require.Equal(t, n.EnvdAccessToken, hd.Get("X-Access-Token"))
		require.Equal(t, "application/connect+proto", hd.Get("Content-Type"), "the protobuf codec")
		require.Equal(t, "50", hd.Get("Keepalive-Ping-Interval"))
	}
	require.Empty(t, ht.seen[0].Get("Connect-Timeout-Ms"), "no deadline, no process timeout")
	ms, err := strconv.Atoi(ht.seen[1].Get("Connect-Timeout-Ms"))
	require.NoError(t, err)
	require.InDelta(t, 90000, ms, 1000, "Cmd.Timeout becomes envd's process timeout")
}

// The API key and the envd access token appear in no error, no log line
// (debug level) and no panic, on every error path: each failure status, a
// wrong key, garbage, a server that echoes them in its error bodies, a
// refused connection.
func TestNoSecretsInLogs(t *testing.T) {
	srv := server(t)
	key := srv.APIKey()
	var rec secrettest.Recorder
	logger := rec.Logger()
	ctx := t.Context()
	h := attach(t, srv, e2b.WithName("logged"), e2b.WithLogger(logger))
	var n e2b.Native
	require.True(t, h.As(&n))
	token := n.EnvdAccessToken
	require.NotEmpty(t, token)
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "exit 3"})
	require.Error(t, err)
	_, err = h.ReadFile(ctx, "missing")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.NoError(t, h.WriteFile(ctx, "x", []byte("x")))

	try := rec.Try
	// Idempotent requests are retried on 429, 5xx and network errors,
	// with real backoff: those faults go to the requests that are not.
	everything := func(sb *e2b.Sandbox, idempotentToo bool) {
		try(func() error { _, err := sb.Attach(ctx); return err })
		try(func() error { _, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"}); return err })
		try(func() error { return h.WriteFile(ctx, "b.txt", []byte("b")) })
		if !idempotentToo {
			return
		}
		try(func() error { _, err := h.ReadFile(ctx, "x"); return err })
		try(func() error { _, err := h.Stat(ctx, "x"); return err })
		try(func() error { _, err := h.State(ctx); return err })
		try(func() error { return sb.Kill(ctx, h.ID()) })
		for _, err := range sb.Managed(ctx) {
			try(func() error { return err })
		}
	}
	// The control plane echoes the key, envd the token.
	echo := `{"code":%d,"message":"bad key ` + key + `"}`
	envdEcho := `{"code":"unauthenticated","message":"bad token ` + token + `"}`
	unnamed, err := e2b.New(opts(srv, e2b.WithLogger(logger))...)
	require.NoError(t, err)
	for _, faults := range [][]emu.Fault{
		{{Status: http.StatusUnauthorized}}, {{Status: http.StatusForbidden}},
		{{Status: http.StatusOK, Body: "{not json"}}, {{Status: http.StatusOK, Body: "<html>" + key + token + "</html>"}},
		{{Path: "/sandboxes", Status: http.StatusUnauthorized, Body: fmt.Sprintf(echo, 401)},
			{Path: "/v2/sandboxes", Status: http.StatusUnauthorized, Body: fmt.Sprintf(echo, 401)},
			{Path: "/process.Process/", Status: http.StatusUnauthorized, Body: envdEcho},
			{Path: "/filesystem.Filesystem/", Status: http.StatusUnauthorized, Body: envdEcho},
			{Path: "/files", Status: http.StatusUnauthorized, Body: `{"code":401,"message":"bad token ` + token + `"}`}},
		{{Method: http.MethodPost, Status: http.StatusTooManyRequests}},
		{{Method: http.MethodPost, Status: http.StatusInternalServerError}},
		{{Method: http.MethodPost, Path: "/v2/sandboxes", Status: http.StatusInternalServerError, Body: fmt.Sprintf(echo, 500)},
			{Method: http.MethodPost, Path: "/process.Process/", Status: http.StatusInternalServerError, Body: envdEcho}},
	} {
		for _, f := range faults {
			f.Times = 1000
			srv.Faults.Add(f)
		}
		everything(unnamed, faults[0].Method == "")
		srv.Faults.Clear()
	}
	// A wrong key is a secret too.
	const wrong = "e2b_wrong000000000000000000000000000000000"
	sb, err := e2b.New(e2b.WithAPIKey(wrong), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL), e2b.WithName("logged"), e2b.WithLogger(logger))
	require.NoError(t, err)
	everything(sb, true)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	sb, err = e2b.New(e2b.WithAPIKey(key), e2b.WithAPIURL(closed.URL), e2b.WithSandboxURL(closed.URL), e2b.WithLogger(logger))
	require.NoError(t, err)
	try(func() error { _, err := sb.Attach(ctx); return err })
	require.NoError(t, h.Destroy(ctx))

	require.Greater(t, len(rec.Errors()), 30, "the error paths were taken")
	require.Contains(t, fmt.Sprint(rec.Errors()), "[REDACTED]", "the echoes reached errors, redacted")
	require.NotEmpty(t, rec.Log())
	rec.Check(t, key, token, wrong)
}

func TestKilledElsewhere(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	h := attach(t, srv)
	other := attach(t, srv, e2b.WithID(h.ID()))
	require.NoError(t, other.Destroy(ctx))

	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateDestroyed, st)
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState, "envd's proxy answers 502: not running")
	require.NoError(t, h.Destroy(ctx), "destroying a gone sandbox is not an error")
}
