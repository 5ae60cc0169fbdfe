//go:build unix

package daytonatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/websocket"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
)

// The daemon's stream labels: every line of a session command's log starts
// with one of them.
var (
	stdoutPrefix = []byte{1, 1, 1}
	stderrPrefix = []byte{2, 2, 2}
)

type session struct {
	cmds map[string]*command
}

type command struct {
	id, text string

	mu      sync.Mutex
	log     []byte
	exit    *int
	changed chan struct{} // closed and replaced whenever log or exit change
	exited  chan struct{} // closed when the process is gone
	pid     int           // the group leader, 0 if it did not start
	cancel  context.CancelFunc
}

// kill kills the command and waits (briefly) until its process is gone:
// first the processes its shell started, then, if still needed, the group.
func (c *command) kill() {
	if c.pid > 0 {
		killMembers(c.pid)
		select {
		case <-c.exited:
		case <-time.After(time.Second):
		}
	}
	c.cancel()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}

func (c *command) append(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, b...)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *command) finish(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exit = &code
	close(c.exited)
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
// prefixed, as the daemon's shell labelers do.
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

// killSessions kills every session command. The caller holds mu.
func (sb *sandbox) killSessions() {
	for _, ses := range sb.sessions {
		for _, c := range ses.cmds {
			c.kill()
		}
	}
	sb.sessions = map[string]*session{}
}

func (s *Server) routeToolbox(m *http.ServeMux) {
	const p = "/toolbox/{sid}"
	m.HandleFunc("POST "+p+"/process/execute", s.tb(s.execute))
	m.HandleFunc("POST "+p+"/process/code-run", s.tb(s.codeRun))
	m.HandleFunc("GET "+p+"/process/session", s.tb(s.listSessions))
	m.HandleFunc("POST "+p+"/process/session", s.tb(s.createSession))
	m.HandleFunc("GET "+p+"/process/session/{ses}", s.tb(s.getSession))
	m.HandleFunc("DELETE "+p+"/process/session/{ses}", s.tb(s.deleteSession))
	m.HandleFunc("POST "+p+"/process/session/{ses}/exec", s.tb(s.sessionExec))
	m.HandleFunc("GET "+p+"/process/session/{ses}/command/{cmd}", s.tb(s.getCommand))
	m.HandleFunc("GET "+p+"/process/session/{ses}/command/{cmd}/logs", s.tb(s.commandLogs))
	m.HandleFunc("GET "+p+"/files", s.tb(s.listFiles))
	m.HandleFunc("DELETE "+p+"/files", s.tb(s.deleteFile))
	m.HandleFunc("GET "+p+"/files/info", s.tb(s.fileInfo))
	m.HandleFunc("GET "+p+"/files/download", s.tb(s.download))
	m.HandleFunc("POST "+p+"/files/bulk-download", s.tb(s.bulkDownload))
	m.HandleFunc("POST "+p+"/files/upload", s.tb(s.upload))
	m.HandleFunc("POST "+p+"/files/bulk-upload", s.tb(s.bulkUpload))
	m.HandleFunc("POST "+p+"/files/folder", s.tb(s.createFolder))
	m.HandleFunc("GET "+p+"/work-dir", s.tb(s.workDir))
	m.HandleFunc("GET "+p+"/user-home-dir", s.tb(s.workDir))
	m.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeToolboxErrorReq(w, r, http.StatusNotFound, "404 page not found")
	})
}

// tbCtx is what a toolbox handler works on: a started sandbox.
type tbCtx struct {
	sb   *sandbox
	eng  *engine.Sandbox
	work string // the work tree's real path, as the sandbox reports it
}

// tb resolves the sandbox of a toolbox request, refuses one that is not
// started, and records the activity that auto-stop counts from.
func (s *Server) tb(h func(w http.ResponseWriter, r *http.Request, t tbCtx)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		sb := s.find(r.PathValue("sid"), false)
		var t tbCtx
		switch {
		case sb == nil || sb.id != r.PathValue("sid"):
			s.mu.Unlock()
			writeToolboxErrorReq(w, r, http.StatusNotFound, "sandbox not found")
			return
		case sb.state != stateStarted:
			s.mu.Unlock()
			writeToolboxErrorReq(w, r, http.StatusBadRequest, fmt.Sprintf("Sandbox is not started (state: %s)", sb.state))
			return
		}
		sb.activity = s.now()
		t = tbCtx{sb: sb, eng: sb.eng, work: realWork(sb.eng)}
		s.mu.Unlock()
		h(w, r, t)
	}
}

