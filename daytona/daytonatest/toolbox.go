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
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
)

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
	m.HandleFunc("POST "+p+"/process/session/{ses}/command/{cmd}/input", s.tb(s.sendInput))
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
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, sandagent.ErrInvalid), errors.Is(err, sandagent.ErrState), errors.Is(err, sandagent.ErrConflict):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// fileError answers a failed file operation as the daemon does: the
// status alone, with an empty body (gin's AbortWithError): 404 missing,
// 403 permission denied, 400 anything else.
func fileError(w http.ResponseWriter, err error) {
	status := engineStatus(err)
	if status != http.StatusNotFound && status != http.StatusForbidden {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
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
	// The command outlives a client that leaves, as on the daemon; a
	// timeout (seconds, on the Clock) kills its group and answers 408.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	if req.Timeout != nil && *req.Timeout > 0 && s.waitOnClock(p, time.Duration(*req.Timeout)*time.Second) {
		cancel()
		_, _ = p.Wait()
		writeToolboxErrorReq(w, r, http.StatusRequestTimeout, "request timeout: command execution timeout")
		return
	}
	code, _ := p.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"exitCode": code, "result": out.String()})
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
		w.WriteHeader(http.StatusBadRequest)
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
		fileError(w, err)
		return
	}
	v := fileInfoView(fi.Info)
	v["name"] = path.Base(t.sandboxPath(fi.Path))
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, t tbCtx) {
	fis, err := t.eng.ListDir(t.enginePath(r.URL.Query().Get("path")))
	if err != nil {
		fileError(w, err)
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
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err == nil || errors.Is(err, sandagent.ErrNotFound) {
		err = t.eng.Remove(ep) // a dangling link is removable
	}
	if err != nil {
		fileError(w, err)
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
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	if err := t.eng.MakeDir(t.enginePath(p)); err != nil {
		fileError(w, err)
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
		fileError(w, err)
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
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	defer f.Close()
	if err := t.writeInPlace(p, f, 0o750); err != nil {
		fileError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// writeInPlace writes a file as the daemon's uploads do: parents created
// with dirMode, an existing file truncated in place (os.Create), so that
// its mode and owner stay; a new one gets 0644 (less the umask).
func (t tbCtx) writeInPlace(p string, r io.Reader, dirMode fs.FileMode) error {
	real, err := t.eng.Resolve(t.enginePath(p), false)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(real), dirMode); err != nil {
		return err
	}
	f, err := os.OpenFile(real, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			return sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
		}
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
			if err := t.writeInPlace(dest, cr, 0o755); err != nil {
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
