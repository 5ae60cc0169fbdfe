//go:build unix

package e2b_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
)

// ping is the keepalive interval the stall tests ask for: a stream silent
// for e2b.StallBound(ping) (220 ms) stalls.
const ping = 100 * time.Millisecond

// native returns the Native of h.
func native(t *testing.T, h *sandagent.Handle) *e2b.Native {
	t.Helper()
	var n e2b.Native
	require.True(t, h.As(&n))
	return &n
}

func TestStalledStreamTimesOut(t *testing.T) {
	for _, after := range []int{0, 1} { // silent after the start event, after one data event
		t.Run(strconv.Itoa(after), func(t *testing.T) {
			srv := server(t)
			h := attach(t, srv, e2b.WithKeepalivePing(ping))
			n := native(t, h)
			requests(srv)

			srv.StallStreams(after)
			var out bytes.Buffer
			begin := time.Now()
			p, err := h.Start(t.Context(), &sandagent.Cmd{Args: []string{"sh", "-c", "echo one; exec sleep 30"}, Stdout: &out})
			require.NoError(t, err)
			res, err := p.Wait()
			took := time.Since(begin)
			require.ErrorIs(t, err, sandagent.ErrTimeout)
			require.ErrorContains(t, err, "stalled: no data or keepalive for 220ms")
			require.ErrorContains(t, err, "may still be running")
			require.Equal(t, -1, res.ExitCode)
			require.GreaterOrEqual(t, took, e2b.StallBound(ping))
			require.Less(t, took, time.Second)
			if after == 1 {
				require.Equal(t, "one\n", out.String())
			}
			require.ElementsMatch(t, []string{"POST /process.Process/Start", "POST /process.Process/Start", "POST /process.Process/SendSignal", "POST /process.Process/Connect"}, requests(srv),
				"one stream, then the kill: the pid's, its group's by a second command, and the wait for its end")

			// The kill took: envd reports the process killed (-1).
			code, err := n.ConnectProcess(t.Context(), p.PID(), nil, nil)
			require.NoError(t, err)
			require.Equal(t, -1, code)
		})
	}
}

// chatty starts an emulator that sends keepalives every 20 ms.
func chatty(t *testing.T) *e2btest.Server {
	srv := e2btest.NewServer(e2btest.WithKeepaliveInterval(20 * time.Millisecond))
	t.Cleanup(srv.Close)
	return srv
}

func TestKeepalivesKeepSilentStreamAlive(t *testing.T) {
	srv := chatty(t)
	h := attach(t, srv, e2b.WithKeepalivePing(ping))

	// Silent for twice the stall bound, but for keepalives.
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Args: []string{"sh", "-c", "sleep 0.5; echo done"}})
	require.NoError(t, err)
	require.Equal(t, "done\n", string(res.Stdout))
	require.Greater(t, res.Duration, e2b.StallBound(ping))
}

func TestStalledConnectLeavesProcess(t *testing.T) {
	srv := chatty(t) // the Start stream must not stall meanwhile
	h := attach(t, srv, e2b.WithKeepalivePing(ping))
	n := native(t, h)
	stdin, w := io.Pipe()
	p, err := h.Start(t.Context(), &sandagent.Cmd{Args: []string{"sh", "-c", "read x; exit 3"}, Stdin: stdin})
	require.NoError(t, err)
	requests(srv)

	srv.StallStreams(0)
	code, err := n.ConnectProcess(t.Context(), p.PID(), nil, nil)
	require.ErrorIs(t, err, sandagent.ErrTimeout)
	require.ErrorContains(t, err, "stalled")
	require.Equal(t, -1, code)
	require.Equal(t, []string{"POST /process.Process/Connect"}, requests(srv), "an observer kills nothing")

	// The process runs on, to its own end.
	_, _ = w.Write([]byte("go\n"))
	require.NoError(t, w.Close())
	res, err := p.Wait()
	var ee *sandagent.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, res.ExitCode)
}