func realWork(e *engine.Sandbox) string {
	if e.Rooted() { // the sandbox's own path, not the host's
		return e.Workdir()
	}
	if p, err := filepath.EvalSymlinks(e.Workdir()); err == nil {
		return p
	}
	return e.Workdir()
}

// enginePath maps a path as the sandbox reports it to the engine's view.
func (t tbCtx) enginePath(p string) string {
	if p == "" {
		p = "."
	}
	if !path.IsAbs(p) {
		p = path.Join(t.work, p)
	}
	p = path.Clean(p)
	if rel, ok := strings.CutPrefix(p, t.work); ok && (rel == "" || rel[0] == '/') {
		return t.eng.Workdir() + rel
	}
	return p
}

// sandboxPath maps an engine path back to the sandbox's view.
func (t tbCtx) sandboxPath(p string) string {
	if rel, ok := strings.CutPrefix(p, t.eng.Workdir()); ok {
		return t.work + rel
	}
	return p
}

func engineStatus(err error) int {
	switch {
	case errors.Is(err, sandagent.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, sandagent.ErrInvalid), errors.Is(err, sandagent.ErrState), errors.Is(err, sandagent.ErrConflict):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		Command string            `json:"command"`
		Cwd     *string           `json:"cwd"`
		Envs    map[string]string `json:"envs"`
		Timeout *int              `json:"timeout"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "command cannot be empty or whitespace-only")
		return
	}
	ctx := r.Context()
	if req.Timeout != nil && *req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*req.Timeout)*time.Second)
		defer cancel()
	}
	dir := ""
	if req.Cwd != nil && *req.Cwd != "" {
		dir = t.enginePath(*req.Cwd)
	}
	var out bytes.Buffer
	var w1 io.Writer = &out
	p, err := t.eng.Spawn(ctx, engine.Cmd{Shell: req.Command, Dir: dir, Env: req.Envs, Stdout: w1, Stderr: w1})
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"exitCode": -1, "result": err.Error()})
		return
	}
	code, _ := p.Wait()
	if ctx.Err() != nil && r.Context().Err() == nil {
		writeToolboxErrorReq(w, r, http.StatusRequestTimeout, "command execution timeout")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"exitCode": code, "result": out.String()})
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
	defer s.mu.Unlock()
	if _, dup := t.sb.sessions[req.SessionID]; dup {
		writeToolboxErrorReq(w, r, http.StatusConflict, "session already exists")
		return
	}
	t.sb.sessions[req.SessionID] = &session{cmds: map[string]*command{}}
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

func sessionView(id string, ses *session) map[string]any {
	cmds := []map[string]any{}
	for _, c := range ses.cmds {
		cmds = append(cmds, commandView(c))
	}
	return map[string]any{"sessionId": id, "commands": cmds}
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for id, ses := range t.sb.sessions {
		out = append(out, sessionView(id, ses))
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
	s.withSession(w, r, t, func(ses *session) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, sessionView(r.PathValue("ses"), ses))
	})
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withSession(w, r, t, func(ses *session) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range ses.cmds {
			c.kill()
		}
		delete(t.sb.sessions, r.PathValue("ses"))
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) sessionExec(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		Command  string `json:"command"`
		RunAsync bool   `json:"runAsync"`
		Async    bool   `json:"async"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "command cannot be empty")
		return
	}
	s.withSession(w, r, t, func(ses *session) {
		ctx, cancel := context.WithCancel(context.Background())
		c := &command{id: newID(), text: req.Command, changed: make(chan struct{}), exited: make(chan struct{}), cancel: cancel}
		out, errw := &labeler{c: c, prefix: stdoutPrefix}, &labeler{c: c, prefix: stderrPrefix}
		// The daemon writes a session's commands to its shell's input, not
		// onto a command line: a long command is no argument too long.
		p, err := t.eng.Spawn(ctx, engine.Cmd{Args: []string{"/bin/sh"}, Stdin: strings.NewReader(req.Command + "\n"), Stdout: out, Stderr: errw})
		if err != nil {
			errw.Write([]byte(err.Error() + "\n"))
			c.finish(127)
		} else {
			c.pid = p.PID()
			go func() {
				code, _ := p.Wait()
				out.flush()
				errw.flush()
				c.finish(code)
			}()
		}
		s.mu.Lock()
		ses.cmds[c.id] = c
		s.mu.Unlock()
		if req.RunAsync || req.Async {
			writeJSON(w, http.StatusAccepted, map[string]any{"cmdId": c.id})
			return
		}
		for {
			_, done, ch := c.snapshot(0)
			if done {
				break
			}
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
		}
		logBytes, _, _ := c.snapshot(0)
		v := commandView(c)
		resp := map[string]any{"cmdId": c.id, "exitCode": v["exitCode"]}
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
	})
}

