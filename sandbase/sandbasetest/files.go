//go:build unix

package sandbasetest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sandagent/sandagent"

	"github.com/sandagent/sandagent/internal/engine"
)

// Filesystem limits.
const (
	maxRead     = 1 << 20   // GET /filesystem: larger files are 400
	maxUpload   = 100 << 20 // POST /filesystem/upload: larger files are 413
	maxJSONBody = 150 << 20 // a JSON body (base64 content of a write)
)

// documentedHomes are the working directories SandBase's pages name; the
// emulator maps them onto the sandbox's work tree.
var documentedHomes = []string{"/workspace", "/home/user"}

// hostPath maps a path as a SandBase client writes it to the host path in
// the sandbox's work tree: "" is the work tree, a relative path is relative
// to it, and /workspace or /home/user (and what is below them) stand for
// it. Other absolute paths are kept; the engine rejects those outside.
func hostPath(work, p string) string {
	if p == "" {
		return work
	}
	p = filepath.Clean(p)
	if !filepath.IsAbs(p) {
		return filepath.Join(work, p)
	}
	if p == work || strings.HasPrefix(p, work+"/") {
		return p
	}
	for _, home := range documentedHomes {
		if rest, ok := strings.CutPrefix(p, home); ok && (rest == "" || rest[0] == '/') {
			return filepath.Join(work, rest)
		}
	}
	return p
}

// entry is a file as the filesystem endpoints describe it: both list shapes
// SandBase documents at once ({name, path, isDir, size} and
// {name, type, path, size}).
type entry struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	IsDir bool   `json:"isDir"`
	Type  string `json:"type"` // "file" or "dir"
	Size  int64  `json:"size"`
}

func newEntry(fi engine.FileInfo) entry {
	info := fi.Info
	if info.Mode()&fs.ModeSymlink != 0 { // describe what the link points to
		if target, err := os.Stat(fi.Path); err == nil {
			info = target
		}
	}
	e := entry{Name: fi.Name, Path: fi.Path, Type: "file", Size: info.Size()}
	if info.IsDir() {
		e.IsDir, e.Type, e.Size = true, "dir", 0
	}
	return e
}

// pathParam reads the required ?path= parameter as a host path.
func pathParam(w http.ResponseWriter, r *http.Request, eng *engine.Sandbox) (string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		writeError(w, http.StatusBadRequest, "path is required")
		return "", false
	}
	return hostPath(eng.Workdir(), p), true
}

// statEntry answers the entry of p.
func (s *Server) statEntry(w http.ResponseWriter, sb *sandbox, eng *engine.Sandbox, p string) {
	fi, err := eng.Stat(p)
	if err != nil {
		s.engineError(w, sb, err)
		return
	}
	writeJSON(w, http.StatusOK, newEntry(fi))
}

func (s *Server) stat(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	if p, ok := pathParam(w, r, eng); ok {
		s.statEntry(w, sb, eng, p)
	}
}

func (s *Server) listDir(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	infos, err := eng.ListDir(hostPath(eng.Workdir(), r.URL.Query().Get("path")))
	if err != nil {
		s.engineError(w, sb, err)
		return
	}
	out := make([]entry, len(infos))
	for i, fi := range infos {
		out[i] = newEntry(fi)
	}
	writeJSON(w, http.StatusOK, out)
}

// openFile opens the regular file named by ?path= and describes it.
func (s *Server) openFile(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) (io.ReadCloser, fs.FileInfo, string, bool) {
	p, ok := pathParam(w, r, eng)
	if !ok {
		return nil, nil, "", false
	}
	f, err := eng.Open(p)
	if err != nil {
		s.engineError(w, sb, err)
		return nil, nil, "", false
	}
	st, ok := f.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		f.Close()
		writeError(w, http.StatusBadGateway, "cannot read the file")
		return nil, nil, "", false
	}
	fi, err := st.Stat()
	if err != nil {
		f.Close()
		s.engineError(w, sb, err)
		return nil, nil, "", false
	}
	return f, fi, p, true
}

// readFile answers {content: base64, path} for a file of at most 1 MB.
func (s *Server) readFile(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	f, fi, p, ok := s.openFile(w, r, sb, eng)
	if !ok {
		return
	}
	defer f.Close()
	tooBig := "file too large: " + strconv.FormatInt(fi.Size(), 10) + " bytes exceeds the 1 MB limit; use /filesystem/download"
	if fi.Size() > maxRead {
		writeError(w, http.StatusBadRequest, tooBig)
		return
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRead+1))
	switch {
	case err != nil:
		s.engineError(w, sb, err)
	case len(b) > maxRead: // it grew meanwhile
		writeError(w, http.StatusBadRequest, tooBig)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"content": base64.StdEncoding.EncodeToString(b), "path": p})
	}
}

