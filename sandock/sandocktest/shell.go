//go:build unix

package sandocktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sandagent/sandagent/internal/engine"
)

// shellRequest is ShellRequest; cmd is a string or an array of strings.
type shellRequest struct {
	Cmd       json.RawMessage   `json:"cmd"`
	TimeoutMs *int64            `json:"timeoutMs"`
	Workdir   string            `json:"workdir"`
	Env       map[string]string `json:"env"`
	Input     *string           `json:"input"`
}

// command is a decoded shell request, ready to spawn.
type command struct {
	eng     *engine.Sandbox
	cmd     engine.Cmd
	timeout time.Duration
}

// parseShell decodes a shell request for a RUNNING sandbox, or writes the
// error.
func (s *Server) parseShell(w http.ResponseWriter, r *http.Request) (*command, bool) {
	sb, st, ok := s.lookup(w, r.PathValue("id"))
	if !ok {
		return nil, false
	}
	var req shellRequest
	if !decode(w, r, &req) {
		return nil, false
	}
	if st != StatusRunning {
		writeErr(w, http.StatusConflict, "Sandbox "+sb.id+" is not running (status "+st+")")
		return nil, false
	}
	c := &command{eng: sb.eng, timeout: 30 * time.Second}
	var line string
	var argv []string
	switch {
	case json.Unmarshal(req.Cmd, &line) == nil && line != "":
		c.cmd.Shell = line
	case json.Unmarshal(req.Cmd, &argv) == nil && len(argv) > 0 && argv[0] != "":
		c.cmd.Args = argv
	default:
		writeErr(w, http.StatusBadRequest, "cmd must be a non-empty string or array of strings")
		return nil, false
	}
	if req.TimeoutMs != nil {
		if *req.TimeoutMs <= 0 {
			writeErr(w, http.StatusBadRequest, "timeoutMs must be positive")
			return nil, false
		}
		c.timeout = time.Duration(*req.TimeoutMs) * time.Millisecond
	}
	if req.Workdir != "" {
		c.cmd.Dir = req.Workdir
		if !filepath.IsAbs(req.Workdir) {
			c.cmd.Dir = filepath.Join(sb.eng.Workdir(), req.Workdir)
		}
	}
	c.cmd.Env = req.Env
	if req.Input != nil {
		c.cmd.Stdin = strings.NewReader(*req.Input)
	}
	return c, true
}

// result is SandboxExecutionResult and the exit event's fields.
func result(code int, timedOut bool, took time.Duration) map[string]any {
	var exit any = code
	if code < 0 {
		exit = nil // killed by a signal
	}
	return map[string]any{"exitCode": exit, "timedOut": timedOut, "durationMs": took.Milliseconds()}
}

func (s *Server) shell(w http.ResponseWriter, r *http.Request) {
	c, ok := s.parseShell(w, r)
	if !ok {
		return
	}
	var stdout, stderr bytes.Buffer
	c.cmd.Stdout, c.cmd.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(s.ctx, c.timeout)
	defer cancel()
	start := time.Now()
	p, err := c.eng.Spawn(ctx, c.cmd)
	if err != nil {
		fail(w, err)
		return
	}
	code, err := p.Wait()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	res := result(code, errors.Is(ctx.Err(), context.DeadlineExceeded), time.Since(start))
	res["stdout"], res["stderr"] = stdout.String(), stderr.String()
	writeOK(w, res)
}

func (s *Server) shellStream(w http.ResponseWriter, r *http.Request) {
	c, ok := s.parseShell(w, r)
	if !ok {
		return
	}
	sse := &sseWriter{w: w}
	stdout, stderr := &chunker{typ: "stdout", sse: sse}, &chunker{typ: "stderr", sse: sse}
	c.cmd.Stdout, c.cmd.Stderr = stdout, stderr
	// The command outlives the request: a client that goes away does not
	// kill it; its timeout, stop, delete and Close do.
	ctx, cancel := context.WithTimeout(s.ctx, c.timeout)
	start := time.Now()
	p, err := c.eng.Spawn(ctx, c.cmd)
	if err != nil {
		cancel()
		fail(w, err)
		return
	}
	go func() { <-p.Done(); cancel() }()
	sse.open()
	select {
	case <-p.Done():
	case <-r.Context().Done():
		sse.close()
		return
	}
	code, err := p.Wait()
	stdout.flush()
	stderr.flush()
	if err != nil {
		sse.event(map[string]any{"type": "error", "message": err.Error()})
	} else {
		ev := result(code, errors.Is(ctx.Err(), context.DeadlineExceeded), time.Since(start))
		ev["type"] = "exit"
		sse.event(ev)
	}
	sse.send([]byte("[DONE]"))
	sse.close()
}

// sseWriter writes SSE lines for the output goroutines and the handler,
// one at a time, and drops them once the handler has returned.
type sseWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	opened bool
	closed bool
}

// open sends the headers, so the client's request returns before any
// output.
func (s *sseWriter) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openLocked()
}

func (s *sseWriter) openLocked() {
	if s.opened {
		return
	}
	s.opened = true
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
	s.openLocked()
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

// chunker turns one output stream into events, cut on UTF-8 boundaries.
type chunker struct {
	typ     string
	sse     *sseWriter
	mu      sync.Mutex
	pending []byte
}

func (c *chunker) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := append(c.pending, b...)
	n := completePrefix(buf)
	if n > 0 {
		c.sse.event(map[string]any{"type": c.typ, "data": string(buf[:n])})
	}
	c.pending = append([]byte(nil), buf[n:]...)
	return len(b), nil
}

func (c *chunker) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 {
		c.sse.event(map[string]any{"type": c.typ, "data": string(c.pending)})
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
