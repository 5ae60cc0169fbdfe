//go:build unix

package e2btest

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
	"github.com/sandagent/sandagent/internal/engine"
)

const (
	defaultKeepalive = 90 * time.Second // envd's, without Keepalive-Ping-Interval
	exitRetention    = 30 * time.Second // how long an exit stays for a late Connect
)

// procTable holds the processes started through envd in one sandbox.
type procTable struct {
	mu    sync.Mutex
	procs map[uint32]*proc
}

// proc is a process started through envd. Its output goes to every
// subscriber (a Start or Connect stream), with back-pressure.
type proc struct {
	info *process.ProcessInfo
	eng  *engine.Proc
	done chan struct{} // closed once end is set

	// cut is closed by SendSignal and the timeout: envd then stops reading
	// the output and sends End once the process exits, even while a child
	// still holds the pipes.
	cut     chan struct{}
	cutOnce sync.Once

	stdinMu sync.Mutex
	stdin   *io.PipeWriter // nil: not enabled, or closed

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	end     *process.ProcessEvent_EndEvent
	endedAt time.Time
}

type subscriber struct {
	ch   chan *process.ProcessEvent
	done chan struct{}
}

func (p *proc) subscribe() *subscriber {
	sub := &subscriber{ch: make(chan *process.ProcessEvent, 16), done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subs[sub] = struct{}{}
	return sub
}

func (p *proc) unsubscribe(sub *subscriber) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.subs, sub)
	close(sub.done)
}

// publish hands ev to every subscriber, waiting for each to take it or go.
func (p *proc) publish(ev *process.ProcessEvent) {
	p.mu.Lock()
	subs := slices.Collect(maps.Keys(p.subs))
	p.mu.Unlock()
	for _, sub := range subs {
		select {
		case sub.ch <- ev:
		case <-sub.done:
		}
	}
}

func (p *proc) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stdChunk is the most output one data event carries, as envd reads it.
const stdChunk = 32 << 10

// readOutput publishes what r (a pipe of the process's stdout or stderr)
// delivers, a data event per read, until EOF or the cut; then it closes r.
func (p *proc) readOutput(r *os.File, stderr bool) {
	defer r.Close()
	for {
		buf := make([]byte, stdChunk)
		n, err := r.Read(buf)
		if n > 0 {
			data := &process.ProcessEvent_DataEvent{}
			if stderr {
				data.Output = &process.ProcessEvent_DataEvent_Stderr{Stderr: buf[:n]}
			} else {
				data.Output = &process.ProcessEvent_DataEvent_Stdout{Stdout: buf[:n]}
			}
			select {
			case <-p.cut: // envd drops what it read after a signal
				return
			default:
			}
			p.publish(&process.ProcessEvent{Event: &process.ProcessEvent_Data{Data: data}})
		}
		if err != nil {
			return
		}
	}
}

// cutOutput stops waiting for the output, as envd's SendSignal and
// timeout do.
func (p *proc) cutOutput() { p.cutOnce.Do(func() { close(p.cut) }) }

func (p *proc) writeStdin(b []byte) error {
	p.stdinMu.Lock()
	w := p.stdin
	p.stdinMu.Unlock()
	if w == nil {
		return errors.New("stdin not enabled or closed")
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("error writing to stdin of process '%d': %w", p.info.Pid, err)
	}
	return nil
}

func (p *proc) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		_ = p.stdin.Close()
		p.stdin = nil
	}
}

// finish records the end of the process, as Go's ProcessState reports it.
func (p *proc) finish(code int, err error, now time.Time) {
	p.closeStdin()
	end := &process.ProcessEvent_EndEvent{ExitCode: int32(code)}
	if st := p.eng.ProcessState(); st != nil {
		end.Exited, end.Status = st.Exited(), st.String()
	} else {
		end.Exited, end.Status = code >= 0, fmt.Sprintf("exit status %d", code)
	}
	switch {
	case err != nil:
		end.Error = proto.String(err.Error())
	case code != 0:
		end.Error = proto.String(end.Status)
	}
	p.mu.Lock()
	p.end, p.endedAt = end, now
	p.mu.Unlock()
	close(p.done)
}

func (t *procTable) add(p *proc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.procs == nil {
		t.procs = map[uint32]*proc{}
	}
	t.procs[p.info.Pid] = p
}

