package sandock

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// killGrace bounds how long a cancelled command waits for its pid and then
// for its stream to end after the kill.
const killGrace = 5 * time.Second

// serverMargin is how much longer than the command's own limit the
// service's timeout (timeoutMs) is set, so that the command's watcher in
// the sandbox, not the service, ends a command that runs too long: on
// Docker the service's timeout kills the whole container.
const serverMargin = 10 * time.Second

// watchScript runs beside each command, in the sandbox: it kills the
// command's process group when the wrapper shell $1 is gone (the service
// kills its shells on a timeout, and on Kubernetes every shell of the
// sandbox when one command times out) or when $3 seconds have passed,
// saying so on stderr with the tag $4.
const watchScript = `i=0; while kill -0 "$1" 2>/dev/null; do ` +
	`if [ "$i" -ge "$3" ]; then printf '%stimeout;' "$4" >&2; break; fi; sleep 1 >/dev/null 2>&1; i=$((i+1)); done; ` +
	`kill -9 -"$2" 2>/dev/null || kill -9 "$2" 2>/dev/null`

// commandLine wraps c for the shell endpoint. The command runs in a
// session of its own (setsid, where the image has it) with stdin from
// /dev/null, in the background of a wrapper shell that stays: a shell the
// service kills on a timeout takes nothing with it, and the watcher then
// kills the command. The wrapper reports on stderr, as records the
// process strips (tag, then key=value;), the command's process id and its
// exit status, which no exit code of the service carries: on Kubernetes
// they are 0 or 1.
//
// pidFile, when set, is a file where the wrapper also writes the process
// id while the command runs, for a command whose output (and so its pid
// record) arrives only at its end.
func commandLine(c *driver.Cmd, tag string, limit time.Duration, pidFile string) string {
	run := shellquote.Quote(c.Args)
	if len(c.Args) == 0 {
		run = "/bin/sh -c " + shellquote.One(c.Shell)
	}
	secs := strconv.FormatInt(int64((limit+time.Second-1)/time.Second), 10)
	save, drop := "", ""
	if pidFile != "" {
		save = "printf '%d' \"$c\" > " + shellquote.One(pidFile) + "; "
		drop = "rm -f " + shellquote.One(pidFile) + "; "
	}
	return "T=" + shellquote.One(tag) + "; S=; command -v setsid >/dev/null 2>&1 && S=setsid; " +
		"$S " + run + " </dev/null & c=$!; printf '%spid=%d;' \"$T\" \"$c\" >&2; " + save +
		"/bin/sh -c " + shellquote.One(watchScript) + " sandagent-watch $$ \"$c\" " + secs + " \"$T\" </dev/null >/dev/null & k=$!; " +
		"wait \"$c\"; e=$?; kill \"$k\" 2>/dev/null; " + drop + "printf '%sexit=%d;' \"$T\" \"$e\" >&2"
}

// newTag returns a command's record tag: unique, so that no output of the
// command can pass for a record.
func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "sandagent-" + hex.EncodeToString(b[:]) + ":"
}

func timeoutMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	if c.Stdin != nil {
		return nil, sandagent.Errorf(sandagent.ErrUnsupported, "sandock cannot stream stdin: its shell API takes input only as one string before the command runs")
	}
	if err := h.usable(); err != nil {
		return nil, err
	}
	limit := c.Timeout
	if limit <= 0 {
		limit = h.execTimeout
	}
	tag := newTag()
	req := shellRequest{TimeoutMs: timeoutMs(limit + serverMargin), Workdir: c.Dir, Env: c.Env}
	p := &process{
		h:         h,
		pidKnown:  make(chan struct{}),
		streamEnd: make(chan struct{}),
		killDone:  make(chan struct{}),
		done:      make(chan struct{}),
		sent:      map[int]bool{},
	}
	// The request outlives ctx: when ctx ends, the process is killed first
	// and its exit record still read.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	var src source
	if !h.api.noStream.Load() {
		req.Cmd = commandLine(c, tag, limit, "")
		body, err := h.api.shellStream(sctx, h.id, req)
		var e *sandagent.Error
		switch {
		case err == nil:
			src = func(stdout, stderr io.Writer) (streamEnd, error) {
				defer body.Close()
				return readEvents(body, stdout, stderr)
			}
		case errors.As(err, &e) && e.Status == http.StatusNotFound:
			// A server without the SSE route (the public one): the blocking
			// shell from now on.
			h.api.noStream.Store(true)
		default:
			cancel()
			return nil, err
		}
	}
	if src == nil {
		// The output, and so the pid record, arrives at the end: signals
		// find the process through a pid file.
		p.pidFile = "/tmp/" + strings.TrimSuffix(tag, ":") + ".pid"
		close(p.pidKnown)
		req.Cmd = commandLine(c, tag, limit, p.pidFile)
		src = func(stdout, stderr io.Writer) (streamEnd, error) {
			res, err := h.api.shell(sctx, "exec", h.id, req, false)
			if err != nil {
				return streamEnd{}, err
			}
			_, _ = io.WriteString(stdout, res.Stdout)
			_, _ = io.WriteString(stderr, res.Stderr)
			return streamEnd{exit: &event{Type: "exit", ExitCode: res.ExitCode, TimedOut: res.TimedOut, DurationMs: res.DurationMs}}, nil
		}
	}
	p.stopKill = context.AfterFunc(ctx, p.kill)
	go p.run(src, tag, c.Stdout, c.Stderr)
	return p, nil
}

// source runs a command to its end, writing its output as it arrives.
type source func(stdout, stderr io.Writer) (streamEnd, error)

// process is a command running through the SSE endpoint, or the blocking
// one.
type process struct {
	h        *handle
	cancel   context.CancelFunc // ends the request
	stopKill func() bool
	pidFile  string // where the pid is, when its record comes only at the end

	pid       atomic.Int64
	pidOnce   sync.Once
	pidKnown  chan struct{} // closed when the pid is known
	streamEnd chan struct{} // closed when the stream has ended
	killDone  chan struct{} // closed when kill has returned
	killed    atomic.Bool
	done      chan struct{}
	code      int
	err       error

	// Set from the wrapper's records, read once the stream has ended.
	exited   bool
	status   int
	timedOut bool

	mu   sync.Mutex
	sent map[int]bool // Linux numbers of the signals sent
}

var _ driver.Signaler = (*process)(nil)

func (p *process) PID() int { return int(p.pid.Load()) }

func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

func (p *process) run(src source, tag string, stdout, stderr io.Writer) {
	defer close(p.done)
	rec := &records{w: stderr, tag: []byte(tag), set: p.record}
	ev, err := src(stdout, rec)
	rec.flush()
	close(p.streamEnd)
	if !p.stopKill() { // the kill has started: let it finish
		<-p.killDone
	}
	p.cancel()
	p.code = -1
	switch {
	case p.killed.Load(): // the caller's ctx ended; the Handle reports it
	case p.timedOut:
		p.err = sandagent.Errorf(sandagent.ErrTimeout, "command killed by its time limit in the sandbox")
	case p.exited:
		p.code = p.status
		if p.status > 128 && p.signalled(p.status-128) {
			p.code = -1 // killed by a signal Process.Signal sent
		}
	case ev.exit != nil && ev.exit.TimedOut:
		p.err = sandagent.Errorf(sandagent.ErrTimeout, "command timed out on the server after %.0f ms", ev.exit.DurationMs)
	case ev.exit != nil:
		p.err = &sandagent.Error{Op: "exec", Message: "the command's shell ended without reporting its exit status " +
			"(on Kubernetes, Sandock kills every shell of a sandbox when one of its commands times out)"}
	case ev.errMsg != "":
		p.err = &sandagent.Error{Op: "exec", Message: ev.errMsg}
	case err != nil:
		p.err = fmt.Errorf("reading the command's output stream: %w", err)
	default:
		p.err = &sandagent.Error{Op: "exec", Message: "the output stream ended before the command's exit event"}
	}
}