func TestConnectProcess(t *testing.T) {
	srv := server(t)
	h1 := attach(t, srv)
	h2 := attach(t, srv, e2b.WithID(h1.ID()))
	n := native(t, h2)

	started := &signalWriter{ch: make(chan struct{})}
	p, err := h1.Start(t.Context(), &sandagent.Cmd{Args: []string{"sh", "-c", "echo one; sleep 0.3; echo two; echo err >&2; exit 4"}, Stdout: started})
	require.NoError(t, err)
	<-started.ch // "one" is out: Connect sees only what follows
	requests(srv)

	var out, errOut bytes.Buffer
	code, err := n.ConnectProcess(t.Context(), p.PID(), &out, &errOut)
	require.NoError(t, err, "a non-zero exit is no error")
	require.Equal(t, 4, code)
	require.Equal(t, "two\n", out.String())
	require.Equal(t, "err\n", errOut.String())
	require.Equal(t, []string{"POST /process.Process/Connect"}, requests(srv), "1 stream per connect")

	res, err := p.Wait()
	require.Error(t, err)
	require.Equal(t, 4, res.ExitCode)
	require.Equal(t, "one\ntwo\n", string(res.Stdout), "the starter saw it all")

	// The exit stays known for a late connect.
	code, err = n.ConnectProcess(t.Context(), p.PID(), nil, nil)
	require.NoError(t, err)
	require.Equal(t, 4, code)
	requests(srv)

	_, err = n.ConnectProcess(t.Context(), 1<<30, nil, nil)
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.Equal(t, []string{"POST /process.Process/Connect"}, requests(srv))

	_, err = n.ConnectProcess(t.Context(), 0, nil, nil)
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.Empty(t, requests(srv))

	_, err = (&e2b.Native{}).ConnectProcess(t.Context(), 1, nil, nil)
	require.ErrorIs(t, err, sandagent.ErrInvalid)
}

func TestConnectCancelLeavesProcess(t *testing.T) {
	srv := server(t)
	h := attach(t, srv)
	n := native(t, h)
	stdin, w := io.Pipe()
	p, err := h.Start(t.Context(), &sandagent.Cmd{Args: []string{"sh", "-c", "read x; echo after; exit 5"}, Stdin: stdin})
	require.NoError(t, err)
	requests(srv)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	code, err := n.ConnectProcess(ctx, p.PID(), nil, nil)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	require.Equal(t, -1, code)
	require.Equal(t, []string{"POST /process.Process/Connect"}, requests(srv), "no kill")

	_, _ = w.Write([]byte("go\n"))
	require.NoError(t, w.Close())
	res, _ := p.Wait()
	require.Equal(t, 5, res.ExitCode, "the process ran on")
	require.Equal(t, "after\n", string(res.Stdout))
}

func TestListProcesses(t *testing.T) {
	srv := server(t)
	h := attach(t, srv)
	n := native(t, h)
	ctx, cancel := context.WithCancel(t.Context())
	p, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"sleep", "30"}})
	require.NoError(t, err)
	requests(srv)

	ps, err := n.ListProcesses(t.Context())
	require.NoError(t, err)
	require.Equal(t, []e2b.ProcessInfo{{PID: p.PID(), Cmd: "sleep", Args: []string{"30"}}}, ps)
	require.Equal(t, []string{"POST /process.Process/List"}, requests(srv))

	cancel()
	_, err = p.Wait()
	require.ErrorIs(t, err, context.Canceled)
	code, err := n.ConnectProcess(t.Context(), p.PID(), nil, nil) // until it is gone
	require.NoError(t, err)
	require.Equal(t, -1, code, "killed")
	ps, err = n.ListProcesses(t.Context())
	require.NoError(t, err)
	require.Empty(t, ps)
}

// signalWriter closes ch at its first write.
type signalWriter struct {
	ch   chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(b), nil
}
