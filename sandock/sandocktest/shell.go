//go:build unix

package sandocktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sandagent/sandagent/internal/engine"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// MaxArgLen is Linux's limit on one argument of a program (MAX_ARG_STRLEN,
// 32 pages of 4 KiB, its terminating NUL included). The Kubernetes mode
// applies it to the command line it builds, on every system.
const MaxArgLen = 128 << 10

// shellRequest is ShellInput; cmd is a string or an array of strings.
type shellRequest struct {
	Cmd       json.RawMessage   `json:"cmd"`
	TimeoutMs *int64            `json:"timeoutMs"`
	Workdir   string            `json:"workdir"`
	Env       map[string]string `json:"env"`
	Input     *string           `json:"input"`
}

// command is a shell request made ready to spawn in its sandbox.
type command struct {
	s       *Server
	sb      *sandbox
	eng     *engine.Sandbox
	cmd     engine.Cmd
	timeout time.Duration
	tooLong bool // Kubernetes: the line is over MaxArgLen
}

// prepare decodes a shell request and starts the sandbox if it is not
// running, or writes the error.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request) (*command, bool) {
	var req shellRequest
	if !decode(w, r, &req) {
		return nil, false
	}
	var line string
	var argv []string
	switch {
	case json.Unmarshal(req.Cmd, &line) == nil && line != "":
	case json.Unmarshal(req.Cmd, &argv) == nil && len(argv) > 0:
	default:
		writeErr(w, http.StatusBadRequest, "Input validation failed: cmd must be a non-empty string or array of strings")
		return nil, false
	}
	timeout := DefaultShellTimeout
	if req.TimeoutMs != nil {
		if *req.TimeoutMs <= 0 {
			writeErr(w, http.StatusBadRequest, "Input validation failed: timeoutMs must be a positive integer")
			return nil, false
		}
		timeout = time.Duration(*req.TimeoutMs) * time.Millisecond
	}
	s.mu.Lock()
	sb, err := s.running(r.PathValue("id"))
	var c *command
	if err == nil {
		c = s.build(sb, line, argv, req)
		c.timeout = timeout
	}
	s.mu.Unlock()
	if err != nil {
		fail(w, err)
		return nil, false
	}
	return c, true
}

// build makes the process the mode runs for a request. The caller holds
// s.mu.
func (s *Server) build(sb *sandbox, line string, argv []string, req shellRequest) *command {
	c := &command{s: s, sb: sb, eng: sb.eng}
	c.cmd.Env = req.Env
	wd := sb.eng.Workdir()
	if req.Workdir != "" {
		wd = hostPath(sb.eng, req.Workdir)
	}
	if s.mode == Docker {
		c.cmd.Dir = wd
		switch {
		case line != "":
			c.cmd.Shell = line
		case len(req.Env) > 0:
			c.cmd.Shell = strings.Join(argv, " ")
		default:
			c.cmd.Args = argv
		}
		if req.Input != nil {
			c.cmd.Stdin = strings.NewReader(*req.Input)
		}
		return c
	}
	if line == "" {
		line = strings.Join(argv, " ")
	}
	script := "cd " + shellquote.One(wd) + " && " + line
	if req.Input != nil {
		script = "printf '%s' " + shellquote.One(*req.Input) + " | /bin/sh -c " + shellquote.One(script)
	}
	c.cmd.Shell = script
	c.tooLong = len(script) >= MaxArgLen
	return c
}

// outcome is an ExecutionResult without its output.
type outcome struct {
	code     *int
	timedOut bool
	took     time.Duration
}

func (o outcome) fields() map[string]any {
	var code any
	if o.code != nil {
		code = *o.code
	}
	return map[string]any{"exitCode": code, "timedOut": o.timedOut, "durationMs": o.took.Milliseconds()}
}

func intp(n int) *int { return &n }

