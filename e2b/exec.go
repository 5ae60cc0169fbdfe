package e2b

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
)

// stdinChunk is the most stdin one SendInput carries.
const stdinChunk = 64 << 10

// Start runs c with Process.Start and returns once envd reports the pid.
// The stream then delivers output and, at the end, the exit code.
func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	argv := c.Args
	if c.Shell != "" {
		argv = []string{"/bin/bash", "-l", "-c", c.Shell}
	}
	// The command leads a process group of its own, so that a kill reaches
	// its children too: envd signals the pid alone.
	cfg := &process.ProcessConfig{Envs: c.Env, Cmd: "/bin/sh", Args: append([]string{"-c", groupScript, "sh"}, argv...)}
	if c.Dir != "" {
		cfg.Cwd = proto.String(c.Dir)
	}
	req := connect.NewRequest(&process.StartRequest{Process: cfg, Stdin: proto.Bool(c.Stdin != nil)})
	req.Header().Set(keepaliveHeader, keepalivePing(h.keepalive))
	// ctx's deadline (Cmd.Timeout's, or the caller's) goes as
	// Connect-Timeout-Ms, which envd applies to the process.
	sctx, w := h.watch(ctx)
	stream, err := h.proc.Start(sctx, req)
	if err != nil {
		return nil, h.startErr(ctx, w.stop(err))
	}
	evs := newEvents(w, stream)
	var pid uint32
	for pid == 0 {
		ev := evs.next()
		if ev == nil {
			err := evs.end()
			if err == nil {
				err = errors.New("the output stream ended before the process started")
			}
			return nil, h.startErr(ctx, err)
		}
		if st := ev.GetStart(); st != nil {
			pid = st.GetPid()
			if pid == 0 {
				_ = evs.end()
				return nil, h.wrap("exec", sandagent.Errorf(nil, "envd reported pid 0"))
			}
		}
	}
	p := &proc{h: h, pid: pid, done: make(chan struct{})}
	go p.run(ctx, evs, c.Stdout, c.Stderr)
	if c.Stdin != nil {
		go p.feed(ctx, c.Stdin)
	}
	return p, nil
}

func (h *handle) startErr(ctx context.Context, err error) error {
	err = h.rpcErr(ctx, "exec", err)
	if spawnFailed(err) { // envd before 0.5.4: the Handle makes it exit 127
		var e *sandagent.Error
		errors.As(err, &e)
		c := *e
		c.Kind, c.Err = sandagent.ErrNotFound, driver.ErrProgramNotFound
		return &c
	}
	return err
}

// proc is a process started through envd.
type proc struct {
	h    *handle
	pid  uint32
	done chan struct{} // closed when the stream has ended

	// Set before done is closed.
	code int
	err  error

	mu       sync.Mutex
	stdinErr error
}

var _ driver.Signaler = (*proc)(nil)

func (p *proc) PID() int { return int(p.pid) }

