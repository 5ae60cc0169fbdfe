package sandock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/httpx"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// pidPrefix starts the line the command line prints to stderr first: the
// process id, for kill and signals.
const pidPrefix = "sandagent-pid:"

// killGrace bounds how long a cancelled command waits for its pid line and
// then for its stream to end after the kill.
const killGrace = 5 * time.Second

// commandLine wraps c for the shell endpoint: print the pid, then exec the
// command (so the pid stays the command's) with stdin from /dev/null.
func commandLine(c *driver.Cmd) string {
	run := "exec " + shellquote.Quote(c.Args)
	if len(c.Args) == 0 {
		run = "exec /bin/sh -c " + shellquote.One(c.Shell)
	}
	return "printf '" + pidPrefix + "%d\\n' $$ >&2; " + run + " </dev/null"
}

func timeoutMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	if c.Stdin != nil {
		return nil, sandagent.Errorf(sandagent.ErrUnsupported, "sandock cannot stream stdin: its shell API takes input only as one string before the command runs")
	}
	limit := c.Timeout
	if limit <= 0 {
		limit = h.execTimeout
	}
	req := shellRequest{Cmd: commandLine(c), TimeoutMs: timeoutMs(limit), Workdir: c.Dir, Env: c.Env}
	// The stream outlives ctx: when ctx ends, the process is killed first
	// and its exit event still read.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	body, err := h.api.shellStream(sctx, h.id, req)
	if err != nil {
		cancel()
		return nil, err
	}
	p := &process{
		h:         h,
		cancel:    cancel,
		pidKnown:  make(chan struct{}),
		streamEnd: make(chan struct{}),
		killDone:  make(chan struct{}),
		done:      make(chan struct{}),
	}
	p.stopKill = context.AfterFunc(ctx, p.kill)
	go p.run(body, c.Stdout, c.Stderr)
	return p, nil
}

// process is a command running through the SSE endpoint.
type process struct {
	h        *handle
	cancel   context.CancelFunc // ends the stream
	stopKill func() bool

	pid       atomic.Int64
	pidOnce   sync.Once
	pidKnown  chan struct{} // closed when the pid is known
	streamEnd chan struct{} // closed when the stream has ended
	killDone  chan struct{} // closed when kill has returned
	killed    atomic.Bool
	done      chan struct{}
	code      int
	err       error
}

var _ driver.Signaler = (*process)(nil)

func (p *process) PID() int { return int(p.pid.Load()) }

func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

func (p *process) setPID(pid int) {
	p.pidOnce.Do(func() {
		p.pid.Store(int64(pid))
		close(p.pidKnown)
	})
}

func (p *process) run(body io.ReadCloser, stdout, stderr io.Writer) {
	defer close(p.done)
	errw := &pidFilter{w: stderr, set: p.setPID}
	ev, err := readEvents(body, stdout, errw)
	errw.flush()
	_ = body.Close()
	close(p.streamEnd)
	if !p.stopKill() { // the kill has started: let it finish
		<-p.killDone
	}
	p.cancel()
	killed := p.killed.Load()
	switch {
	case ev.exit != nil:
		p.code = -1
		if ev.exit.ExitCode != nil {
			p.code = *ev.exit.ExitCode
		}
		if ev.exit.TimedOut && !killed {
			p.err = sandagent.Errorf(sandagent.ErrTimeout, "command timed out on the server after %.0f ms", ev.exit.DurationMs)
		}
	case killed:
		p.code = -1 // the caller's ctx ended; the Handle reports it
	case ev.errMsg != "":
		p.code, p.err = -1, &sandagent.Error{Op: "exec", Message: ev.errMsg}
	case err != nil:
		p.code, p.err = -1, httpx.Dropped(ProviderName, "exec", err)
	default:
		p.code, p.err = -1, httpx.Dropped(ProviderName, "exec", errors.New("the output stream ended before the command's exit event"))
	}
}

