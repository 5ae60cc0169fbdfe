//go:build unix

package daytonatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/sandagent/sandagent/internal/engine"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// The daemon's stream labels: every line of a session command's log starts
// with one of them.
var (
	stdoutPrefix = []byte{1, 1, 1}
	stderrPrefix = []byte{2, 2, 2}
)

// logFrame is the most a log websocket message carries: the daemon sends
// each read of the log file, 1,024 bytes at most, cut anywhere.
const logFrame = 1024

// session is a toolbox session: one long-lived shell that sources each
// command, one after another, as the daemon's does.
type session struct {
	id    string
	dir   string         // host directory of its commands' FIFOs and exit codes
	stdin *io.PipeWriter // the shell's input: each command's wrapper
	wmu   sync.Mutex     // one wrapper at a time
	shell *engine.Proc
	kill  context.CancelFunc // SIGKILLs what is left of the shell's group

	mu      sync.Mutex
	cmds    map[string]*command
	deleted bool

	endOnce sync.Once
	ended   chan struct{} // closed when the session is deleted or its shell exits
}

func (ses *session) command(id string) *command {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	return ses.cmds[id]
}

type command struct {
	id, text     string
	suppressEcho bool
	dir          string   // host directory of its FIFOs
	input        *os.File // an async command's input FIFO, held open until it ends
	opened       [2]chan struct{}

	mu      sync.Mutex
	log     []byte
	exit    *int
	changed chan struct{} // closed and replaced whenever log or exit change
}

func (c *command) append(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, b...)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *command) finish(code *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exit = code
	if c.input != nil {
		_ = c.input.Close()
		c.input = nil
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// snapshot returns the log from offset on, whether the command has ended,
// and a channel closed at the next change.
func (c *command) snapshot(from int) ([]byte, bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log[from:], c.exit != nil, c.changed
}

// labeler writes a stream into a command's log line by line, each line
// prefixed, as the daemon's shell labelers do; unlike a bash labeler, it
// keeps NUL bytes (as zsh, the daemon's first choice, does).
type labeler struct {
	c       *command
	prefix  []byte
	partial []byte
}

func (l *labeler) Write(p []byte) (int, error) {
	from := len(l.partial) // what came before holds no newline
	l.partial = append(l.partial, p...)
	var out []byte
	for {
		i := bytes.IndexByte(l.partial[from:], '\n')
		if i < 0 {
			break
		}
		i += from
		from = 0
		out = append(append(out, l.prefix...), l.partial[:i+1]...)
		l.partial = l.partial[i+1:]
	}
	if len(out) > 0 {
		l.c.append(out)
	}
	return len(p), nil
}

func (l *labeler) flush() {
	if len(l.partial) > 0 {
		l.c.append(append(append(append([]byte{}, l.prefix...), l.partial...), '\n'))
		l.partial = nil
	}
}

// newSession starts the session's shell in the sandbox's work directory.
func (s *Server) newSession(t tbCtx, id string) (*session, error) {
	dir, err := os.MkdirTemp(s.dir, "session-")
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := t.eng.Spawn(ctx, engine.Cmd{Args: []string{"/bin/sh"}, Stdin: pr})
	if err != nil {
		cancel()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ses := &session{id: id, dir: dir, stdin: pw, shell: p, kill: cancel, cmds: map[string]*command{}, ended: make(chan struct{})}
	go func() {
		<-p.Done()
		ses.end()
	}()
	return ses, nil
}

// end closes the session: no command runs any more; the labelers of
// commands that never started are released.
func (ses *session) end() {
	ses.endOnce.Do(func() {
		_ = ses.stdin.Close()
		close(ses.ended)
		ses.mu.Lock()
		cmds := make([]*command, 0, len(ses.cmds))
		for _, c := range ses.cmds {
			cmds = append(cmds, c)
		}
		ses.mu.Unlock()
		for _, c := range cmds {
			c.release()
		}
	})
}

// run writes c's wrapper into the session shell, as the daemon does: the
// command text is sourced with stdin from /dev/null (sync) or the input
// FIFO (async), stdout and stderr into FIFOs that labelers read, and its
// status into exit_code once both labelers have drained.
func (s *Server) run(ses *session, c *command, async bool) error {
	c.dir = filepath.Join(ses.dir, c.id)
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		return err
	}
	script := filepath.Join(c.dir, "cmd.sh")
	if err := os.WriteFile(script, []byte(c.text+"\n"), 0o600); err != nil {
		return err
	}
	fifos := []string{filepath.Join(c.dir, "stdout.pipe"), filepath.Join(c.dir, "stderr.pipe")}
	in := "/dev/null"
	if async {
		in = filepath.Join(c.dir, "input.pipe")
		fifos = append(fifos, in)
	}
	for _, f := range fifos {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			return err
		}
	}
	if async {
		f, err := os.OpenFile(in, os.O_RDWR, 0) // held open: the command's reads block, never see EOF
		if err != nil {
			return err
		}
		c.input = f
	}
	exitFile := filepath.Join(c.dir, "exit_code")
	drained := make(chan struct{}, 2)
	for i, prefix := range [][]byte{stdoutPrefix, stderrPrefix} {
		c.opened[i] = make(chan struct{})
		go func() {
			defer func() { drained <- struct{}{} }()
			f, err := os.Open(fifos[i]) // blocks until the shell opens it
			close(c.opened[i])
			if err != nil {
				return
			}
			defer f.Close()
			l := &labeler{c: c, prefix: prefix}
			_, _ = io.Copy(l, f)
			l.flush()
		}()
	}
	go func() {
		<-drained
		<-drained
		c.finish(waitExit(exitFile, ses.ended))
	}()
	q := shellquote.One
	wrapper := "{ . " + q(script) + "\n} <" + q(in) + " >" + q(fifos[0]) + " 2>" + q(fifos[1]) + "; echo \"$?\" >" + q(exitFile) + "\n"
	ses.wmu.Lock()
	_, err := io.WriteString(ses.stdin, wrapper)
	ses.wmu.Unlock()
	if err != nil {
		c.release()
		return fmt.Errorf("failed to write command: %w", err)
	}
	return nil
}

// waitExit polls the exit code file, as the daemon does, until it is
// written or the session ends; nil means it never will be.
func waitExit(path string, ended <-chan struct{}) *int {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.HasSuffix(b, []byte("\n")) { // complete
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return &n
			}
		}
		select {
		case <-ended:
			return nil
		case <-tick.C:
		}
	}
}