// find returns the process sel names: a running one or, with ended, one
// that exited within the retention time.
func (t *procTable) find(sel *process.ProcessSelector, ended bool, now time.Time) (*proc, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, p := range t.procs {
		if p.ended() && now.Sub(p.endedAt) > exitRetention {
			delete(t.procs, pid)
		}
	}
	ok := func(p *proc) bool { return p != nil && (ended || !p.ended()) }
	switch s := sel.GetSelector().(type) {
	case *process.ProcessSelector_Pid:
		if p := t.procs[s.Pid]; ok(p) {
			return p, nil
		}
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("process with pid %d not found", s.Pid))
	case *process.ProcessSelector_Tag:
		var found *proc
		for _, p := range t.procs {
			if ok(p) && p.info.GetTag() == s.Tag && (found == nil || found.ended()) {
				found = p
			}
		}
		if found != nil {
			return found, nil
		}
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("process with tag %s not found", s.Tag))
	}
	return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("invalid input type %T", sel.GetSelector()))
}

func (t *procTable) running() []*process.ProcessInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*process.ProcessInfo
	for _, p := range t.procs {
		if !p.ended() {
			out = append(out, p.info)
		}
	}
	slices.SortFunc(out, func(a, b *process.ProcessInfo) int { return int(a.Pid) - int(b.Pid) })
	return out
}

// processService is envd's process.Process service.
type processService struct{ s *Server }

// rpcUser returns the user an RPC runs as: the name in a Basic
// Authorization header (with an empty password), else the default "user".
func rpcUser(h http.Header) (string, error) {
	name := "user"
	if v, ok := strings.CutPrefix(h.Get("Authorization"), "Basic "); ok {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "", connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("error decoding authorization header: %w", err))
		}
		name, _, _ = strings.Cut(string(b), ":")
	}
	if checkUser(name) != nil || name == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("invalid username: '%s'", name))
	}
	return name, nil
}

func (ps *processService) Start(ctx context.Context, req *connect.Request[process.StartRequest], stream *connect.ServerStream[process.StartResponse]) error {
	p, sub, err := ps.s.spawn(sandboxOf(ctx), req)
	if err != nil {
		return err
	}
	defer p.unsubscribe(sub)
	return ps.s.streamEvents(ctx, req.Header(), p, sub, func(ev *process.ProcessEvent) error {
		return stream.Send(&process.StartResponse{Event: ev})
	})
}