// kill runs when the caller's ctx ends: it waits (briefly) for the pid,
// kills the process through the shell endpoint, then (briefly) for the
// stream to end, and cuts it if it does not.
func (p *process) kill() {
	defer close(p.killDone)
	p.killed.Store(true)
	select {
	case <-p.pidKnown:
		ctx, cancel := context.WithTimeout(context.Background(), killGrace)
		_ = p.h.signal(ctx, p.PID(), syscall.SIGKILL)
		cancel()
	case <-p.streamEnd:
		return
	case <-time.After(killGrace):
		p.cancel() // the command never said its pid: nothing to kill
		return
	}
	select {
	case <-p.streamEnd:
	case <-time.After(killGrace):
		p.cancel()
	}
}

func (p *process) Signal(ctx context.Context, sig os.Signal) error {
	select {
	case <-p.pidKnown:
	case <-p.done:
		return sandagent.Errorf(sandagent.ErrNotFound, "the process has exited")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.streamEnd:
		return sandagent.Errorf(sandagent.ErrNotFound, "process %d has exited", p.PID())
	default:
	}
	return p.h.signal(ctx, p.PID(), sig)
}

// signal sends sig to the process group led by pid, or else to pid.
func (h *handle) signal(ctx context.Context, pid int, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return sandagent.Errorf(sandagent.ErrUnsupported, "signal %v", sig)
	}
	n := strconv.Itoa(int(s))
	id := strconv.Itoa(pid)
	res, err := h.api.shell(ctx, "signal", h.id, shellRequest{
		Cmd:       "kill -" + n + " -" + id + " 2>/dev/null || kill -" + n + " " + id + " 2>/dev/null",
		TimeoutMs: timeoutMs(killGrace),
	}, false)
	if err != nil {
		return err
	}
	if res.ExitCode == nil || *res.ExitCode != 0 {
		return sandagent.Errorf(sandagent.ErrNotFound, "process %d has exited", pid)
	}
	return nil
}

// event is one SSE event of the shell stream.
type event struct {
	Type       string  `json:"type"` // stdout, stderr, exit, error
	Data       string  `json:"data"`
	ExitCode   *int    `json:"exitCode"`
	TimedOut   bool    `json:"timedOut"`
	DurationMs float64 `json:"durationMs"`
	Message    string  `json:"message"`
}

type streamEnd struct {
	exit   *event
	errMsg string
}

// readEvents reads the stream until [DONE] or its end, writing output as
// it arrives. Lines other than "data:" lines (comments, keep-alives, event
// names) are skipped, as the official SDK does.
func readEvents(r io.Reader, stdout, stderr io.Writer) (streamEnd, error) {
	var end streamEnd
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data:")); ok {
			data = bytes.TrimPrefix(data, []byte(" "))
			if string(data) == "[DONE]" {
				return end, nil
			}
			var ev event
			if json.Unmarshal(data, &ev) == nil {
				switch ev.Type {
				case "stdout":
					_, _ = io.WriteString(stdout, ev.Data)
				case "stderr":
					_, _ = io.WriteString(stderr, ev.Data)
				case "exit":
					end.exit = &ev
				case "error":
					end.errMsg = ev.Message
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && end.exit != nil {
				return end, nil
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return end, err
		}
	}
}

// pidFilter passes stderr through, minus its first line when that is the
// pid line.
type pidFilter struct {
	w    io.Writer
	set  func(int)
	buf  []byte
	seen bool
}

func (f *pidFilter) Write(b []byte) (int, error) {
	if f.seen {
		return f.w.Write(b)
	}
	f.buf = append(f.buf, b...)
	i := bytes.IndexByte(f.buf, '\n')
	if i < 0 && len(f.buf) < 64 {
		return len(b), nil
	}
	f.seen = true
	rest := f.buf
	if i >= 0 {
		if v, ok := strings.CutPrefix(string(f.buf[:i]), pidPrefix); ok {
			if pid, err := strconv.Atoi(v); err == nil && pid > 0 {
				f.set(pid)
				rest = f.buf[i+1:]
			}
		}
	}
	f.buf = nil
	if len(rest) > 0 {
		if _, err := f.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// flush writes what is held back, at the end of the stream.
func (f *pidFilter) flush() {
	if !f.seen && len(f.buf) > 0 {
		_, _ = f.w.Write(f.buf)
	}
	f.seen, f.buf = true, nil
}
