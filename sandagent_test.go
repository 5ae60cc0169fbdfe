package sandagent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
)

func TestSentinelsMatchTheStandardLibrary(t *testing.T) {
	require.ErrorIs(t, sandagent.ErrNotFound, fs.ErrNotExist)
	require.ErrorIs(t, sandagent.ErrUnsupported, errors.ErrUnsupported)
	require.ErrorIs(t, sandagent.ErrInvalid, fs.ErrInvalid)
	require.ErrorIs(t, sandagent.ErrClosed, fs.ErrClosed)
	require.NotErrorIs(t, sandagent.ErrNotFound, sandagent.ErrConflict)
	require.Equal(t, "sandagent: not found", sandagent.ErrNotFound.Error())
}

func TestErrorUnwrapsToKindAndCause(t *testing.T) {
	cause := context.DeadlineExceeded
	err := error(&sandagent.Error{Provider: "e2b", Op: "attach", Status: 429, Message: "slow down", Kind: sandagent.ErrRateLimited, RetryAfter: 3 * time.Second, Err: cause})
	require.ErrorIs(t, err, sandagent.ErrRateLimited)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 3*time.Second, e.RetryAfter)
	require.Equal(t, "sandagent: e2b: attach: HTTP 429: slow down (retry after 3s)", err.Error())

	require.Equal(t, "sandagent: local: read: not found", (&sandagent.Error{Provider: "local", Op: "read", Kind: sandagent.ErrNotFound}).Error())
	require.Equal(t, "sandagent: x: boom", (&sandagent.Error{Provider: "x", Err: errors.New("boom")}).Error())
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[sandagent.Outcome]string{sandagent.Created: "created", sandagent.Reused: "reused", sandagent.Resumed: "resumed", sandagent.Started: "started", 0: "Outcome(0)"} {
		require.Equal(t, want, o.String())
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	ctx := context.Background()
	for url, part := range map[string]string{
		"":                   "no scheme",
		"just-a-name":        "no scheme",
		"nosuch://x":         `unknown scheme "nosuch"`,
		"e2b://%zz?api_key=": "malformed",
	} {
		_, err := sandagent.Open(ctx, url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part)
	}
	// The URL may carry a secret: errors do not repeat it.
	_, err := sandagent.Open(ctx, "nosuch://x?key=s3cr3t-value")
	require.NotContains(t, err.Error(), "s3cr3t-value")
	_, err = sandagent.Open(ctx, "::s3cr3t-value")
	require.NotContains(t, err.Error(), "s3cr3t-value")
}

func TestRegisterTwicePanics(t *testing.T) {
	scheme := fmt.Sprintf("test-twice-%d", time.Now().UnixNano()) // -count=N reruns in one process
	sandagent.Register(scheme, func(u *url.URL) (sandagent.Sandbox, error) { return nil, nil })
	require.Panics(t, func() {
		sandagent.Register(scheme, func(u *url.URL) (sandagent.Sandbox, error) { return nil, nil })
	})
	require.Contains(t, sandagent.Schemes(), scheme)
}

// fake is a driver whose processes write what they are told.
type fake struct {
	driver.Handle  // methods not overridden panic
	stdout, stderr []byte
	code           int
	closed         int
}

type fakeProc struct {
	done chan struct{}
	code int
}

func (p *fakeProc) PID() int           { return 42 }
func (p *fakeProc) Wait() (int, error) { <-p.done; return p.code, nil }

func (f *fake) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	p := &fakeProc{done: make(chan struct{}), code: f.code}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = c.Stdout.Write(f.stdout) }()
		go func() { defer wg.Done(); _, _ = c.Stderr.Write(f.stderr) }()
		wg.Wait()
	}()
	return p, nil
}

func (f *fake) State(context.Context) (string, error) { return "running", nil }
func (f *fake) Close() error                          { f.closed++; return nil }

func newFake(f *fake) *sandagent.Handle {
	return sandagent.NewHandle(f, sandagent.Attachment{Provider: "fake", ID: "f-1", Workdir: "/work", Outcome: sandagent.Created})
}

