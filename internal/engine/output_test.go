//go:build unix

package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowWriter takes its time over every Write, as a slow network peer does.
type slowWriter struct {
	n     int
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.n += len(p)
	return len(p), nil
}

func newSandbox(t *testing.T) *Sandbox {
	t.Helper()
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb, err := e.Create(Spec{}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Destroy() })
	return sb
}

// Every byte reaches a slow writer before Wait returns.
func TestSlowWriterGetsEveryByte(t *testing.T) {
	sb := newSandbox(t)
	w := &slowWriter{delay: 50 * time.Millisecond}
	p, err := sb.Spawn(context.Background(), Cmd{Shell: "head -c 200000 /dev/zero", Stdout: w})
	require.NoError(t, err)
	code, err := p.Wait()
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, 200000, w.n)
}

// A background child that keeps stdout open keeps the command running until
// it closes it; one whose output is redirected does not.
func TestCommandEndsWhenItsOutputEnds(t *testing.T) {
	sb := newSandbox(t)
	var out bytes.Buffer
	// The child writes after its parent has exited: it is still the command's.
	p, err := sb.Spawn(context.Background(), Cmd{Shell: `mkfifo fifo && { (read x < fifo; echo late) & echo early; }`, Stdout: &out})
	require.NoError(t, err)
	for procStart(p.PID()) != "" { // the shell has exited (a zombie counts)
		time.Sleep(time.Millisecond)
	}
	select {
	case <-p.Done():
		t.Fatal("ended while a child held its stdout")
	default:
	}
	f, err := sb.Spawn(context.Background(), Cmd{Shell: `while [ ! -p fifo ]; do sleep 0.01; done; echo go > fifo`})
	require.NoError(t, err)
	_, err = f.Wait()
	require.NoError(t, err)
	code, err := p.Wait()
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "early\nlate\n", out.String())

	out.Reset()
	p, err = sb.Spawn(context.Background(), Cmd{Shell: `sleep 600 >/dev/null 2>&1 & echo started`, Stdout: &out})
	require.NoError(t, err)
	_, err = p.Wait()
	require.NoError(t, err)
	require.Equal(t, "started\n", out.String())
}

// A command killed by its ctx ends even when a process that left its group
// holds its output.
func TestKilledCommandEndsDespiteEscapedHolder(t *testing.T) {
	sb := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := newLineWaiter("up")
	p, err := sb.Spawn(ctx, Cmd{Shell: `setsid sleep 600 & echo up; wait`, Stdout: w})
	require.NoError(t, err)
	<-w.seen
	cancel()
	code, err := p.Wait()
	require.NoError(t, err)
	require.Equal(t, -1, code)
	require.NoError(t, sb.Stop())
}

type lineWaiter struct {
	want string
	buf  bytes.Buffer
	seen chan struct{}
}

func newLineWaiter(want string) *lineWaiter {
	return &lineWaiter{want: want + "\n", seen: make(chan struct{})}
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	had := strings.Contains(w.buf.String(), w.want)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
	}
	return len(p), nil
}