// writeFile replaces a file with base64 content: 200 with an empty body.
func (s *Server) writeFile(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	var req struct {
		Path    string  `json:"path"`
		Content *string `json:"content"`
	}
	if !decodeBody(w, r, &req, false) {
		return
	}
	switch {
	case req.Path == "":
		writeError(w, http.StatusBadRequest, "path is required")
		return
	case req.Content == nil:
		writeError(w, http.StatusBadRequest, "content is required")
		return
	}
	data, err := base64.StdEncoding.DecodeString(*req.Content)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid base64 content")
		return
	}
	if err := eng.Write(hostPath(eng.Workdir(), req.Path), bytes.NewReader(data)); err != nil {
		s.engineError(w, sb, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) removeFile(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	p, ok := pathParam(w, r, eng)
	if !ok {
		return
	}
	if err := eng.Remove(p); err != nil {
		s.engineError(w, sb, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// download streams a file's raw bytes.
func (s *Server) download(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	f, fi, p, ok := s.openFile(w, r, sb, eng)
	if !ok {
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(p)}))
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	_, _ = io.Copy(w, f)
}

// errTooLarge ends an upload larger than maxUpload.
var errTooLarge = errors.New("file too large")

// limited reads r and fails with errTooLarge past n bytes.
type limited struct {
	r io.Reader
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.n -= int64(n); l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

// upload writes the multipart field "file" to the path in the field
// "path". The file is streamed to its place when "path" comes first (as
// SandBase's examples send it), else kept in a temporary file meanwhile.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid multipart form: "+err.Error())
		return
	}
	var dest string
	var spool *os.File
	defer func() {
		if spool != nil {
			spool.Close()
			_ = os.Remove(spool.Name())
		}
	}()
	gotFile := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid multipart form: "+err.Error())
			return
		}
		switch part.FormName() {
		case "path":
			b, _ := io.ReadAll(io.LimitReader(part, 4096))
			dest = string(b)
		case "file":
			gotFile = true
			body := &limited{r: part, n: maxUpload}
			if dest != "" {
				err = eng.Write(hostPath(eng.Workdir(), dest), body)
			} else if spool, err = os.CreateTemp("", "sandbasetest-upload-*"); err == nil {
				_, err = io.Copy(spool, body)
			}
			if err != nil {
				s.uploadError(w, sb, err)
				return
			}
		}
		part.Close()
	}
	switch {
	case dest == "":
		writeError(w, http.StatusBadRequest, "path is required")
		return
	case !gotFile:
		writeError(w, http.StatusBadRequest, "file is required")
		return
	case spool != nil:
		_, err = spool.Seek(0, io.SeekStart)
		if err == nil {
			err = eng.Write(hostPath(eng.Workdir(), dest), spool)
		}
		if err != nil {
			s.uploadError(w, sb, err)
			return
		}
	}
	s.statEntry(w, sb, eng, hostPath(eng.Workdir(), dest))
}

func (s *Server) uploadError(w http.ResponseWriter, sb *sandbox, err error) {
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "file too large: the maximum upload size is 100 MB")
		return
	}
	s.engineError(w, sb, err)
}

// mkdir creates a directory and its parents and answers its entry.
func (s *Server) mkdir(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	var req struct {
		Path string `json:"path"`
	}
	if !decodeBody(w, r, &req, false) {
		return
	}
	if req.Path == "" {
		writeError(w, http.StatusBadRequest, "path is required")
		return
	}
	p := hostPath(eng.Workdir(), req.Path)
	if err := eng.MakeDir(p); err != nil {
		s.engineError(w, sb, err)
		return
	}
	s.statEntry(w, sb, eng, p)
}

// move renames source to destination (creating the destination's parents)
// and answers the destination's entry.
func (s *Server) move(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	var req struct {
		Source      string `json:"source"`
		Destination string `json:"destination"`
	}
	if !decodeBody(w, r, &req, false) {
		return
	}
	if req.Source == "" || req.Destination == "" {
		writeError(w, http.StatusBadRequest, "source and destination are required")
		return
	}
	work := eng.Workdir()
	src, err := eng.Resolve(hostPath(work, req.Source), true)
	if err == nil {
		_, err = os.Lstat(src)
	}
	var dst string
	if err == nil {
		dst, err = eng.Resolve(hostPath(work, req.Destination), true)
	}
	switch {
	case err != nil:
	case src == work || dst == work:
		writeError(w, http.StatusBadRequest, "cannot move the sandbox's work directory")
		return
	default:
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.Rename(src, dst)
		}
	}
	if err != nil {
		s.engineError(w, sb, fsError(err))
		return
	}
	s.statEntry(w, sb, eng, hostPath(work, req.Destination))
}

// invalidErrno are the errors of a rename that the caller's paths caused.
var invalidErrno = map[syscall.Errno]bool{
	syscall.ENOTDIR: true, syscall.EISDIR: true, syscall.ENOTEMPTY: true, syscall.EINVAL: true, syscall.EXDEV: true,
}

// fsError classifies an error of the os package as the engine does.
func fsError(err error) error {
	var se *sandagent.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return sandagent.Errorf(sandagent.ErrNotFound, "%v", err)
	case errors.Is(err, fs.ErrExist), errors.As(err, &errno) && invalidErrno[errno]:
		return sandagent.Errorf(sandagent.ErrInvalid, "%v", err)
	}
	return err
}
