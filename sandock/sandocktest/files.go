//go:build unix

package sandocktest

import (
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sandagent/sandagent/internal/engine"
)

// hostPath maps a path of the API (relative to the workdir, or absolute,
// with /sandbox standing for the workdir) to the engine's.
func hostPath(eng *engine.Sandbox, p string) string {
	switch {
	case p == Workdir:
		return eng.Workdir()
	case strings.HasPrefix(p, Workdir+"/"):
		return filepath.Join(eng.Workdir(), p[len(Workdir)+1:])
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	return filepath.Join(eng.Workdir(), p)
}

// fileCall starts the sandbox the request names if need be and returns its
// container, and the ?path= parameter (def when absent; "" means
// required), or writes the error.
func (s *Server) fileCall(w http.ResponseWriter, r *http.Request, def string) (*engine.Sandbox, string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		p = def
	}
	if p == "" && r.Method != http.MethodPost {
		writeErr(w, http.StatusBadRequest, "Input validation failed: path is required")
		return nil, "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.running(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return nil, "", false
	}
	return sb.eng, p, true
}

func (s *Server) writeFile(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path       string `json:"path"`
		Content    string `json:"content"`
		Executable bool   `json:"executable"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Path == "" {
		writeErr(w, http.StatusBadRequest, "Input validation failed: path is required")
		return
	}
	eng, _, ok := s.fileCall(w, r, "")
	if !ok {
		return
	}
	p := hostPath(eng, req.Path)
	err := eng.Write(p, strings.NewReader(req.Content))
	if err == nil && req.Executable {
		var real string
		if real, err = eng.Resolve(p, false); err == nil {
			err = os.Chmod(real, 0o755)
		}
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeOK(w, true)
}

// readFile is `cat`: a file that cannot be read (missing, a directory)
// reads as "", successfully.
func (s *Server) readFile(w http.ResponseWriter, r *http.Request) {
	eng, p, ok := s.fileCall(w, r, "")
	if !ok {
		return
	}
	var b []byte
	if f, err := eng.Open(hostPath(eng, p)); err == nil {
		b, err = io.ReadAll(f)
		f.Close()
		if err != nil {
			fail(w, err)
			return
		}
	}
	writeOK(w, map[string]any{"path": p, "content": text(b)})
}

// listFiles is `ls -1`: a directory that cannot be listed lists as [].
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	eng, p, ok := s.fileCall(w, r, ".")
	if !ok {
		return
	}
	fis, _ := eng.ListDir(hostPath(eng, p))
	names := make([]string, 0, len(fis))
	for _, fi := range fis {
		names = append(names, fi.Name)
	}
	sort.Strings(names)
	writeOK(w, map[string]any{"path": p, "entries": names})
}

// removeFile is `rm -rf`: it never fails.
func (s *Server) removeFile(w http.ResponseWriter, r *http.Request) {
	eng, p, ok := s.fileCall(w, r, "")
	if !ok {
		return
	}
	_ = eng.Remove(hostPath(eng, p))
	writeOK(w, true)
}

// previewURL serves GET …/preview-url?port=: {url, token}, the url a
// path of this server that proxies to the port.
func (s *Server) previewURL(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.URL.Query().Get("port"))
	if err != nil || port < 1 || port > 65535 {
		writeErr(w, http.StatusBadRequest, "Input validation failed: port must be an integer from 1 to 65535")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.running(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	token := newID("", 24)
	s.previews[token] = preview{id: sb.id, port: port}
	writeOK(w, map[string]any{"url": s.URL + "/preview/" + token + "/", "token": token})
}

// proxy forwards a preview URL's request to its port.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.previews[r.PathValue("token")]
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "preview not found")
		return
	}
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(p.port)}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/preview/"+r.PathValue("token")), "/")
		pr.Out.URL.RawPath = ""
	}}
	rp.ServeHTTP(w, r)
}

// volumeStatus is pending_create until the clock passes readyAt. The
// caller holds s.mu.
func (s *Server) volumeStatus(v *volume) string {
	if s.Clock.Now().Before(v.readyAt) {
		return "pending_create"
	}
	return "ready"
}

// volumeJSON is VolumeInfo. The caller holds s.mu.
func (s *Server) volumeJSON(v *volume) map[string]any {
	var size int64
	_ = filepath.Walk(v.dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	updated := v.createdAt
	if st := s.volumeStatus(v); st == "ready" {
		updated = v.readyAt
	}
	return map[string]any{
		"id": v.id, "spaceId": nil, "name": v.name, "status": s.volumeStatus(v),
		"storageType": v.storageType, "sizeBytes": size, "metadata": v.metadata,
		"createdAt": timestamp(v.createdAt), "updatedAt": timestamp(updated),
	}
}

// newVolume creates a volume. The caller holds s.mu.
func (s *Server) newVolume(name, storageType string, metadata map[string]any) (*volume, error) {
	now := s.Clock.Now()
	v := &volume{
		id: newID("vol", 16), name: name, storageType: storageType, metadata: metadata,
		createdAt: now, readyAt: now.Add(s.volumeDelay),
	}
	v.dir = filepath.Join(s.dir, "volumes", v.id)
	if err := os.MkdirAll(v.dir, 0o755); err != nil {
		return nil, err
	}
	s.volumes[v.id] = v
	return v, nil
}

// byName returns the volume called name. The caller holds s.mu.
func (s *Server) byName(name string) *volume {
	for _, v := range s.volumes {
		if v.name == name {
			return v
		}
	}
	return nil
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, v := range s.sortedVolumes() {
		out = append(out, s.volumeJSON(v))
	}
	writeOK(w, map[string]any{"volumes": out})
}

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string         `json:"name"`
		StorageType string         `json:"storageType"`
		Metadata    map[string]any `json:"metadata"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.StorageType == "" {
		req.StorageType = "ebs"
	}
	switch {
	case strings.TrimSpace(req.Name) == "":
		writeErr(w, http.StatusBadRequest, "name is required")
		return
	case req.StorageType != "ebs" && req.StorageType != "s3":
		writeErr(w, http.StatusBadRequest, `storageType must be "ebs" or "s3"`)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName(req.Name) != nil {
		writeErr(w, http.StatusConflict, "a volume named "+req.Name+" already exists")
		return
	}
	v, err := s.newVolume(req.Name, req.StorageType, req.Metadata)
	if err != nil {
		fail(w, err)
		return
	}
	writeOK(w, s.volumeJSON(v))
}

func (s *Server) getVolume(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.volumes[r.PathValue("id")]
	if v == nil {
		writeErr(w, http.StatusNotFound, "Volume not found")
		return
	}
	writeOK(w, s.volumeJSON(v))
}

func (s *Server) volumeByName(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	storageType := q.Get("storageType")
	if storageType == "" {
		storageType = "ebs"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byName(name)
	if v == nil {
		if q.Get("create") != "true" {
			writeErr(w, http.StatusNotFound, "Volume not found: "+name)
			return
		}
		var err error
		if v, err = s.newVolume(name, storageType, nil); err != nil {
			fail(w, err)
			return
		}
	}
	writeOK(w, s.volumeJSON(v))
}

func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.volumes[id]
	if v == nil {
		writeErr(w, http.StatusNotFound, "Volume not found")
		return
	}
	for _, sb := range s.sandboxes {
		if !s.refresh(sb) || sb.status == StatusStopped {
			continue
		}
		for _, vid := range sb.volumeIDs {
			if vid == id {
				fail(w, errInternal) // the core throws: mounted to an active sandbox
				return
			}
		}
	}
	if err := os.RemoveAll(v.dir); err != nil {
		fail(w, err)
		return
	}
	delete(s.volumes, id)
	writeOK(w, map[string]any{"id": id, "deleted": true})
}