// run runs c to its end, with its output going to stdout and stderr, and
// returns what the mode reports of it. ctx ending (the client gone, for a
// stream) does not stop it: only its timeout, stop, delete and Close do.
func (c *command) run(stdout, stderr *bytes.Buffer, w outputs) (outcome, error) {
	start := time.Now()
	if c.tooLong {
		msg := "sh: 1: exec: argument list too long\n"
		w.write(stderr, "stderr", msg)
		return outcome{code: intp(1), took: time.Since(start)}, nil
	}
	c.cmd.Stdout, c.cmd.Stderr = w.writer(stdout, "stdout"), w.writer(stderr, "stderr")
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	p, err := c.eng.Spawn(ctx, c.cmd)
	if err != nil {
		if c.s.mode == Kubernetes { // the exec fails: status Failure
			w.write(stderr, "stderr", err.Error()+"\n")
			return outcome{code: intp(1), took: time.Since(start)}, nil
		}
		return outcome{}, err
	}
	c.s.track(c.sb.id, p.PID(), true)
	defer c.s.track(c.sb.id, p.PID(), false)
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	timedOut := false
	select {
	case <-p.Done():
	case <-timer.C:
		timedOut = true
		c.s.timeout(c)
		// The killed shell's children go with it: the command ends once
		// its output does, and they would hold it open.
		cancel()
	}
	code, err := p.Wait()
	w.flush()
	if err != nil {
		return outcome{}, err
	}
	o := outcome{timedOut: timedOut, took: time.Since(start)}
	switch {
	case c.s.mode == Docker && code >= 0 && !timedOut:
		o.code = intp(code)
	case c.s.mode == Docker: // killed by a signal
	case timedOut:
		o.code = intp(137)
	case code == 0:
		o.code = intp(0)
	default:
		o.code = intp(1)
	}
	return o, nil
}

