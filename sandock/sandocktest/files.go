//go:build unix

package sandocktest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sandagent/sandagent/internal/engine"
)

// running returns the RUNNING sandbox the request names, or writes the
// error.
func (s *Server) running(w http.ResponseWriter, r *http.Request) (*engine.Sandbox, bool) {
	sb, st, ok := s.lookup(w, r.PathValue("id"))
	if !ok {
		return nil, false
	}
	if st != StatusRunning {
		writeErr(w, http.StatusConflict, "Sandbox "+sb.id+" is not running (status "+st+")")
		return nil, false
	}
	return sb.eng, true
}

// pathParam returns the running sandbox and the ?path= parameter (def when
// absent; "" means required), or writes the error.
func (s *Server) pathParam(w http.ResponseWriter, r *http.Request, def string) (*engine.Sandbox, string, bool) {
	eng, ok := s.running(w, r)
	if !ok {
		return nil, "", false
	}
	p := r.URL.Query().Get("path")
	if p == "" {
		p = def
	}
	if p == "" {
		writeErr(w, http.StatusBadRequest, "path is required")
		return nil, "", false
	}
	return eng, p, true
}

// abs resolves an API path against the workdir.
func abs(eng *engine.Sandbox, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(eng.Workdir(), p)
}

func (s *Server) writeFile(w http.ResponseWriter, r *http.Request) {
	eng, ok := s.running(w, r)
	if !ok {
		return
	}
	var req struct {
		Path       string `json:"path"`
		Content    string `json:"content"`
		Executable bool   `json:"executable"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Path == "" {
		writeErr(w, http.StatusBadRequest, "path is required")
		return
	}
	p := abs(eng, req.Path)
	if err := eng.Write(p, strings.NewReader(req.Content)); err != nil {
		fail(w, err)
		return
	}
	if req.Executable {
		real, err := eng.Resolve(p, false)
		if err == nil {
			err = os.Chmod(real, 0o755)
		}
		if err != nil {
			fail(w, err)
			return
		}
	}
	writeOK(w, true)
}

func (s *Server) readFile(w http.ResponseWriter, r *http.Request) {
	eng, p, ok := s.pathParam(w, r, "")
	if !ok {
		return
	}
	f, err := eng.Open(abs(eng, p))
	if err != nil {
		fail(w, err)
		return
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		fail(w, err)
		return
	}
	// A JSON string: bytes that are not UTF-8 become U+FFFD.
	writeOK(w, map[string]any{"path": p, "content": string(b)})
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	eng, p, ok := s.pathParam(w, r, ".")
	if !ok {
		return
	}
	fis, err := eng.ListDir(abs(eng, p))
	if err != nil {
		fail(w, err)
		return
	}
	names := make([]string, 0, len(fis))
	for _, fi := range fis {
		names = append(names, fi.Name)
	}
	sort.Strings(names)
	writeOK(w, map[string]any{"path": p, "entries": names})
}

func (s *Server) removeFile(w http.ResponseWriter, r *http.Request) {
	eng, p, ok := s.pathParam(w, r, "")
	if !ok {
		return
	}
	if err := eng.Remove(abs(eng, p)); err != nil {
		fail(w, err)
		return
	}
	writeOK(w, true)
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
		id: newID("vol"), name: name, storageType: storageType, metadata: metadata,
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
	vs := make([]*volume, 0, len(s.volumes))
	for _, v := range s.volumes {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].createdAt.Before(vs[j].createdAt) })
	out := []map[string]any{}
	for _, v := range vs {
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
		st := s.status(sb)
		if st == "" || st == StatusStopped {
			continue
		}
		for _, vid := range sb.volumeIDs {
			if vid == id {
				writeErr(w, http.StatusConflict, "volume "+v.name+" is mounted to active sandbox "+sb.id)
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