func (s *Server) withCommand(w http.ResponseWriter, r *http.Request, t tbCtx, fn func(c *command)) {
	s.withSession(w, r, t, func(ses *session) {
		s.mu.Lock()
		c := ses.cmds[r.PathValue("cmd")]
		s.mu.Unlock()
		if c == nil {
			writeToolboxErrorReq(w, r, http.StatusNotFound, "command not found")
			return
		}
		fn(c)
	})
}

func (s *Server) getCommand(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withCommand(w, r, t, func(c *command) { writeJSON(w, http.StatusOK, commandView(c)) })
}

func (s *Server) commandLogs(w http.ResponseWriter, r *http.Request, t tbCtx) {
	s.withCommand(w, r, t, func(c *command) {
		combined, skipDemux := outputMode(r.Header)
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			follow := r.URL.Query().Get("follow") == "true"
			websocket.Server{
				Handshake: func(*websocket.Config, *http.Request) error { return nil }, // any origin
				Handler:   func(ws *websocket.Conn) { streamLog(r.Context(), ws, c, follow, combined) },
			}.ServeHTTP(w, r)
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

// maxLogMessage bounds one log message, as the daemon's reads of its log
// file do; a client's websocket rejects frames past 32 MiB.
const maxLogMessage = 64 << 10

// streamLog sends the command's log as binary messages; following, it
// sends what comes until the command ends. Then it closes normally.
func streamLog(ctx context.Context, ws *websocket.Conn, c *command, follow, combined bool) {
	defer ws.Close()
	sent := 0
	for {
		data, done, changed := c.snapshot(sent)
		if len(data) > maxLogMessage && !combined {
			data = data[:maxLogMessage] // as the daemon reads its log: a bounded chunk at a time
		}
		if len(data) > 0 {
			sent += len(data)
			if combined {
				data = stripPrefixes(data)
			}
			if err := websocket.Message.Send(ws, data); err != nil {
				return
			}
			continue
		}
		if done || !follow {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
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

// Files.

func fileInfoView(fi fs.FileInfo) map[string]any {
	owner, group := "0", "0"
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner, group = strconv.FormatUint(uint64(st.Uid), 10), strconv.FormatUint(uint64(st.Gid), 10)
	}
	return map[string]any{
		"name": fi.Name(), "size": fi.Size(), "mode": fi.Mode().String(),
		"modTime": fi.ModTime().String(), "modifiedAt": fi.ModTime(),
		"isDir": fi.IsDir(), "owner": owner, "group": group,
		"permissions": fmt.Sprintf("%04o", fi.Mode().Perm()),
	}
}

func (s *Server) queryPath(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "path is required")
		return "", false
	}
	return p, true
}

func (s *Server) fileInfo(w http.ResponseWriter, r *http.Request, t tbCtx) {
	p, ok := s.queryPath(w, r)
	if !ok {
		return
	}
	fi, err := t.eng.Stat(t.enginePath(p))
	if err != nil {
		writeToolboxErrorReq(w, r, engineStatus(err), err.Error())
		return
	}
	v := fileInfoView(fi.Info)
	v["name"] = path.Base(t.sandboxPath(fi.Path))
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, t tbCtx) {
	fis, err := t.eng.ListDir(t.enginePath(r.URL.Query().Get("path")))
	if err != nil {
		writeToolboxErrorReq(w, r, engineStatus(err), err.Error())
		return
	}
	out := make([]map[string]any, 0, len(fis))
	for _, fi := range fis {
		if st, err := t.eng.Stat(fi.Path); err == nil { // follow links, as os.Stat does
			fi = st
		}
		out = append(out, fileInfoView(fi.Info))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, t tbCtx) {
	p, ok := s.queryPath(w, r)
	if !ok {
		return
	}
	ep := t.enginePath(p)
	fi, err := t.eng.Stat(ep)
	if err == nil && fi.Info.IsDir() && r.URL.Query().Get("recursive") != "true" {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "cannot delete directory without recursive flag")
		return
	}
	if err == nil || errors.Is(err, sandagent.ErrNotFound) {
		err = t.eng.Remove(ep) // a dangling link is removable
	}
	if err != nil {
		writeToolboxErrorReq(w, r, engineStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createFolder(w http.ResponseWriter, r *http.Request, t tbCtx) {
	p, ok := s.queryPath(w, r)
	if !ok {
		return
	}
	if m := r.URL.Query().Get("mode"); m != "" {
		if _, err := strconv.ParseUint(m, 8, 32); err != nil {
			writeToolboxErrorReq(w, r, http.StatusBadRequest, "invalid mode format")
			return
		}
	}
	if err := t.eng.MakeDir(t.enginePath(p)); err != nil {
		writeToolboxErrorReq(w, r, engineStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, t tbCtx) {
	p, ok := s.queryPath(w, r)
	if !ok {
		return
	}
	f, err := t.eng.Open(t.enginePath(p))
	if err != nil {
		msg := err.Error()
		if errors.Is(err, sandagent.ErrInvalid) {
			msg = "path must be a file"
		}
		writeToolboxErrorReq(w, r, engineStatus(err), msg)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, path.Base(p)))
	w.Header().Set("Content-Transfer-Encoding", "binary")
	_, _ = io.Copy(w, f)
}

func (s *Server) bulkDownload(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		Paths []string `json:"paths"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Paths) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": `request body must be {"paths": [ ... ]} and non-empty`})
		return
	}
	const boundary = "DAYTONA-FILE-BOUNDARY"
	w.Header().Set("Content-Type", "multipart/form-data; boundary="+boundary)
	w.WriteHeader(http.StatusOK)
	mw := multipart.NewWriter(w)
	_ = mw.SetBoundary(boundary)
	for _, p := range req.Paths {
		disp := func(name string) string {
			return fmt.Sprintf(`form-data; name="%s"; filename="%s"; filename*=utf-8''%s`, name, p, url.PathEscape(p))
		}
		f, err := t.eng.Open(t.enginePath(p))
		if err != nil {
			status := engineStatus(err)
			b, _ := json.Marshal(map[string]any{
				"statusCode": status, "message": err.Error(), "code": map[int]string{404: "FILE_NOT_FOUND"}[status],
				"timestamp": time.Now().UTC(), "path": p, "method": r.Method,
			})
			part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json; charset=utf-8"}, "Content-Disposition": {disp("error")}})
			_, _ = part.Write(b)
			continue
		}
		ctype := mime.TypeByExtension(filepath.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		h := textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Disposition": {disp("file")}}
		if fi, err := t.eng.Stat(t.enginePath(p)); err == nil {
			h.Set("Content-Length", strconv.FormatInt(fi.Info.Size(), 10))
		}
		part, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(part, f)
		}
		f.Close()
		if err != nil {
			return
		}
	}
	_ = mw.Close()
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, t tbCtx) {
	p, ok := s.queryPath(w, r)
	if !ok {
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, err.Error())
		return
	}
	defer f.Close()
	if err := t.eng.Write(t.enginePath(p), f); err != nil {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) bulkUpload(w http.ResponseWriter, r *http.Request, t tbCtx) {
	defer func() { _, _ = io.Copy(io.Discard, r.Body) }()
	mr, err := r.MultipartReader()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []string{"invalid multipart form"}})
		return
	}
	dests := map[string]string{}
	errs := []string{}
	files := []map[string]any{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("reading part: %v", err))
			break
		}
		name := part.FormName()
		idx := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(name, "files["), "].path"), "].file")
		switch {
		case strings.HasSuffix(name, ".path"):
			b, _ := io.ReadAll(part)
			if d := strings.TrimSpace(string(b)); d != "" {
				dests[idx] = d
			} else {
				errs = append(errs, fmt.Sprintf("path[%s]: empty path", idx))
			}
		case strings.HasSuffix(name, ".file"):
			dest, ok := dests[idx]
			if !ok {
				errs = append(errs, fmt.Sprintf("file[%s]: missing .path metadata", idx))
				continue
			}
			cr := &countReader{r: part}
			if err := t.eng.Write(t.enginePath(dest), cr); err != nil {
				errs = append(errs, fmt.Sprintf("%s: create: %v", dest, err))
				continue
			}
			files = append(files, map[string]any{"path": dest, "bytes": cr.n})
		}
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": errs, "files": files})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) workDir(w http.ResponseWriter, r *http.Request, t tbCtx) {
	writeJSON(w, http.StatusOK, map[string]any{"dir": t.work})
}
