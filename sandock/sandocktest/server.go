//go:build unix

// Package sandocktest is an emulator of Sandock's REST API: an
// httptest-style server on 127.0.0.1 that speaks the API's wire protocol
// (paths under /api/v1, Bearer auth, the {success, code, message, data}
// wrapper on every response, SSE shell streams) and runs commands and files
// for real, on this machine, through the local sandbox engine.
//
// What it models:
//
//   - Sandboxes: POST /api/v1/sandbox creates one in status CREATING; start
//     makes it RUNNING (a 2xx start of a running sandbox answers
//     started=false); stop makes it STOPPED (processes killed, files kept);
//     DELETE removes it, after which it is absent from GET /api/v1/sandbox,
//     the only way to learn a status. Pause has no endpoint; Server.Pause
//     plays the platform pausing a sandbox (PAUSED; start resumes it).
//     The list is one page, in creation order, of {id, status, image,
//     createdAt} items, plus title with WithListTitles.
//   - Expiry, on Clock: a started sandbox becomes STOPPED when its
//     activeDeadlineSeconds (default 1800, at most 86400) pass, and a
//     stopped one is deleted after its autoDeleteInterval (minutes, default
//     1440; -1 never, 0 at once).
//   - Shell: POST …/shell runs a command to completion; …/shell/stream
//     streams it as SSE lines "data: <json>" (stdout, stderr, exit, error
//     events) ended by "data: [DONE]". Output is cut on UTF-8 boundaries;
//     bytes that are not UTF-8 become U+FFFD, as a JSON string must. A
//     string cmd runs with /bin/sh -c, an array without a shell; input is
//     stdin (none: /dev/null); timeoutMs (default 30000) runs in real time,
//     since the command is a real process, and a command killed by a signal
//     has exitCode null. A client that disconnects does not kill its
//     command: only timeoutMs, stop, delete or Close do.
//   - Files: fs/write, fs/read (contents as strings), fs/list (names only),
//     DELETE …/fs. Paths are relative to the workdir or absolute inside it.
//   - Volumes: get-or-create by name, create, get, list, delete (refused,
//     409, while mounted in a sandbox that is not stopped). A new volume is
//     pending_create until Clock passes its creation plus the volume delay
//     (WithVolumeDelay, default 1 s), then ready; only ready volumes can be
//     mounted.
//
// The sandbox's workdir is its real host directory, which commands see as
// their working directory (pwd) and which the fs endpoints use. Sandock
// mounts volumes at absolute container paths; the emulator has no
// container, so it mounts a volume at its mount path taken relative to the
// workdir, minus a leading /workspace (the image's WORKDIR):
// /workspace/data and /data both appear as <workdir>/data. Mounting over
// the workdir itself (/workspace) is refused with 400.
//
// Errors are the wrapper with success=false, code = the HTTP status and a
// message: 401 without the right Bearer key, 404 for an unknown sandbox,
// volume, file or route, 400 for a bad request, 409 when the sandbox's
// state forbids the operation (exec or files on a sandbox that is not
// RUNNING).
package sandocktest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/engine"
)

// DefaultAPIKey is the key a Server accepts unless WithAPIKey says
// otherwise.
const DefaultAPIKey = "sandocktest-key"

// The sandbox statuses, as GET /api/v1/sandbox reports them.
const (
	StatusCreating = "CREATING"
	StatusRunning  = "RUNNING"
	StatusStopped  = "STOPPED"
	StatusPaused   = "PAUSED"
)

// Server is a running emulator. Its fields are for tests: point a client at
// URL with APIKey, inject faults, count requests, move the clock.
type Server struct {
	URL      string       // base URL, http://127.0.0.1:port
	Faults   *emu.Faults  // injected failures
	Requests *emu.Counter // every request served, faults included
	Clock    *emu.Clock   // drives expiry and volume readiness

	srv         *httptest.Server
	eng         *engine.Engine
	apiKey      string
	dir         string
	addr        string
	cleanup     func() // removes a temporary dir
	volumeDelay time.Duration
	listTitles  bool
	ctx         context.Context // ends at Close: kills every command
	stop        context.CancelFunc

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	volumes   map[string]*volume // by id
}

type sandbox struct {
	id, image, title string
	createdAt        time.Time
	started          bool      // false: CREATING
	stoppedAt        time.Time // when it became STOPPED, once seen
	autoDelete       time.Duration
	volumeIDs        []string
	eng              *engine.Sandbox
}