// release unblocks the labelers of a command that never started, waiting
// in their open of its FIFOs.
func (c *command) release() {
	for i, name := range []string{"stdout.pipe", "stderr.pipe"} {
		if c.opened[i] == nil {
			continue
		}
		for done := false; !done; {
			select {
			case <-c.opened[i]:
				done = true
			default:
				// A writer that opens and closes again gives the blocked
				// reader its end of file.
				if f, err := os.OpenFile(filepath.Join(c.dir, name), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					_ = f.Close()
				}
				select {
				case <-c.opened[i]:
					done = true
				case <-time.After(time.Millisecond):
				}
			}
		}
	}
}

// terminate ends the session as the daemon's delete does: SIGTERM to the
// shell's process tree, then, after the grace period on the Clock,
// SIGKILL. It returns when the processes are gone.
func (s *Server) terminate(ses *session) {
	deadline := s.now().Add(s.grace)
	over := func() bool { // the shell is reaped (its pid may be another's), or the server closes
		select {
		case <-ses.shell.Done():
			return true
		case <-s.closing:
			return true
		default:
			return false
		}
	}
	pid := ses.shell.PID()
	if !signalTree(pid, syscall.SIGTERM, func() bool { return over() || !s.now().Before(deadline) }) && !over() {
		tries := 0
		signalTree(pid, syscall.SIGKILL, func() bool { tries++; return over() || tries > 100 })
	}
	ses.kill()
	<-ses.shell.Done()
	ses.end()
	_ = os.RemoveAll(ses.dir)
}

