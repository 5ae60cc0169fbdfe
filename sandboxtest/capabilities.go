package sandboxtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// The optional capabilities beyond commands and files.
const (
	URL      Capability = "url"      // Handle.URL reaches a server listening in the sandbox
	PTY      Capability = "pty"      // Handle.StartPTY: a terminal, with input, output and resize
	Fork     Capability = "fork"     // Handle.Fork copies the sandbox's files into new sandboxes
	Snapshot Capability = "snapshot" // Handle.Snapshot, and New creates from it (Options.Snapshot)
)

func (s *suite) testCapabilities(t *testing.T) {
	t.Run("URLReachesAServerInTheSandbox", s.testURL)
	t.Run("PTY", s.testPTY)
	t.Run("PTYCloseKills", s.testPTYClose)
	t.Run("ForkCopiesFiles", s.testFork)
	t.Run("SnapshotThenCreateFromIt", s.testSnapshot)
}

// capabilityErr calls c's method, for testUnsupported, and reports
// whether c is one of these capabilities.
func capabilityErr(ctx context.Context, h *sandagent.Handle, c Capability) (checked bool, err error) {
	switch c {
	case URL:
		_, err = h.URL(ctx, 8000)
	case PTY:
		_, err = h.StartPTY(ctx, &sandagent.Cmd{Shell: "true"}, sandagent.TermSize{Rows: 24, Cols: 80})
	case Fork:
		_, err = h.Fork(ctx, 1)
	case Snapshot:
		_, err = h.Snapshot(ctx, "sandboxtest")
	default:
		return false, nil
	}
	return true, err
}

func (s *suite) testURL(t *testing.T) {
	s.need(t, URL)
	t.Parallel()
	h := s.fresh(t)
	ctx := s.ctx(t)
	if _, err := h.Exec(ctx, &sandagent.Cmd{Shell: "command -v python3"}); err != nil {
		t.Skipf("python3 is not installed in the sandbox: %v", err)
	}
	const page = "<h1>served from the sandbox</h1>\n"
	require.NoError(t, h.WriteFile(ctx, "site/index.html", []byte(page)))

	// A port free on this machine: local sandboxes share its network.
	port := freePort(t)
	sctx, stop := context.WithCancel(ctx)
	srv, err := h.Start(sctx, &sandagent.Cmd{Args: []string{"python3", "-m", "http.server", strconv.Itoa(port)}, Dir: "site"})
	require.NoError(t, err)
	t.Cleanup(func() { stop(); _, _ = srv.Wait() })

	ep, err := h.URL(ctx, port)
	require.NoError(t, err)
	require.Regexp(t, `^https?://[^/]+$`, ep.URL, "an absolute URL with no path")

	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	// Poll until the server answers; a proxy may answer 502 until then.
	var last string
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		req, err := ep.NewRequest(ctx, http.MethodGet, "/index.html", nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				require.Equal(t, page, string(body), "GET through the URL returns the file written with WriteFile")
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-srv.Done():
			res, err := srv.Wait()
			t.Fatalf("the server exited (%v): %s", err, res.Stderr)
		case <-ctx.Done():
			t.Fatalf("no answer from %s: %s", ep, last)
		case <-time.After(delay):
		}
	}
}

// freePort returns a TCP port that nothing on this machine listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *suite) testPTY(t *testing.T) {
	s.need(t, PTY)
	t.Parallel()
	h := s.fresh(t)
	ctx := s.ctx(t)
	p, err := h.StartPTY(ctx, &sandagent.Cmd{Shell: `tty; stty size; read line; stty size; echo "got $line"`}, sandagent.TermSize{Rows: 24, Cols: 80})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	scr := watch(p)
	scr.waitFor(t, ctx, regexp.MustCompile(`/dev/pts/\d+`), "tty names the terminal")
	scr.waitFor(t, ctx, regexp.MustCompile(`24 80`), "stty size: the size StartPTY gave")
	require.NoError(t, p.Resize(ctx, sandagent.TermSize{Rows: 40, Cols: 100}))
	_, err = p.Write([]byte("typed\n"))
	require.NoError(t, err)
	scr.waitFor(t, ctx, regexp.MustCompile(`40 100`), "stty size follows the resize")
	scr.waitFor(t, ctx, regexp.MustCompile(`got typed`), "the command reads what was written")
	res, err := p.Wait()
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode)
	scr.waitEOF(t, ctx)
}