// timeout does what the mode does when a command times out.
func (s *Server) timeout(c *command) {
	if s.mode == Docker { // SIGKILL to the whole container
		s.mu.Lock()
		if c.sb.eng == c.eng {
			s.stopLocked(c.sb, StatusStopped)
		}
		s.mu.Unlock()
		return
	}
	// pkill -9 -f 'sh -lc': every shell the server started in the
	// sandbox, whatever request it serves, but not a process that exec'd
	// over its shell.
	s.mu.Lock()
	pids := make([]int, 0, len(s.shells[c.sb.id]))
	for pid := range s.shells[c.sb.id] {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	for _, pid := range pids {
		if isShell(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// track records (or forgets) a shell the server started in sandbox id.
func (s *Server) track(id string, pid int, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shells == nil {
		s.shells = map[string]map[int]bool{}
	}
	if on {
		if s.shells[id] == nil {
			s.shells[id] = map[int]bool{}
		}
		s.shells[id][pid] = true
		return
	}
	delete(s.shells[id], pid)
	if len(s.shells[id]) == 0 {
		delete(s.shells, id)
	}
}

// isShell reports whether pid still runs the shell the server started,
// not a program that replaced it with exec. Without /proc it assumes so.
func isShell(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true
	}
	return bytes.HasPrefix(b, []byte("/bin/sh\x00-c\x00"))
}

func (s *Server) shell(w http.ResponseWriter, r *http.Request) {
	c, ok := s.prepare(w, r)
	if !ok {
		return
	}
	c.respond(w)
}

// respond runs c and answers with its ExecutionResult.
func (c *command) respond(w http.ResponseWriter) {
	var stdout, stderr bytes.Buffer
	o, err := c.run(&stdout, &stderr, outputs{})
	if err != nil {
		fail(w, err)
		return
	}
	res := o.fields()
	res["stdout"], res["stderr"] = text(stdout.Bytes()), text(stderr.Bytes())
	writeOK(w, res)
}

// text is output decoded as UTF-8, as the core does: bytes that are not
// become U+FFFD.
func text(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// shellStream serves the hosted service's SSE route (not in the public
// server; the official SDK uses it): lines "data: <json>" of stdout,
// stderr, exit and error events, ended by "data: [DONE]".
func (s *Server) shellStream(w http.ResponseWriter, r *http.Request) {
	c, ok := s.prepare(w, r)
	if !ok {
		return
	}
	sse := &sseWriter{w: w}
	sse.open()
	done := make(chan struct{})
	go func() { // the client going away does not stop the command
		select {
		case <-r.Context().Done():
			sse.close()
		case <-done:
		}
	}()
	defer close(done)
	var stdout, stderr bytes.Buffer
	o, err := c.run(&stdout, &stderr, outputs{sse: sse, chunks: map[string]*chunker{}})
	if err != nil {
		sse.event(map[string]any{"type": "error", "message": err.Error()})
	} else {
		ev := o.fields()
		ev["type"] = "exit"
		sse.event(ev)
	}
	sse.send([]byte("[DONE]"))
	sse.close()
}

// outputs sends a command's output to buffers or, for a stream, as events.
type outputs struct {
	sse    *sseWriter
	chunks map[string]*chunker
}

func (o outputs) writer(buf *bytes.Buffer, typ string) *chunker {
	c := &chunker{typ: typ, sse: o.sse, buf: buf}
	if o.chunks != nil {
		o.chunks[typ] = c
	}
	return c
}

func (o outputs) write(buf *bytes.Buffer, typ, msg string) {
	c := o.writer(buf, typ)
	_, _ = c.Write([]byte(msg))
	c.flush()
}

func (o outputs) flush() {
	for _, c := range o.chunks {
		c.flush()
	}
}

// code serves POST …/code: the snippet goes to snippet-<8 hex>.<ext> in the
// workdir (never removed) and runs with node, tsx or python3. The
// Kubernetes mode drops the input.
func (s *Server) code(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Language  string            `json:"language"`
		Code      string            `json:"code"`
		TimeoutMs *int64            `json:"timeoutMs"`
		Input     *string           `json:"input"`
		Env       map[string]string `json:"env"`
	}
	if !decode(w, r, &req) {
		return
	}
	ext, prog := map[string]string{"javascript": "js", "typescript": "ts", "python": "py"}[req.Language],
		map[string]string{"javascript": "node", "typescript": "tsx", "python": "python3"}[req.Language]
	if ext == "" || (req.TimeoutMs != nil && *req.TimeoutMs <= 0) {
		writeErr(w, http.StatusBadRequest, "Input validation failed: language must be javascript, typescript or python; timeoutMs positive")
		return
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "snippet-" + hex.EncodeToString(b[:]) + "." + ext
	s.mu.Lock()
	sb, err := s.running(r.PathValue("id"))
	var c *command
	if err == nil {
		err = sb.eng.Write(hostPath(sb.eng, name), strings.NewReader(req.Code))
	}
	if err == nil {
		in := req.Input
		if s.mode == Kubernetes {
			in = nil
		}
		c = s.build(sb, prog+" "+name, nil, shellRequest{Env: req.Env, Input: in})
		c.timeout = DefaultShellTimeout
		if req.TimeoutMs != nil {
			c.timeout = time.Duration(*req.TimeoutMs) * time.Millisecond
		}
	}
	s.mu.Unlock()
	if err != nil {
		fail(w, err)
		return
	}
	c.respond(w)
}

// sseWriter writes SSE lines for the output goroutines and the handler,
// one at a time, and drops them once closed.
type sseWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	closed bool
}

// open sends the headers, so the client's request returns before any
// output.
func (s *sseWriter) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	s.w.WriteHeader(http.StatusOK)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *sseWriter) event(v any) {
	b, _ := json.Marshal(v)
	s.send(b)
}

func (s *sseWriter) send(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	buf := make([]byte, 0, len(data)+8)
	buf = append(append(append(buf, "data: "...), data...), "\n\n"...)
	if _, err := s.w.Write(buf); err != nil {
		return
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *sseWriter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

// chunker collects one output stream into buf or, with sse set, turns it
// into events cut on UTF-8 boundaries.
type chunker struct {
	typ     string
	sse     *sseWriter
	buf     *bytes.Buffer
	mu      sync.Mutex
	pending []byte
}

func (c *chunker) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sse == nil {
		return c.buf.Write(b)
	}
	buf := append(c.pending, b...)
	n := completePrefix(buf)
	if n > 0 {
		c.sse.event(map[string]any{"type": c.typ, "data": text(buf[:n])})
	}
	c.pending = append([]byte(nil), buf[n:]...)
	return len(b), nil
}

func (c *chunker) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sse != nil && len(c.pending) > 0 {
		c.sse.event(map[string]any{"type": c.typ, "data": text(c.pending)})
		c.pending = nil
	}
}

// completePrefix returns the length of b without an incomplete UTF-8
// sequence at its end.
func completePrefix(b []byte) int {
	for j := len(b) - 1; j >= 0 && j >= len(b)-utf8.UTFMax; j-- {
		if utf8.RuneStart(b[j]) {
			if utf8.FullRune(b[j:]) {
				return len(b)
			}
			return j
		}
	}
	return len(b)
}