// spawn starts the process a StartRequest asks for, already subscribed to.
func (s *Server) spawn(sb *sandbox, req *connect.Request[process.StartRequest]) (*proc, *subscriber, error) {
	user, err := rpcUser(req.Header())
	if err != nil {
		return nil, nil, err
	}
	msg := req.Msg
	if msg.Pty != nil {
		return nil, nil, connect.NewError(connect.CodeUnimplemented, errors.New("PTY processes are not supported by the emulator"))
	}
	var timeout time.Duration
	if v := req.Header().Get("Connect-Timeout-Ms"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil {
			return nil, nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	cfg := msg.GetProcess()
	cwd, err := resolvePath(sb, cfg.GetCwd())
	if err != nil {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if _, err := sb.eng.Stat(cwd); errors.Is(err, sandagent.ErrNotFound) {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("cwd '%s' does not exist", cwd))
	}
	home := sb.eng.Workdir()
	// The environment from scratch, as envd builds it: its PATH, the user's
	// HOME, USER and LOGNAME, the sandbox's variables, the request's.
	env := map[string]string{
		"PATH": cmp.Or(os.Getenv("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		"HOME": home, "USER": user, "LOGNAME": user,
	}
	maps.Copy(env, sb.envVars)
	maps.Copy(env, map[string]string{"E2B_SANDBOX": "true", "E2B_SANDBOX_ID": sb.id, "E2B_TEMPLATE_ID": sb.template})
	maps.Copy(env, cfg.GetEnvs())

	p := &proc{
		info: &process.ProcessInfo{Config: cfg, Tag: msg.Tag},
		done: make(chan struct{}),
		cut:  make(chan struct{}),
		subs: map[*subscriber]struct{}{},
	}
	sub := p.subscribe()
	var stdin io.Reader
	if msg.Stdin == nil || msg.GetStdin() { // envd's default: stdin open
		stdin, p.stdin = io.Pipe()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, connect.NewError(connect.CodeInternal, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, connect.NewError(connect.CodeInternal, err)
	}
	// envd's wrapper: the shell execs the program (keeping the pid), so a
	// missing one is the shell's exit 127, with its message on stderr. The
	// process stays in envd's process group, as envd sets none.
	ep, err := sb.eng.Spawn(context.Background(), engine.Cmd{
		Args: append([]string{"/bin/sh", "-c", wrapper, "--", cfg.GetCmd()}, cfg.GetArgs()...),
		Dir:  cwd, Env: env, CleanEnv: true, NoGroup: true,
		Stdin: stdin, Stdout: outW, Stderr: errW,
	})
	outW.Close() // the process holds its own copies
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		p.closeStdin()
		cmdline := strings.Join(append([]string{cfg.GetCmd()}, cfg.GetArgs()...), " ")
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("error starting process '%s': %w", cmdline, err))
	}
	p.eng = ep
	p.info.Pid = uint32(ep.PID())
	sb.procs.add(p)
	var outputs sync.WaitGroup
	outputs.Go(func() { p.readOutput(outR, false) })
	outputs.Go(func() { p.readOutput(errR, true) })
	piped := make(chan struct{})
	go func() { outputs.Wait(); close(piped) }()
	s.procWG.Add(1)
	go func() {
		defer s.procWG.Done()
		if timeout > 0 { // the request's timeout kills the process (the pid only)
			t := time.AfterFunc(timeout, func() {
				p.cutOutput()
				_ = ep.Signal(syscall.SIGKILL)
			})
			defer t.Stop()
		}
		code, err := ep.Wait()
		// End waits for the output's EOF, unless a signal or the timeout
		// cut it: a child holding the pipes delays it.
		select {
		case <-piped:
		case <-p.cut:
		case <-s.ctx.Done():
		}
		p.cutOutput()
		outR.Close() // unblocks a reader the cut left waiting
		errR.Close()
		p.finish(code, err, s.Clock.Now())
	}()
	return p, sub, nil
}

// wrapper is the shell script envd starts every process with (since envd
// 0.5.4): it sets the OOM score, then execs the program, "$@".
const wrapper = `{ echo 100 > /proc/$$/oom_score_adj; } 2>/dev/null; exec "$@"`

// streamEvents sends start, then data and keepalive events, then the end
// of p to a subscribed stream.
func (s *Server) streamEvents(ctx context.Context, h http.Header, p *proc, sub *subscriber, send func(*process.ProcessEvent) error) error {
	cut, stall := s.cut.Swap(-1), s.stall.Swap(-1)
	sent := int64(0)
	emit := func(ev *process.ProcessEvent) error {
		if err := send(ev); err != nil {
			return connect.NewError(connect.CodeUnknown, fmt.Errorf("error sending event: %w", err))
		}
		if _, data := ev.Event.(*process.ProcessEvent_Data); data {
			sent++
		}
		if cut >= 0 && sent >= cut {
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		if stall >= 0 && sent >= stall { // go silent, connection open
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.ctx.Done():
				return connect.NewError(connect.CodeUnavailable, errors.New("server closed"))
			}
		}
		return nil
	}
	if err := emit(&process.ProcessEvent{Event: &process.ProcessEvent_Start{Start: &process.ProcessEvent_StartEvent{Pid: p.info.Pid}}}); err != nil {
		return err
	}
	interval := defaultKeepalive
	if n, err := strconv.Atoi(h.Get("Keepalive-Ping-Interval")); err == nil && n > 0 {
		interval = time.Duration(n) * time.Second
	}
	if s.keepalive > 0 {
		interval = s.keepalive
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case ev := <-sub.ch:
			if err := emit(ev); err != nil {
				return err
			}
			ticker.Reset(interval)
		case <-ticker.C:
			if err := emit(&process.ProcessEvent{Event: &process.ProcessEvent_Keepalive{Keepalive: &process.ProcessEvent_KeepAlive{}}}); err != nil {
				return err
			}
		case <-p.done:
		drain: // the output written before the exit
			for {
				select {
				case ev := <-sub.ch:
					if err := emit(ev); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			p.mu.Lock()
			end := p.end
			p.mu.Unlock()
			return emit(&process.ProcessEvent{Event: &process.ProcessEvent_End{End: end}})
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return connect.NewError(connect.CodeUnavailable, errors.New("server closed"))
		}
	}
}

func (ps *processService) Connect(ctx context.Context, req *connect.Request[process.ConnectRequest], stream *connect.ServerStream[process.ConnectResponse]) error {
	p, err := sandboxOf(ctx).procs.find(req.Msg.GetProcess(), true, ps.s.Clock.Now())
	if err != nil {
		return err
	}
	sub := p.subscribe()
	defer p.unsubscribe(sub)
	return ps.s.streamEvents(ctx, req.Header(), p, sub, func(ev *process.ProcessEvent) error {
		return stream.Send(&process.ConnectResponse{Event: ev})
	})
}

func (ps *processService) List(ctx context.Context, _ *connect.Request[process.ListRequest]) (*connect.Response[process.ListResponse], error) {
	return connect.NewResponse(&process.ListResponse{Processes: sandboxOf(ctx).procs.running()}), nil
}

func (ps *processService) Update(context.Context, *connect.Request[process.UpdateRequest]) (*connect.Response[process.UpdateResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("PTY processes are not supported by the emulator"))
}

func (ps *processService) running(ctx context.Context, sel *process.ProcessSelector) (*proc, error) {
	return sandboxOf(ctx).procs.find(sel, false, ps.s.Clock.Now())
}

// input writes one ProcessInput to p.
func input(p *proc, in *process.ProcessInput) error {
	switch v := in.GetInput().(type) {
	case *process.ProcessInput_Stdin:
		if err := p.writeStdin(v.Stdin); err != nil {
			return connect.NewError(connect.CodeInternal, fmt.Errorf("error writing to stdin: %w", err))
		}
		return nil
	case *process.ProcessInput_Pty:
		return connect.NewError(connect.CodeInternal, errors.New("error writing to tty: tty not assigned to process — input should be written to the stdin, not the tty"))
	}
	return connect.NewError(connect.CodeUnimplemented, fmt.Errorf("invalid input type %T", in.GetInput()))
}

func (ps *processService) SendInput(ctx context.Context, req *connect.Request[process.SendInputRequest]) (*connect.Response[process.SendInputResponse], error) {
	p, err := ps.running(ctx, req.Msg.GetProcess())
	if err != nil {
		return nil, err
	}
	if err := input(p, req.Msg.GetInput()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&process.SendInputResponse{}), nil
}

func (ps *processService) StreamInput(ctx context.Context, stream *connect.ClientStream[process.StreamInputRequest]) (*connect.Response[process.StreamInputResponse], error) {
	var p *proc
	for stream.Receive() {
		switch ev := stream.Msg().GetEvent().(type) {
		case *process.StreamInputRequest_Start:
			var err error
			if p, err = ps.running(ctx, ev.Start.GetProcess()); err != nil {
				return nil, err
			}
		case *process.StreamInputRequest_Data:
			if p == nil {
				return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("no start event received"))
			}
			if err := input(p, ev.Data.GetInput()); err != nil {
				return nil, err
			}
		case *process.StreamInputRequest_Keepalive:
		default:
			return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("invalid event type %T", ev))
		}
	}
	if err := stream.Err(); err != nil {
		return nil, connect.NewError(connect.CodeUnknown, fmt.Errorf("error streaming input: %w", err))
	}
	return connect.NewResponse(&process.StreamInputResponse{}), nil
}

func (ps *processService) SendSignal(ctx context.Context, req *connect.Request[process.SendSignalRequest]) (*connect.Response[process.SendSignalResponse], error) {
	p, err := ps.running(ctx, req.Msg.GetProcess())
	if err != nil {
		return nil, err
	}
	var sig syscall.Signal
	switch req.Msg.GetSignal() {
	case process.Signal_SIGNAL_SIGKILL:
		sig = syscall.SIGKILL
	case process.Signal_SIGNAL_SIGTERM:
		sig = syscall.SIGTERM
	default:
		return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("invalid signal: %s", req.Msg.GetSignal()))
	}
	// The pid only, as envd does: its children live on, and End no longer
	// waits for the output they may still write.
	p.cutOutput()
	if err := p.eng.Signal(sig); err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("error sending signal: %w", err))
	}
	return connect.NewResponse(&process.SendSignalResponse{}), nil
}

func (ps *processService) CloseStdin(ctx context.Context, req *connect.Request[process.CloseStdinRequest]) (*connect.Response[process.CloseStdinResponse], error) {
	p, err := ps.running(ctx, req.Msg.GetProcess())
	if err != nil {
		return nil, err
	}
	p.closeStdin()
	return connect.NewResponse(&process.CloseStdinResponse{}), nil
}