func (s *suite) testPTYClose(t *testing.T) {
	s.need(t, PTY)
	t.Parallel()
	h := s.fresh(t)
	ctx := s.ctx(t)
	p, err := h.StartPTY(ctx, &sandagent.Cmd{Shell: "echo ready; exec sleep 600"}, sandagent.TermSize{Rows: 24, Cols: 80})
	require.NoError(t, err)
	scr := watch(p)
	scr.waitFor(t, ctx, regexp.MustCompile(`ready`), "output before Close")
	require.NoError(t, p.Close())
	res, err := p.Wait()
	var ee *sandagent.ExitError
	require.ErrorAs(t, err, &ee, "Close kills the command")
	require.NotEqual(t, 0, res.ExitCode)
	require.NoError(t, p.Close(), "closing twice")
	scr.waitEOF(t, ctx)
}

// screen collects what a PTY shows, for waiting on.
type screen struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every change
	err     error         // Read's final error
}

func watch(r io.Reader) *screen {
	s := &screen{changed: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			if err != nil {
				s.err = err
			}
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitFor waits until the screen matches re.
func (s *screen) waitFor(t *testing.T, ctx context.Context, re *regexp.Regexp, what string) {
	t.Helper()
	s.wait(t, ctx, what, func() bool { return re.Match(s.buf.Bytes()) })
}

// waitEOF waits until Read returns io.EOF.
func (s *screen) waitEOF(t *testing.T, ctx context.Context) {
	t.Helper()
	s.wait(t, ctx, "io.EOF after the command ended", func() bool { return errors.Is(s.err, io.EOF) })
}

func (s *screen) wait(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for {
		s.mu.Lock()
		done, err, changed := ok(), s.err, s.changed
		shown := s.buf.String()
		s.mu.Unlock()
		switch {
		case done:
			return
		case err != nil:
			t.Fatalf("%s: the terminal ended (%v) showing %q", what, err, shown)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%s: not seen; the terminal shows %q", what, shown)
		}
	}
}

func (s *suite) testFork(t *testing.T) {
	s.need(t, Fork)
	t.Parallel()
	h := s.fresh(t)
	ctx := s.ctx(t)
	require.NoError(t, h.WriteFile(ctx, "before.txt", []byte("parent")))
	kids, err := h.Fork(ctx, 2)
	require.NoError(t, err)
	require.Len(t, kids, 2)
	ids := map[string]bool{h.ID(): true}
	for _, k := range kids {
		s.destroyLater(t, Options{}, k)
		require.False(t, ids[k.ID()], "every child has an id of its own")
		ids[k.ID()] = true
		require.Equal(t, sandagent.Created, k.Outcome())
		if h.Name() != "" {
			require.NotEqual(t, h.Name(), k.Name(), "a child never takes the parent's name")
		}
		res, err := k.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "before.txt"}})
		require.NoError(t, err)
		require.Equal(t, "parent", string(res.Stdout), "a file written before Fork is in every child")
	}
	require.NoError(t, kids[0].WriteFile(ctx, "child0.txt", []byte("0")))
	require.NoError(t, h.WriteFile(ctx, "after.txt", []byte("p")))
	for name, hs := range map[string][]*sandagent.Handle{
		"child0.txt": {h, kids[1]},
		"after.txt":  kids,
	} {
		for _, other := range hs {
			_, err := other.Stat(ctx, name)
			require.ErrorIs(t, err, sandagent.ErrNotFound, "%s written in one sandbox is not in %s", name, other.ID())
		}
	}

	// Each child is a sandbox of its own, reattachable by id; the parent's
	// name still attaches the parent.
	k := s.attach(t, Options{ID: kids[0].ID()})
	got, err := k.ReadFile(ctx, "child0.txt")
	require.NoError(t, err)
	require.Equal(t, "0", string(got))
	if h.Name() != "" {
		p := s.attach(t, Options{Name: h.Name()})
		require.Equal(t, h.ID(), p.ID(), "attaching the parent's name finds the parent")
	}
}

func (s *suite) testSnapshot(t *testing.T) {
	s.need(t, Snapshot)
	t.Parallel()
	h := s.fresh(t)
	ctx := s.ctx(t)
	require.NoError(t, h.WriteFile(ctx, "saved.txt", []byte("before the snapshot")))
	id, err := h.Snapshot(ctx, uniqueName())
	require.NoError(t, err)
	require.NotEmpty(t, id)
	require.NoError(t, h.WriteFile(ctx, "saved.txt", []byte("after the snapshot")))

	h2 := s.attach(t, Options{Snapshot: id})
	require.Equal(t, sandagent.Created, h2.Outcome())
	require.NotEqual(t, h.ID(), h2.ID())
	res, err := h2.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "saved.txt"}})
	require.NoError(t, err)
	require.Equal(t, "before the snapshot", string(res.Stdout), "a sandbox created from the snapshot has its files")
}