// record takes a record of the wrapper: pid=N, exit=N or timeout. It runs
// on the stream's goroutine, before run reads what it set.
func (p *process) record(key, val string) {
	switch key {
	case "pid":
		if pid, err := strconv.Atoi(val); err == nil && pid > 0 {
			p.pidOnce.Do(func() {
				p.pid.Store(int64(pid))
				if p.pidFile == "" {
					close(p.pidKnown)
				}
			})
		}
	case "exit":
		if code, err := strconv.Atoi(val); err == nil {
			p.exited, p.status = true, code
		}
	case "timeout":
		p.timedOut = true
	}
}

// signalled reports whether Process.Signal sent the signal numbered n (in
// Linux's numbering) to the command.
func (p *process) signalled(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[n]
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
		_ = p.h.signal(ctx, p.target(), "KILL")
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
	name, num, ok := signalName(sig)
	if !ok {
		return sandagent.Errorf(sandagent.ErrUnsupported, "signal %v: sandock sends signals by their POSIX names, and this one has none here", sig)
	}
	select {
	case <-p.pidKnown:
	case <-p.done:
		return sandagent.Errorf(sandagent.ErrNotFound, "the process has exited")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.streamEnd:
		return sandagent.Errorf(sandagent.ErrNotFound, "the process has exited")
	default:
	}
	p.mu.Lock()
	p.sent[num] = true
	p.mu.Unlock()
	return p.h.signal(ctx, p.target(), name)
}

// target is the command's pid as the kill command line names it.
func (p *process) target() string {
	if p.pidFile != "" {
		return `"$(cat ` + shellquote.One(p.pidFile) + ` 2>/dev/null)"`
	}
	return strconv.Itoa(p.PID())
}

// signal sends the signal called name (TERM, KILL, …) to the process group
// led by the process id target (a shell word), or else to that process, by
// name, as the sandbox's kill knows it: the numbers of this machine's
// signals need not be the sandbox's.
func (h *handle) signal(ctx context.Context, id, name string) error {
	res, err := h.api.shell(ctx, "signal", h.id, shellRequest{
		Cmd:       "kill -s " + name + " -- -" + id + " 2>/dev/null || kill -s " + name + " " + id + " 2>/dev/null",
		TimeoutMs: timeoutMs(killGrace),
	}, false)
	if err != nil {
		return err
	}
	if res.ExitCode == nil || *res.ExitCode != 0 { // 0 or not: what every deployment reports
		return sandagent.Errorf(sandagent.ErrNotFound, "the process has exited")
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

// records passes stderr through, minus the wrapper's records (tag,
// key, an optional =value, then ';'), wherever they fall; a possible start
// of one at the end of what has arrived is held back until the rest comes.
type records struct {
	w   io.Writer
	tag []byte
	set func(key, val string)
	buf []byte
}

func (f *records) Write(b []byte) (int, error) {
	f.buf = append(f.buf, b...)
	for {
		i := bytes.Index(f.buf, f.tag)
		if i < 0 {
			keep := heldBack(f.buf, f.tag)
			if err := f.pass(f.buf[:len(f.buf)-keep]); err != nil {
				return 0, err
			}
			f.buf = append(f.buf[:0], f.buf[len(f.buf)-keep:]...)
			return len(b), nil
		}
		if err := f.pass(f.buf[:i]); err != nil {
			return 0, err
		}
		rest := f.buf[i+len(f.tag):]
		j := bytes.IndexByte(rest, ';')
		if j < 0 {
			f.buf = append(f.buf[:0], f.buf[i:]...)
			return len(b), nil
		}
		key, val, _ := strings.Cut(string(rest[:j]), "=")
		f.set(key, val)
		f.buf = append(f.buf[:0], rest[j+1:]...)
	}
}

func (f *records) pass(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := f.w.Write(b)
	return err
}

// heldBack returns how many bytes at the end of b could start tag.
func heldBack(b, tag []byte) int {
	for n := min(len(b), len(tag)-1); n > 0; n-- {
		if bytes.HasPrefix(tag, b[len(b)-n:]) {
			return n
		}
	}
	return 0
}

// flush writes what is held back, at the end of the stream.
func (f *records) flush() {
	_ = f.pass(f.buf)
	f.buf = nil
}