func TestResultKeepsAtMostMaxOutput(t *testing.T) {
	big := bytes.Repeat([]byte("x"), sandagent.MaxOutput+10)
	h := newFake(&fake{stdout: big, stderr: []byte("small")})
	var seen countingWriter
	res, err := h.Exec(context.Background(), &sandagent.Cmd{Shell: "x", Stdout: &seen})
	require.NoError(t, err)
	require.Len(t, res.Stdout, sandagent.MaxOutput)
	require.True(t, res.StdoutTruncated)
	require.False(t, res.StderrTruncated)
	require.Equal(t, "small", string(res.Stderr))
	require.Equal(t, len(big), seen.n, "the writer gets everything")
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// racyWriter fails the race detector if written by two goroutines at once.
type racyWriter struct{ buf []byte }

func (w *racyWriter) Write(p []byte) (int, error) { w.buf = append(w.buf, p...); return len(p), nil }

func TestSameWriterIsSerialized(t *testing.T) {
	h := newFake(&fake{stdout: []byte("out"), stderr: []byte("err")})
	w := &racyWriter{}
	_, err := h.Exec(context.Background(), &sandagent.Cmd{Shell: "x", Stdout: w, Stderr: w})
	require.NoError(t, err)
	require.Len(t, w.buf, 6)
}

// funcWriter is not comparable: the Handle must not panic comparing it.
type funcWriter struct{ f func([]byte) }

func (w funcWriter) Write(p []byte) (int, error) { w.f(p); return len(p), nil }

func TestIncomparableWriters(t *testing.T) {
	h := newFake(&fake{stdout: []byte("out")})
	var mu sync.Mutex
	var got []byte
	w := funcWriter{func(p []byte) { mu.Lock(); got = append(got, p...); mu.Unlock() }}
	_, err := h.Exec(context.Background(), &sandagent.Cmd{Shell: "x", Stdout: w, Stderr: w})
	require.NoError(t, err)
	require.Equal(t, "out", string(got))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestFailingWriterIsReported(t *testing.T) {
	h := newFake(&fake{stdout: []byte("out")})
	res, err := h.Exec(context.Background(), &sandagent.Cmd{Shell: "x", Stdout: failingWriter{}})
	require.ErrorIs(t, err, io.ErrShortWrite)
	require.Equal(t, "out", string(res.Stdout), "the Result still has the output")
}

func TestExitErrorCarriesResult(t *testing.T) {
	h := newFake(&fake{stderr: []byte("boom"), code: 3})
	res, err := h.Exec(context.Background(), &sandagent.Cmd{Args: []string{"x"}})
	var ee *sandagent.ExitError
	require.ErrorAs(t, err, &ee)
	require.Same(t, res, ee.Result)
	require.Equal(t, "boom", string(ee.Stderr))
	require.Equal(t, "exit status 3", ee.Error())
	require.Equal(t, "command killed by a signal", (&sandagent.ExitError{Result: &sandagent.Result{ExitCode: -1}}).Error())
}

func TestUnsupportedOperations(t *testing.T) {
	h := newFake(&fake{})
	ctx := context.Background()
	for name, err := range map[string]error{
		"pause":       h.Pause(ctx),
		"stop":        h.Stop(ctx),
		"set-timeout": h.SetTimeout(ctx, time.Minute),
	} {
		require.ErrorIs(t, err, sandagent.ErrUnsupported, name)
		require.ErrorIs(t, err, errors.ErrUnsupported, name)
		require.Contains(t, err.Error(), "fake", name)
	}
	p, err := h.Start(ctx, &sandagent.Cmd{Shell: "x"})
	require.NoError(t, err)
	require.ErrorIs(t, p.Signal(ctx, os.Interrupt), sandagent.ErrUnsupported)
	require.False(t, h.As(new(string)))
}

func TestHandleBasics(t *testing.T) {
	f := &fake{}
	h := newFake(f)
	require.Equal(t, "f-1", h.ID())
	require.Equal(t, "fake", h.Provider())
	require.Equal(t, "/work", h.Workdir())
	require.Equal(t, sandagent.Created, h.Outcome())
	require.NoError(t, h.Close())
	require.NoError(t, h.Close())
	require.Equal(t, 1, f.closed, "the driver is closed once")
	_, err := h.State(context.Background())
	require.ErrorIs(t, err, sandagent.ErrClosed)
	require.True(t, strings.HasPrefix(err.Error(), "sandagent: fake: state"))
}

func TestLazyWorkdir(t *testing.T) {
	calls := 0
	h := sandagent.NewHandle(&fake{}, sandagent.Attachment{Provider: "fake", LookupWorkdir: func(context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", errors.New("not yet")
		}
		return "/home/user", nil
	}})
	require.Zero(t, calls, "no lookup at attach")
	require.Equal(t, "", h.Workdir(), "a failed lookup")
	require.Equal(t, "/home/user", h.Workdir())
	require.Equal(t, "/home/user", h.Workdir())
	require.Equal(t, 2, calls, "looked up until it succeeded, then kept")
}

// fakeManager lists fixed sandboxes and records kills.
type fakeManager struct {
	sandagent.Sandbox
	infos  []sandagent.Info
	killed []string
	err    error
}

func (m *fakeManager) Managed(context.Context) iter.Seq2[sandagent.Info, error] {
	return func(yield func(sandagent.Info, error) bool) {
		for _, i := range m.infos {
			if !yield(i, nil) {
				return
			}
		}
		if m.err != nil {
			yield(sandagent.Info{}, m.err)
		}
	}
}

func (m *fakeManager) Kill(_ context.Context, id string) error {
	m.killed = append(m.killed, id)
	return nil
}

func TestReapSelects(t *testing.T) {
	now := time.Now()
	m := &fakeManager{infos: []sandagent.Info{
		{ID: "old-ci", CreatedAt: now.Add(-48 * time.Hour), Labels: map[string]string{"env": "ci"}},
		{ID: "new-ci", CreatedAt: now.Add(-time.Minute), Labels: map[string]string{"env": "ci"}},
		{ID: "old-prod", CreatedAt: now.Add(-48 * time.Hour), Labels: map[string]string{"env": "prod"}},
		{ID: "ageless", Labels: map[string]string{"env": "ci"}},
	}}
	ids := func(infos []sandagent.Info) (out []string) {
		for _, i := range infos {
			out = append(out, i.ID)
		}
		return out
	}
	got, err := sandagent.Reap(context.Background(), m, sandagent.ReapOptions{OlderThan: time.Hour})
	require.NoError(t, err)
	require.Equal(t, []string{"old-ci", "old-prod"}, ids(got))
	require.Empty(t, m.killed, "a dry run kills nothing")

	got, err = sandagent.Reap(context.Background(), m, sandagent.ReapOptions{OlderThan: time.Hour, Labels: map[string]string{"env": "ci"}, Apply: true})
	require.NoError(t, err)
	require.Equal(t, []string{"old-ci"}, ids(got))
	require.Equal(t, []string{"old-ci"}, m.killed)

	m.err = sandagent.ErrAuth
	_, err = sandagent.Reap(context.Background(), m, sandagent.ReapOptions{})
	require.ErrorIs(t, err, sandagent.ErrAuth)
}

// Exit status 127, the shell's "not found", is the one outcome of a missing
// program on every provider: it matches ErrNotFound, other codes do not.
func TestExitError127IsNotFound(t *testing.T) {
	for code, want := range map[int]bool{127: true, 1: false, -1: false, 126: false} {
		err := error(&sandagent.ExitError{Result: &sandagent.Result{ExitCode: code}})
		require.Equal(t, want, errors.Is(err, sandagent.ErrNotFound), "exit %d", code)
		require.Equal(t, want, errors.Is(err, fs.ErrNotExist), "exit %d", code)
		require.False(t, errors.Is(err, sandagent.ErrInvalid))
	}
}