// Wait waits for the end of the output stream.
func (p *proc) Wait() (int, error) {
	<-p.done
	if p.err != nil {
		return p.code, p.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.code == 0 && p.stdinErr != nil {
		return 0, p.stdinErr
	}
	return p.code, nil
}

// run delivers the output and records the end. When ctx ends first, or
// the stream stalls or breaks, the process is killed: envd keeps running a
// process whose stream went away, and nobody would watch it.
func (p *proc) run(ctx context.Context, evs *events, stdout, stderr io.Writer) {
	defer close(p.done)
	code, exited, err := evs.copyOut(stdout, stderr)
	p.code = code
	if exited {
		// Killed by envd at the deadline: let ctx catch up so that the
		// caller sees the timeout rather than a bare signal.
		if dl, ok := ctx.Deadline(); ok && code == -1 && time.Until(dl) < 100*time.Millisecond {
			<-ctx.Done()
		}
		if ctx.Err() != nil { // envd killed the pid alone: its children too
			kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
			defer cancel()
			p.h.signalGroup(kctx, p.pid, process.Signal_SIGNAL_SIGKILL)
		}
		return
	}
	p.kill(ctx)
	p.err = p.h.streamErr(ctx, "exec", err)
}

// groupScript runs "$@" as the leader of a new session and process group
// (setsid(1) execs it in place, keeping the pid, since envd's processes
// lead no group), where the sandbox has setsid; else as is.
const groupScript = `command -v setsid >/dev/null 2>&1 && exec setsid "$@"; exec "$@"`

// groupKillScript sends the signal $1 to the process group $2.
const groupKillScript = `kill -s "$1" -- "-$2" 2>/dev/null; exit 0`

// killTimeout bounds the SIGKILL sent when a stream ends early.
const killTimeout = 10 * time.Second

// kill sends SIGKILL to the process and its group, even after ctx ended,
// and waits (within killTimeout) until envd reports the process ended, so
// that Wait returns once it is gone. Failures are ignored: the process may
// be gone already.
func (p *proc) kill(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
	defer cancel()
	if p.signal(ctx, process.Signal_SIGNAL_SIGKILL) != nil {
		return
	}
	// Connect answers start and, once the process has been reaped, end.
	stream, err := p.h.proc.Connect(ctx, connect.NewRequest(&process.ConnectRequest{Process: p.selector()}))
	if err != nil {
		return
	}
	for stream.Receive() && stream.Msg().GetEvent().GetEnd() == nil {
	}
	_ = stream.Close()
}

// Signal sends SIGTERM or SIGKILL, the signals envd knows.
func (p *proc) Signal(ctx context.Context, sig os.Signal) error {
	var s process.Signal
	switch sig {
	case syscall.SIGKILL:
		s = process.Signal_SIGNAL_SIGKILL
	case syscall.SIGTERM:
		s = process.Signal_SIGNAL_SIGTERM
	default:
		return sandagent.Errorf(sandagent.ErrUnsupported, "envd sends SIGTERM and SIGKILL only, not %v", sig)
	}
	select {
	case <-p.done:
		return sandagent.Errorf(sandagent.ErrNotFound, "process %d has exited", p.pid)
	default:
	}
	return p.signal(ctx, s)
}

// signal sends s to the process with SendSignal (which reaches the pid
// alone, and makes envd stop waiting for output the children may hold) and,
// at the same time, to its process group with a second command.
func (p *proc) signal(ctx context.Context, s process.Signal) error {
	group := make(chan struct{})
	go func() {
		defer close(group)
		p.h.signalGroup(ctx, p.pid, s)
	}()
	_, err := p.h.proc.SendSignal(ctx, connect.NewRequest(&process.SendSignalRequest{
		Process: p.selector(),
		Signal:  s,
	}))
	<-group
	return p.h.rpcErr(ctx, "signal", err)
}

// signalGroup sends s to process group pgid with kill(1), and waits for it
// to be sent. Failures are ignored: the group may be gone, or may never
// have been (a sandbox without setsid).
func (h *handle) signalGroup(ctx context.Context, pgid uint32, s process.Signal) {
	name := "KILL"
	if s == process.Signal_SIGNAL_SIGTERM {
		name = "TERM"
	}
	cfg := &process.ProcessConfig{Cmd: "/bin/sh", Args: []string{"-c", groupKillScript, "sh", name, strconv.FormatUint(uint64(pgid), 10)}}
	stream, err := h.proc.Start(ctx, connect.NewRequest(&process.StartRequest{Process: cfg, Stdin: proto.Bool(false)}))
	if err != nil {
		return
	}
	for stream.Receive() {
		if stream.Msg().GetEvent().GetEnd() != nil {
			break
		}
	}
	_ = stream.Close()
}

func (p *proc) selector() *process.ProcessSelector { return pidSelector(p.pid) }

func pidSelector(pid uint32) *process.ProcessSelector {
	return &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: pid}}
}

// feed copies r to the process's stdin with SendInput, then closes it with
// CloseStdin. It stops quietly when the process has ended.
func (p *proc) feed(ctx context.Context, r io.Reader) {
	buf := make([]byte, stdinChunk)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			_, err := p.h.proc.SendInput(ctx, connect.NewRequest(&process.SendInputRequest{
				Process: p.selector(),
				Input:   &process.ProcessInput{Input: &process.ProcessInput_Stdin{Stdin: buf[:n]}},
			}))
			if err != nil {
				p.failStdin(ctx, "stdin", err)
				return
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				p.failStdin(ctx, "", rerr)
			}
			_, err := p.h.proc.CloseStdin(ctx, connect.NewRequest(&process.CloseStdinRequest{Process: p.selector()}))
			if err != nil {
				p.failStdin(ctx, "stdin", err)
			}
			return
		}
	}
}

// failStdin records a stdin failure for Wait, unless the process is gone
// (then the failure is expected and its exit status is what counts).
func (p *proc) failStdin(ctx context.Context, op string, err error) {
	select {
	case <-p.done:
		return
	default:
	}
	if op != "" {
		err = p.h.rpcErr(ctx, op, err)
		if errors.Is(err, sandagent.ErrNotFound) || ctx.Err() != nil {
			return
		}
	} else {
		err = &sandagent.Error{Provider: p.h.provider, Op: "stdin", Message: "reading Cmd.Stdin failed", Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdinErr == nil {
		p.stdinErr = err
	}
}