// killSessions ends every session of a sandbox that stops: its processes
// are killed with the sandbox's. The caller holds mu.
func (sb *sandbox) killSessions() {
	for _, ses := range sb.sessions {
		ses.mu.Lock()
		ses.deleted = true
		ses.mu.Unlock()
		ses.kill()
		go func() {
			<-ses.shell.Done()
			ses.end()
			_ = os.RemoveAll(ses.dir)
		}()
	}
	sb.sessions = map[string]*session{}
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.SessionID == "" {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "invalid request body: sessionId is required")
		return
	}
	s.mu.Lock()
	_, dup := t.sb.sessions[req.SessionID]
	s.mu.Unlock()
	if dup {
		writeToolboxErrorReq(w, r, http.StatusConflict, "session already exists")
		return
	}
	ses, err := s.newSession(t, req.SessionID)
	if err != nil {
		writeToolboxErrorReq(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	s.mu.Lock()
	t.sb.sessions[req.SessionID] = ses
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func commandView(c *command) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := map[string]any{"id": c.id, "command": c.text}
	if c.exit != nil {
		v["exitCode"] = *c.exit
	}
	return v
}

func sessionView(ses *session) map[string]any {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	cmds := []map[string]any{}
	for _, c := range ses.cmds {
		cmds = append(cmds, commandView(c))
	}
	return map[string]any{"sessionId": ses.id, "commands": cmds}
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, ses := range t.sb.sessions {
		out = append(out, sessionView(ses))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) withSession(w http.ResponseWriter, r *http.Request, t tbCtx, fn func(ses *session)) {
	s.mu.Lock()
	ses := t.sb.sessions[r.PathValue("ses")]
	s.mu.Unlock()
	if ses == nil {
		writeToolboxErrorReq(w, r, http.StatusNotFound, "session not found")
		return
	}
	fn(ses)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withSession(w, r, t, func(ses *session) { writeJSON(w, http.StatusOK, sessionView(ses)) })
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withSession(w, r, t, func(ses *session) {
		ses.mu.Lock()
		gone := ses.deleted
		ses.deleted = true
		ses.mu.Unlock()
		if gone {
			writeToolboxErrorReq(w, r, http.StatusNotFound, "session not found")
			return
		}
		s.mu.Lock()
		delete(t.sb.sessions, ses.id)
		s.mu.Unlock()
		s.terminate(ses)
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) sessionExec(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		Command           string `json:"command"`
		RunAsync          bool   `json:"runAsync"`
		Async             bool   `json:"async"`
		SuppressInputEcho bool   `json:"suppressInputEcho"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || strings.TrimSpace(req.Command) == "" {
		w.WriteHeader(http.StatusBadRequest) // AbortWithError: an empty body
		return
	}
	s.mu.Lock()
	ses := t.sb.sessions[r.PathValue("ses")]
	s.mu.Unlock()
	if ses == nil {
		// The daemon wraps the not-found error: a 500 without a code.
		writeJSON(w, http.StatusInternalServerError, map[string]any{"statusCode": 500, "message": "failed to execute command: not found: session not found", "timestamp": "0001-01-01T00:00:00Z", "path": r.URL.Path, "method": r.Method})
		return
	}
	c := &command{id: newID(), text: strings.TrimSpace(req.Command), suppressEcho: req.SuppressInputEcho, changed: make(chan struct{})}
	ses.mu.Lock()
	ses.cmds[c.id] = c
	ses.mu.Unlock()
	async := req.RunAsync || req.Async
	if err := s.run(ses, c, async); err != nil {
		c.finish(nil)
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	if async {
		writeJSON(w, http.StatusAccepted, map[string]any{"cmdId": c.id, "output": nil, "stdout": nil, "stderr": nil, "exitCode": nil})
		return
	}
	// The daemon waits for the exit code however long it takes, client or
	// not; a deleted session ends the wait.
	for {
		logBytes, done, ch := c.snapshot(0)
		if done {
			v := commandView(c)
			resp := map[string]any{"cmdId": c.id, "exitCode": v["exitCode"], "output": nil, "stdout": nil, "stderr": nil}
			switch combined, skipDemux := outputMode(r.Header); {
			case combined:
				resp["output"] = string(stripPrefixes(logBytes))
			case skipDemux:
				resp["output"] = string(logBytes)
			default:
				o, e := demux(logBytes)
				resp["output"], resp["stdout"], resp["stderr"] = string(logBytes), string(o), string(e)
			}
			writeJSON(w, http.StatusOK, resp)
			return
		}
		select {
		case <-ch:
		case <-ses.ended:
			if _, done, _ := c.snapshot(0); done {
				continue
			}
			one := 1
			c.finish(&one)
			writeToolboxErrorReq(w, r, http.StatusBadRequest, "bad request: session cancelled")
			return
		}
	}
}

func (s *Server) withCommand(w http.ResponseWriter, r *http.Request, t tbCtx, fn func(ses *session, c *command)) {
	s.withSession(w, r, t, func(ses *session) {
		c := ses.command(r.PathValue("cmd"))
		if c == nil {
			writeToolboxErrorReq(w, r, http.StatusNotFound, "command not found")
			return
		}
		fn(ses, c)
	})
}

func (s *Server) getCommand(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withCommand(w, r, t, func(_ *session, c *command) { writeJSON(w, http.StatusOK, commandView(c)) })
}

// sendInput serves POST .../command/{cmd}/input as the daemon does: the
// data gains a newline if it has none, goes to the command's input FIFO
// (never closed: the command sees no end of file), and is echoed into the
// log as stdout unless the command was started with suppressInputEcho. A
// command that has ended answers 410 Gone.
func (s *Server) sendInput(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		Data *string `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Data == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.withCommand(w, r, t, func(ses *session, c *command) {
		c.mu.Lock()
		in, exit := c.input, c.exit
		c.mu.Unlock()
		select {
		case <-ses.ended:
			writeToolboxErrorReq(w, r, http.StatusGone, "gone: session process has exited")
			return
		default:
		}
		if exit != nil {
			writeToolboxErrorReq(w, r, http.StatusGone, fmt.Sprintf("gone: command has already completed with exit code %d", *exit))
			return
		}
		if in == nil {
			writeToolboxErrorReq(w, r, http.StatusInternalServerError, "failed to open input pipe")
			return
		}
		data := *req.Data
		if !strings.HasSuffix(data, "\n") {
			data += "\n"
		}
		if _, err := in.WriteString(data); err != nil {
			if errors.Is(err, os.ErrClosed) {
				writeToolboxErrorReq(w, r, http.StatusGone, "gone: command has completed")
				return
			}
			writeToolboxErrorReq(w, r, http.StatusInternalServerError, "failed to write to input pipe: "+err.Error())
			return
		}
		if !c.suppressEcho {
			c.append(append(append([]byte{}, stdoutPrefix...), data...))
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) commandLogs(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withCommand(w, r, t, func(ses *session, c *command) {
		combined, skipDemux := outputMode(r.Header)
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			var protos []string // the SDK-version subprotocol is echoed
			for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
				if p = strings.TrimSpace(p); p != "" {
					protos = append(protos, p)
				}
			}
			ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: protos})
			if err != nil {
				return
			}
			s.streamLog(ws, ses, c, r.URL.Query().Get("follow") == "true", combined)
			return
		}
		logBytes, _, _ := c.snapshot(0)
		switch {
		case combined:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(stripPrefixes(logBytes))
		case skipDemux:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(logBytes)
		default:
			o, e := demux(logBytes)
			writeJSON(w, http.StatusOK, map[string]any{"output": string(logBytes), "stdout": string(o), "stderr": string(e)})
		}
	})
}

// streamLog sends the command's log as the daemon does: binary messages of
// at most logFrame bytes, cut anywhere. Following, at the end of the log it
// looks again every 20 ms, and after 50 looks without news (about a
// second) it checks whether the command has ended: then it closes (1000).
// Without follow it closes at the first end of the log; a deleted session
// closes it at once.
func (s *Server) streamLog(ws *websocket.Conn, ses *session, c *command, follow, combined bool) {
	ctx := ws.CloseRead(context.Background()) // answers pings; ends when the client goes
	defer ws.CloseNow()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	sent, empty := 0, 0
	for {
		data, done, changed := c.snapshot(sent)
		if len(data) > 0 {
			empty = 0
			data = data[:min(len(data), logFrame)]
			sent += len(data)
			if combined {
				data = stripPrefixes(data)
			}
			if err := ws.Write(ctx, websocket.MessageBinary, data); err != nil {
				return
			}
			continue
		}
		if !follow {
			break
		}
		if empty >= 50 {
			if done {
				break
			}
			empty = 0
		}
		select {
		case <-changed:
		case <-tick.C:
			empty++
		case <-ses.ended:
			if data, _, _ := c.snapshot(sent); len(data) == 0 {
				_ = ws.Close(websocket.StatusNormalClosure, "")
				return
			}
		case <-ctx.Done():
			return
		}
	}
	_ = ws.Close(websocket.StatusNormalClosure, "")
}

// outputMode reads the client's SDK version as the daemon does: no version
// (and no X-Daytona-Split-Output: true) or one before 0.27 gets combined
// output; before 0.167 the raw labelled log.
func outputMode(h http.Header) (combined, skipDemux bool) {
	v := h.Get("X-Daytona-SDK-Version")
	if v == "" {
		for _, p := range strings.Split(h.Get("Sec-WebSocket-Protocol"), ",") {
			if after, ok := strings.CutPrefix(strings.TrimSpace(p), "X-Daytona-SDK-Version~"); ok {
				v = after
			}
		}
	}
	if v == "" {
		return h.Get("X-Daytona-Split-Output") != "true", true
	}
	dev := strings.Contains(v, "dev")
	return !dev && versionBefore(v, 0, 27), !dev && versionBefore(v, 0, 167)
}

func versionBefore(v string, major, minor int) bool {
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "-")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma < major || (ma == major && mi < minor)
}

func stripPrefixes(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, stdoutPrefix, nil), stderrPrefix, nil)
}

// demux splits a labelled log into stdout and stderr.
func demux(b []byte) (stdout, stderr []byte) {
	var cur *[]byte
	for len(b) > 0 {
		switch {
		case bytes.HasPrefix(b, stdoutPrefix):
			cur, b = &stdout, b[3:]
			continue
		case bytes.HasPrefix(b, stderrPrefix):
			cur, b = &stderr, b[3:]
			continue
		}
		i := 1
		for i < len(b) && b[i] != 1 && b[i] != 2 {
			i++
		}
		if cur != nil {
			*cur = append(*cur, b[:i]...)
		}
		b = b[i:]
	}
	return stdout, stderr
}