type volume struct {
	id, name, storageType string
	metadata              map[string]any
	createdAt, readyAt    time.Time
	dir                   string
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the accepted API key (default DefaultAPIKey).
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithAddr serves on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithVolumeDelay sets how long, on Clock, a new volume stays
// pending_create (default 1 s; 0: ready at once).
func WithVolumeDelay(d time.Duration) Option { return func(s *Server) { s.volumeDelay = d } }

// WithListTitles makes GET /api/v1/sandbox report each sandbox's title
// too (null when it has none), as a service that reports it would.
// Sandock's documented list item is {id, status, image?, createdAt?}, which
// is what the emulator serves without this option.
func WithListTitles() Option { return func(s *Server) { s.listTitles = true } }

// WithDir keeps the sandboxes and volumes under dir (default: a temporary
// directory removed by Close).
func WithDir(dir string) Option { return func(s *Server) { s.dir = dir } }

// NewServer starts an emulator on a loopback port. It panics if it cannot,
// like httptest.NewServer. Call Close when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		apiKey:      DefaultAPIKey,
		Faults:      &emu.Faults{},
		Requests:    &emu.Counter{},
		Clock:       &emu.Clock{},
		volumeDelay: time.Second,
		sandboxes:   map[string]*sandbox{},
		volumes:     map[string]*volume{},
	}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.eng, s.dir, s.cleanup, err = emu.Engine(s.dir, "sandocktest"); err != nil {
		panic(err)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	if s.srv, err = emu.Serve(s.addr, emu.Middleware(s.Faults, s.Requests, writeErr, s.auth(s.routes())), false); err != nil {
		s.cleanup()
		panic("sandocktest: " + err.Error())
	}
	s.URL = s.srv.URL
	return s
}

// APIKey returns the bearer key the server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Close kills every command, stops the server and, unless WithDir was
// given, deletes the sandboxes' and volumes' files.
func (s *Server) Close() {
	s.stop()
	s.srv.Close()
	s.mu.Lock()
	for id, sb := range s.sandboxes {
		_ = sb.eng.Destroy()
		delete(s.sandboxes, id)
	}
	s.mu.Unlock()
	s.cleanup()
}

// Pause pauses a running sandbox, as the platform may: the API has no
// pause endpoint. Its processes are stopped, memory kept; start resumes it.
func (s *Server) Pause(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.sandboxes[id]
	if sb == nil || s.status(sb) != StatusRunning {
		return fmt.Errorf("sandocktest: no running sandbox %q", id)
	}
	return sb.eng.Pause()
}

// Status returns a sandbox's status as the API reports it, or "" if it
// does not exist (never created, deleted, or auto-deleted).
func (s *Server) Status(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.sandboxes[id]
	if sb == nil {
		return ""
	}
	return s.status(sb)
}

// status computes sb's status, applying expiry and auto-delete; "" means
// it was just deleted. The caller holds s.mu.
func (s *Server) status(sb *sandbox) string {
	m, err := sb.eng.Meta() // applies an expired deadline
	if err != nil {
		delete(s.sandboxes, sb.id)
		return ""
	}
	if !sb.started {
		return StatusCreating
	}
	switch m.State {
	case engine.Running:
		return StatusRunning
	case engine.Paused:
		return StatusPaused
	}
	now := s.Clock.Now()
	if sb.stoppedAt.IsZero() {
		sb.stoppedAt = now
		if !m.EndAt.IsZero() && !now.Before(m.EndAt) { // stopped by its deadline
			sb.stoppedAt = m.EndAt
		}
	}
	if sb.autoDelete >= 0 && !now.Before(sb.stoppedAt.Add(sb.autoDelete)) {
		_ = sb.eng.Destroy()
		delete(s.sandboxes, sb.id)
		return ""
	}
	return StatusStopped
}

// lookup returns the sandbox with id and its status, or writes 404.
func (s *Server) lookup(w http.ResponseWriter, id string) (*sandbox, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb := s.sandboxes[id]; sb != nil {
		if st := s.status(sb); st != "" {
			return sb, st, true
		}
	}
	writeErr(w, http.StatusNotFound, "Sandbox not found: "+id)
	return nil, "", false
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.apiKey {
			writeErr(w, http.StatusUnauthorized, "Unauthorized: a valid API key is required (Authorization: Bearer <key>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/meta", func(w http.ResponseWriter, r *http.Request) {
		writeOK(w, map[string]any{"version": "sandocktest", "timestamp": s.Clock.Now().UnixMilli()})
	})
	mux.HandleFunc("GET /api/v1/sandbox", s.listSandboxes)
	mux.HandleFunc("POST /api/v1/sandbox", s.createSandbox)
	mux.HandleFunc("POST /api/v1/sandbox/{id}/start", s.startSandbox)
	mux.HandleFunc("POST /api/v1/sandbox/{id}/stop", s.stopSandbox)
	mux.HandleFunc("DELETE /api/v1/sandbox/{id}", s.deleteSandbox)
	mux.HandleFunc("POST /api/v1/sandbox/{id}/shell", s.shell)
	mux.HandleFunc("POST /api/v1/sandbox/{id}/shell/stream", s.shellStream)
	mux.HandleFunc("POST /api/v1/sandbox/{id}/fs/write", s.writeFile)
	mux.HandleFunc("GET /api/v1/sandbox/{id}/fs/read", s.readFile)
	mux.HandleFunc("GET /api/v1/sandbox/{id}/fs/list", s.listFiles)
	mux.HandleFunc("DELETE /api/v1/sandbox/{id}/fs", s.removeFile)
	mux.HandleFunc("GET /api/v1/volume", s.listVolumes)
	mux.HandleFunc("POST /api/v1/volume", s.createVolume)
	mux.HandleFunc("GET /api/v1/volume/{id}", s.getVolume)
	mux.HandleFunc("GET /api/v1/volume/name/{name}", s.volumeByName)
	mux.HandleFunc("DELETE /api/v1/volume/{id}", s.deleteVolume)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "Not Found: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// envelope is the wrapper around every response.
type envelope struct {
	Success bool   `json:"success"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Code: http.StatusOK, Message: "SUCCESS", Data: data})
}

// writeErr is the emulator's error body, also for injected faults.
func writeErr(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, envelope{Success: false, Code: status, Message: message})
}

// fail answers with the status an engine error calls for.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, sandagent.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, sandagent.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, sandagent.ErrState), errors.Is(err, sandagent.ErrConflict):
		status = http.StatusConflict
	}
	msg := err.Error()
	var e *sandagent.Error
	if errors.As(err, &e) && e.Message != "" {
		msg = e.Message
	}
	writeErr(w, status, msg)
}

// decode reads a JSON body into v, or writes 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func newID(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (s *Server) listSandboxes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sbs := make([]*sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		sbs = append(sbs, sb)
	}
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].createdAt.Before(sbs[j].createdAt) })
	items := []map[string]any{}
	for _, sb := range sbs {
		if st := s.status(sb); st != "" {
			item := map[string]any{"id": sb.id, "status": st, "image": sb.image, "createdAt": timestamp(sb.createdAt)}
			if s.listTitles {
				item["title"] = nil
				if sb.title != "" {
					item["title"] = sb.title
				}
			}
			items = append(items, item)
		}
	}
	s.mu.Unlock()
	writeOK(w, map[string]any{"items": items})
}

// createRequest is CreateSandboxRequest.
type createRequest struct {
	Image                 string            `json:"image"`
	Title                 string            `json:"title"`
	Name                  string            `json:"name"`
	Env                   map[string]string `json:"env"`
	MemoryLimitMb         int               `json:"memoryLimitMb"`
	CPUShares             int               `json:"cpuShares"`
	ActiveDeadlineSeconds *int              `json:"activeDeadlineSeconds"`
	AutoDeleteInterval    *int              `json:"autoDeleteInterval"`
	Volumes               []struct {
		VolumeID  string `json:"volumeId"`
		MountPath string `json:"mountPath"`
		Subpath   string `json:"subpath"`
	} `json:"volumes"`
}

func (s *Server) createSandbox(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !decode(w, r, &req) {
		return
	}
	bad := func(format string, args ...any) { writeErr(w, http.StatusBadRequest, fmt.Sprintf(format, args...)) }
	deadline, autoDelete := 1800, 1440
	if p := req.ActiveDeadlineSeconds; p != nil {
		if *p <= 0 || *p > 86400 {
			bad("activeDeadlineSeconds must be between 1 and 86400")
			return
		}
		deadline = *p
	}
	if p := req.AutoDeleteInterval; p != nil {
		if *p < -1 {
			bad("autoDeleteInterval must be -1 or more")
			return
		}
		autoDelete = *p
	}
	if req.MemoryLimitMb < 0 || req.CPUShares < 0 {
		bad("memoryLimitMb and cpuShares cannot be negative")
		return
	}
	image := req.Image
	if image == "" {
		image = "sandockai/sandock-code:latest"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var mounts []engine.Volume
	var volIDs []string
	for _, v := range req.Volumes {
		vol := s.volumes[v.VolumeID]
		if vol == nil {
			bad("volume %s not found", v.VolumeID)
			return
		}
		if st := s.volumeStatus(vol); st != "ready" {
			bad("volume %s is not ready (status %s)", vol.name, st)
			return
		}
		rel, err := mountRel(v.MountPath)
		if err != nil {
			bad("volume %s: %v", vol.name, err)
			return
		}
		host := vol.dir
		if v.Subpath != "" {
			sub := path.Clean("/" + v.Subpath)
			host = filepath.Join(vol.dir, filepath.FromSlash(sub))
		}
		mounts = append(mounts, engine.Volume{HostDir: host, MountPath: rel})
		volIDs = append(volIDs, vol.id)
	}
	title := req.Title
	if title == "" {
		title = req.Name
	}
	id := newID("sdb")
	eng, err := s.eng.Create(engine.Spec{
		ID:       id,
		Name:     title,
		Env:      req.Env,
		Labels:   map[string]string{"sandock.image": image},
		Volumes:  mounts,
		Timeout:  time.Duration(deadline) * time.Second,
		Confined: true,
	}, s.Clock.Now)
	if err != nil {
		fail(w, err)
		return
	}
	if err := eng.Stop(); err != nil { // CREATING until started
		_ = eng.Destroy()
		fail(w, err)
		return
	}
	s.sandboxes[id] = &sandbox{
		id: id, image: image, title: title, createdAt: s.Clock.Now(),
		autoDelete: time.Duration(autoDelete) * time.Minute, volumeIDs: volIDs, eng: eng,
	}
	writeOK(w, map[string]any{"id": id})
}

// mountRel maps a container mount path into the workdir; see the package
// documentation.
func mountRel(mountPath string) (string, error) {
	if !path.IsAbs(mountPath) {
		return "", fmt.Errorf("mountPath %q must be absolute", mountPath)
	}
	p := path.Clean(mountPath)
	rel := strings.TrimPrefix(p, "/workspace/")
	if rel == p {
		rel = strings.TrimPrefix(p, "/")
	}
	if rel == "" || p == "/workspace" {
		return "", fmt.Errorf("mountPath %q: sandocktest cannot mount over the workdir", mountPath)
	}
	return rel, nil
}

// act runs fn on the sandbox the request names, under s.mu, and answers
// with what it returns.
func (s *Server) act(w http.ResponseWriter, r *http.Request, fn func(sb *sandbox, status string) (any, error)) {
	sb, st, ok := s.lookup(w, r.PathValue("id"))
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := fn(sb, st)
	if err != nil {
		fail(w, err)
		return
	}
	writeOK(w, data)
}

func (s *Server) startSandbox(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, func(sb *sandbox, st string) (any, error) {
		var err error
		started := true
		switch st {
		case StatusCreating, StatusStopped:
			err = sb.eng.Start()
		case StatusPaused:
			err = sb.eng.Resume()
		default:
			started = false // "started or reused"
		}
		if err != nil {
			return nil, err
		}
		sb.started, sb.stoppedAt = true, time.Time{}
		return map[string]any{"id": sb.id, "started": started}, nil
	})
}

func (s *Server) stopSandbox(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, func(sb *sandbox, _ string) (any, error) {
		if err := sb.eng.Stop(); err != nil {
			return nil, err
		}
		sb.started, sb.stoppedAt = true, s.Clock.Now()
		return map[string]any{"id": sb.id, "stopped": true}, nil
	})
}

func (s *Server) deleteSandbox(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, func(sb *sandbox, _ string) (any, error) {
		if err := sb.eng.Destroy(); err != nil {
			return nil, err
		}
		delete(s.sandboxes, sb.id)
		return map[string]any{"id": sb.id, "deleted": true}, nil
	})
}
