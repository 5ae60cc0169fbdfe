//go:build unix

// Package sandocktest is an emulator of Sandock's REST API as the public
// server contract and core describe it (sandock-ai/sandock,
// packages/sandock-contract and packages/sandock-core): an httptest-style
// server on 127.0.0.1 that speaks the API's wire protocol (paths under
// /api/v1, Bearer auth, the {success, code, message, data} wrapper on
// successes) and runs commands and files for real, on this machine, through
// the local sandbox engine.
//
// What it models, as the core does it:
//
//   - Create starts: POST /api/v1/sandbox answers once the sandbox is
//     RUNNING. Start of a sandbox in any other state starts it and answers
//     started=true, always.
//   - A sandbox's "container" holds its files and processes. Stop removes
//     it (only mounted volumes keep their files); the next start makes a new
//     one, empty but for the volumes, under the same id.
//   - Any shell, code, file or preview call on a sandbox that is not
//     RUNNING (STOPPED, PAUSED) starts it again first, silently. Nothing
//     answers "not running".
//   - Pause (only from RUNNING) and resume (only from PAUSED): in the
//     Kubernetes mode pause deletes the pod as stop does (memory and files
//     lost) and resume makes a new one; in the Docker mode pause changes the
//     status only (the container keeps running) and resume restarts the
//     container (files kept, processes killed).
//   - Delete is soft: the sandbox leaves the list, and any later call on
//     its id, delete included, fails.
//   - GET /api/v1/sandbox is one page, in creation order, of {id, status}
//     items and nothing else (WithListTitles adds title, as a service that
//     reported it would).
//   - Expiry, on Clock: a sandbox's activeDeadlineSeconds (default 1800
//     even when omitted, at most 86400) runs from its last start; the
//     keep-alive process of a sandbox created without `command` ends one
//     hour after each start (the core's `sleep 3600`); either stops it. A
//     STOPPED sandbox is deleted after its autoDeleteInterval (minutes,
//     default 1440; -1 never, 0 at once). A `command` is recorded, not run:
//     the emulator takes it to keep the sandbox alive until its deadline.
//   - Errors are oRPC's JSON, {defined, code, status, message}: 400
//     BAD_REQUEST for bad input and 500 INTERNAL_SERVER_ERROR, with the
//     generic message "Internal server error", for everything the core
//     throws: an unknown id, a deleted one, pause or resume in the wrong
//     state, a volume that cannot be mounted. A request without the right
//     Bearer key is 401 UNAUTHORIZED (the hosted service's auth is not
//     public). Only a path that matches no route gets the wrapper:
//     {success: false, code: 404, message: "Not Found: <path>", data: {}}.
//   - Shell (POST …/shell, and the hosted service's SSE …/shell/stream)
//     and code (POST …/code) run in one of two modes (WithMode):
//     Kubernetes, the default and what the hosted service runs on, and
//     Docker. See Mode.
//   - Files: fs/write (parents created), fs/read (a missing file reads as
//     "", successfully), fs/list (names; a missing directory lists as []),
//     DELETE …/fs (rm -rf: never fails). Contents are strings: bytes that
//     are not UTF-8 become U+FFFD. Relative paths resolve against the
//     workdir.
//   - GET …/preview-url?port= answers {url, token}; the url, on this
//     server, proxies to the port on 127.0.0.1, where the sandbox's
//     processes listen.
//   - Volumes (hosted routes): get-or-create by name, create, get, list,
//     delete (refused while mounted in a sandbox that is not stopped). A new
//     volume is pending_create until Clock passes its creation plus the
//     volume delay (WithVolumeDelay, default 1 s), then ready; only ready
//     volumes can be mounted.
//
// The workdir is /sandbox on the service. Until the engine gives each
// sandbox a filesystem root of its own, it is the engine sandbox's work
// tree (a host directory, which `pwd` prints), and a path under /sandbox
// maps into it; a volume mounted at an absolute path appears at that path
// taken relative to the workdir (/sandbox/data and /data both at
// <workdir>/data). Mounting over the workdir itself is refused.
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

	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/engine"
)

// DefaultAPIKey is the key a Server accepts unless WithAPIKey says
// otherwise.
const DefaultAPIKey = "sandocktest-key"

// The sandbox statuses, as GET /api/v1/sandbox reports them.
const (
	StatusRunning = "RUNNING"
	StatusStopped = "STOPPED"
	StatusPaused  = "PAUSED"
)

// Workdir is the sandbox's working directory on the service.
const Workdir = "/sandbox"

// The core's defaults.
const (
	DefaultDeadline     = 1800 * time.Second // activeDeadlineSeconds, even when omitted
	KeepAlive           = time.Hour          // the default main process, sleep 3600
	DefaultShellTimeout = 10 * time.Second   // timeoutMs when omitted
	defaultAutoDelete   = 1440 * time.Minute
)

// Mode is the core's provider a Server plays.
type Mode int

const (
	// Kubernetes is the hosted service's provider. A string cmd runs as
	// sh -lc "cd '<workdir>' && <cmd>"; an array cmd is joined with spaces,
	// unquoted, into such a line. The input is pasted into the command line
	// (printf '%s' '<input>' | …), so Linux's limit of 128 KiB on one
	// argument applies: a longer line fails with exit code 1 and "argument
	// list too long". Exit codes are 0 or 1 only (the exec status), 137 on
	// timeout; a timeout kills every process of the sandbox whose command
	// line holds "sh -lc" (pkill -9 -f 'sh -lc'), and nothing else.
	Kubernetes Mode = iota
	// Docker: a string cmd runs as sh -lc <cmd> in the workdir; an array cmd
	// runs without a shell (joined, unquoted, when env is set). The input is
	// the command's stdin. Exit codes are real, null when a signal killed
	// the command. A timeout kills the whole container: the sandbox stops
	// (the core's reconciler notices within 60 s; here at once).
	Docker
)

func (m Mode) String() string {
	if m == Docker {
		return "docker"
	}
	return "kubernetes"
}

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
	mode        Mode
	cleanup     func() // removes a temporary dir
	volumeDelay time.Duration
	listTitles  bool
	noStream    bool
	ctx         context.Context // ends at Close: kills every command
	stop        context.CancelFunc

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	order     []string                // sandbox ids in creation order
	volumes   map[string]*volume      // by id
	previews  map[string]preview      // by token
	shells    map[string]map[int]bool // pids of the shells running, by sandbox id
}

type sandbox struct {
	id, title, image string
	createdAt        time.Time
	status           string
	deleted          bool
	changedAt        time.Time // when the status last changed
	deadline         time.Duration
	command          []string
	autoDelete       time.Duration // < 0: never
	env              map[string]string
	mounts           []engine.Volume
	volumeIDs        []string
	eng              *engine.Sandbox // the container; nil when there is none
	startedAt        time.Time
}

type volume struct {
	id, name, storageType string
	metadata              map[string]any
	createdAt, readyAt    time.Time
	dir                   string
}

type preview struct {
	id   string
	port int
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the accepted API key (default DefaultAPIKey).
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithAddr serves on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithMode sets the core provider the server plays (default Kubernetes).
func WithMode(m Mode) Option { return func(s *Server) { s.mode = m } }

// WithVolumeDelay sets how long, on Clock, a new volume stays
// pending_create (default 1 s; 0: ready at once).
func WithVolumeDelay(d time.Duration) Option { return func(s *Server) { s.volumeDelay = d } }

// WithListTitles makes GET /api/v1/sandbox report each sandbox's title
// too, as a service that reports it would. The core's list item is
// {id, status}, which is what the emulator serves without this option.
func WithListTitles() Option { return func(s *Server) { s.listTitles = true } }

// WithoutStream serves no shell/stream route (it then answers 404, the
// wrapper for an unmatched path), as the public server, which has no SSE
// routes: only the blocking shell.
func WithoutStream() Option { return func(s *Server) { s.noStream = true } }

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
		previews:    map[string]preview{},
	}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.eng, s.dir, s.cleanup, err = emu.Engine(s.dir, "sandocktest"); err != nil {
		panic(err)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	if s.srv, err = emu.Serve(s.addr, emu.Middleware(s.Faults, s.Requests, writeErr, s.routes()), false); err != nil {
		s.cleanup()
		panic("sandocktest: " + err.Error())
	}
	s.URL = s.srv.URL
	return s
}

// APIKey returns the bearer key the server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Mode returns the core provider the server plays.
func (s *Server) Mode() Mode { return s.mode }

// Close kills every command, stops the server and, unless WithDir was
// given, deletes the sandboxes' and volumes' files.
func (s *Server) Close() {
	s.stop()
	s.srv.Close()
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		s.removeContainer(sb)
	}
	s.sandboxes = map[string]*sandbox{}
	s.mu.Unlock()
	s.cleanup()
}

// Status returns a sandbox's status as the API reports it, or "" if it is
// not listed (never created, deleted, or auto-deleted).
func (s *Server) Status(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.sandboxes[id]
	if sb == nil || !s.refresh(sb) {
		return ""
	}
	return sb.status
}

// Stop stops a sandbox as the platform may (its container removed, only
// volumes kept), without a request.
func (s *Server) Stop(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.sandboxes[id]
	if sb == nil || !s.refresh(sb) {
		return fmt.Errorf("sandocktest: no sandbox %q", id)
	}
	s.stopLocked(sb, StatusStopped)
	return nil
}

// refresh applies what the core's reconciler and auto-delete sweep would
// have done by now on Clock. It reports whether sb is listed (not
// deleted). The caller holds s.mu.
func (s *Server) refresh(sb *sandbox) bool {
	if sb.deleted {
		return false
	}
	now := s.Clock.Now()
	if sb.status == StatusRunning && sb.eng != nil {
		if m, err := sb.eng.Meta(); err != nil || m.State != engine.Running { // its deadline or keep-alive passed
			end := now
			if err == nil && !m.EndAt.IsZero() {
				end = m.EndAt
			}
			s.stopLocked(sb, StatusStopped)
			sb.changedAt = end
		}
	}
	if sb.status == StatusStopped && sb.autoDelete >= 0 && !now.Before(sb.changedAt.Add(sb.autoDelete)) {
		sb.deleted = true
		return false
	}
	return true
}

// lifetime is how long a container lives after a start: the deadline, or
// the keep-alive process's hour when that is shorter.
func (sb *sandbox) lifetime() time.Duration {
	if len(sb.command) == 0 {
		return min(sb.deadline, KeepAlive)
	}
	return sb.deadline
}

// startLocked makes sb RUNNING: a new container, or in the Docker mode a
// restart of the one it has (files kept, processes killed). The caller
// holds s.mu.
func (s *Server) startLocked(sb *sandbox) error {
	if sb.eng != nil {
		if err := sb.eng.Stop(); err != nil {
			return err
		}
		if err := sb.eng.Start(); err != nil { // a fresh lifetime
			return err
		}
	} else {
		eng, err := s.eng.Create(engine.Spec{
			ID:      sb.id,
			Name:    sb.title,
			Env:     sb.env,
			Volumes: sb.mounts,
			Timeout: sb.lifetime(),
			// A confined work tree stands for Workdir (see the package
			// doc); a root of its own with Home: Workdir is to come.
			Confined: true,
		}, s.Clock.Now)
		if err != nil {
			return err
		}
		sb.eng = eng
	}
	sb.status, sb.changedAt, sb.startedAt = StatusRunning, s.Clock.Now(), s.Clock.Now()
	return nil
}

// stopLocked removes sb's container and sets its status. The caller holds
// s.mu.
func (s *Server) stopLocked(sb *sandbox, status string) {
	s.removeContainer(sb)
	sb.status, sb.changedAt = status, s.Clock.Now()
}

func (s *Server) removeContainer(sb *sandbox) {
	if sb.eng != nil {
		_ = sb.eng.Destroy()
		sb.eng = nil
	}
	for tok, p := range s.previews {
		if p.id == sb.id {
			delete(s.previews, tok)
		}
	}
}

// errInternal is what the core throws: a 500 with oRPC's generic message.
var errInternal = errors.New("internal")

// get returns the listed sandbox with id, or errInternal: the core throws
// for an unknown id and for a deleted one alike. The caller holds s.mu.
func (s *Server) get(id string) (*sandbox, error) {
	sb := s.sandboxes[id]
	if sb == nil || !s.refresh(sb) {
		return nil, errInternal
	}
	return sb, nil
}

// running returns the sandbox with id, started first if it is not
// RUNNING, as the core's "get provider" does for every call. The caller
// holds s.mu.
func (s *Server) running(id string) (*sandbox, error) {
	sb, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if sb.status != StatusRunning {
		if err := s.startLocked(sb); err != nil {
			return nil, err
		}
	}
	return sb, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.auth(h)) }
	api("GET /api/v1/sandbox", s.listSandboxes)
	api("POST /api/v1/sandbox", s.createSandbox)
	api("POST /api/v1/sandbox/{id}/start", s.lifecycle("start"))
	api("POST /api/v1/sandbox/{id}/stop", s.lifecycle("stop"))
	api("POST /api/v1/sandbox/{id}/pause", s.lifecycle("pause"))
	api("POST /api/v1/sandbox/{id}/resume", s.lifecycle("resume"))
	api("DELETE /api/v1/sandbox/{id}", s.lifecycle("delete"))
	api("POST /api/v1/sandbox/{id}/shell", s.shell)
	if !s.noStream {
		api("POST /api/v1/sandbox/{id}/shell/stream", s.shellStream)
	}
	api("POST /api/v1/sandbox/{id}/code", s.code)
	api("POST /api/v1/sandbox/{id}/fs/write", s.writeFile)
	api("GET /api/v1/sandbox/{id}/fs/read", s.readFile)
	api("GET /api/v1/sandbox/{id}/fs/list", s.listFiles)
	api("DELETE /api/v1/sandbox/{id}/fs", s.removeFile)
	api("GET /api/v1/sandbox/{id}/preview-url", s.previewURL)
	api("GET /api/v1/volume", s.listVolumes)
	api("POST /api/v1/volume", s.createVolume)
	api("GET /api/v1/volume/{id}", s.getVolume)
	api("GET /api/v1/volume/name/{name}", s.volumeByName)
	api("DELETE /api/v1/volume/{id}", s.deleteVolume)
	mux.HandleFunc("/preview/{token}/", s.proxy)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, envelope{Success: false, Code: http.StatusNotFound, Message: "Not Found: " + r.URL.Path, Data: map[string]any{}})
	})
	return mux
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

// envelope is the wrapper around successful responses (and the answer to
// a path no route matches).
type envelope struct {
	Success bool   `json:"success"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// orpcError is oRPC's error body.
type orpcError struct {
	Defined bool   `json:"defined"`
	Code    string `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Code: http.StatusOK, Message: "SUCCESS", Data: data})
}

// orpcCodes are oRPC's codes for the statuses the emulator answers with.
var orpcCodes = map[int]string{
	400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_SUPPORTED",
	408: "TIMEOUT", 409: "CONFLICT", 429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR",
	501: "NOT_IMPLEMENTED", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT",
}

// writeErr answers with oRPC's error JSON, also for injected faults.
func writeErr(w http.ResponseWriter, status int, message string) {
	code := orpcCodes[status]
	if code == "" {
		code = strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	}
	writeJSON(w, status, orpcError{Code: code, Status: status, Message: message})
}

// badRequest is input the contract's schemas reject: 400.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// fail answers 400 for a badRequest, else 500 with oRPC's generic message,
// as the core's thrown errors are.
func fail(w http.ResponseWriter, err error) {
	var bad badRequest
	if errors.As(err, &bad) {
		writeErr(w, http.StatusBadRequest, string(bad))
		return
	}
	writeErr(w, http.StatusInternalServerError, "Internal server error")
}

// decode reads a JSON body into v, or writes 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "Input validation failed: "+err.Error())
		return false
	}
	return true
}

func newID(prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	if prefix == "sdb" { // engine ids start with a letter or digit
		b[0] = 'A' + b[0]%26
	}
	return prefix + string(b)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (s *Server) listSandboxes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	items := []map[string]any{}
	for _, id := range s.order {
		sb := s.sandboxes[id]
		if !s.refresh(sb) {
			continue
		}
		item := map[string]any{"id": sb.id, "status": sb.status}
		if s.listTitles {
			item["title"] = sb.title
		}
		items = append(items, item)
	}
	s.mu.Unlock()
	writeOK(w, map[string]any{"items": items})
}

// createRequest is CreateSandboxInput; unknown keys are dropped.
type createRequest struct {
	Title                 *string           `json:"title"`
	Image                 string            `json:"image"`
	Env                   map[string]string `json:"env"`
	MemoryLimitMb         *int              `json:"memoryLimitMb"`
	CPUShares             *int              `json:"cpuShares"`
	ActiveDeadlineSeconds *int              `json:"activeDeadlineSeconds"`
	AutoDeleteInterval    *int              `json:"autoDeleteInterval"`
	Command               []string          `json:"command"`
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
	sb := &sandbox{deadline: DefaultDeadline, autoDelete: defaultAutoDelete, image: req.Image, env: req.Env, command: req.Command}
	if err := s.validate(&req, sb); err != nil {
		fail(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range req.Volumes {
		vol := s.volumes[v.VolumeID]
		if vol == nil || s.volumeStatus(vol) != "ready" {
			fail(w, errInternal) // the core's mount validation throws
			return
		}
		rel, err := mountRel(v.MountPath)
		if err != nil {
			fail(w, err)
			return
		}
		host := vol.dir
		if v.Subpath != "" {
			host = filepath.Join(vol.dir, filepath.FromSlash(path.Clean("/"+v.Subpath)))
		}
		sb.mounts = append(sb.mounts, engine.Volume{HostDir: host, MountPath: rel})
		sb.volumeIDs = append(sb.volumeIDs, vol.id)
	}
	sb.id = newID("sdb", 12)
	if sb.title == "" {
		sb.title = "sandbox-" + strings.ToLower(sb.id[3:9])
	}
	sb.createdAt = s.Clock.Now()
	if err := s.startLocked(sb); err != nil { // the core starts in the same call
		fail(w, err)
		return
	}
	s.sandboxes[sb.id] = sb
	s.order = append(s.order, sb.id)
	writeOK(w, map[string]any{"id": sb.id})
}

// validate applies the contract's schema and the core's defaults.
func (s *Server) validate(req *createRequest, sb *sandbox) error {
	if t := req.Title; t != nil {
		if len(*t) < 1 || len(*t) > 255 {
			return badRequest("title must be 1 to 255 characters")
		}
		sb.title = *t
	}
	if p := req.ActiveDeadlineSeconds; p != nil {
		if *p <= 0 || *p > 86400 {
			return badRequest("activeDeadlineSeconds must be a positive integer at most 86400")
		}
		sb.deadline = time.Duration(*p) * time.Second
	}
	if p := req.AutoDeleteInterval; p != nil {
		if *p < -1 {
			return badRequest("autoDeleteInterval must be -1 or more")
		}
		sb.autoDelete = time.Duration(*p) * time.Minute
	}
	for _, p := range []*int{req.MemoryLimitMb, req.CPUShares} {
		if p != nil && *p <= 0 {
			return badRequest("memoryLimitMb and cpuShares must be positive integers")
		}
	}
	if sb.image == "" {
		sb.image = "sandockai/sandock-code:latest"
	}
	return nil
}

// mountRel maps a container mount path into the workdir; see the package
// documentation.
func mountRel(mountPath string) (string, error) {
	if !path.IsAbs(mountPath) {
		return "", badRequest(fmt.Sprintf("mountPath %q must be absolute", mountPath))
	}
	p := path.Clean(mountPath)
	rel := strings.TrimPrefix(p, Workdir+"/")
	if rel == p {
		rel = strings.TrimPrefix(p, "/")
	}
	if rel == "" || p == Workdir {
		return "", badRequest(fmt.Sprintf("mountPath %q: sandocktest cannot mount over the workdir", mountPath))
	}
	return rel, nil
}

// lifecycle serves start, stop, pause, resume and delete.
func (s *Server) lifecycle(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		sb, err := s.get(r.PathValue("id"))
		if err != nil {
			fail(w, err)
			return
		}
		var data map[string]any
		switch op {
		case "start":
			if sb.status != StatusRunning {
				err = s.startLocked(sb)
			}
			data = map[string]any{"id": sb.id, "started": true}
		case "stop":
			if sb.status != StatusStopped {
				s.stopLocked(sb, StatusStopped)
			}
			data = map[string]any{"id": sb.id, "stopped": true}
		case "pause":
			switch {
			case sb.status != StatusRunning:
				err = errInternal
			case s.mode == Docker: // the container is left running
				sb.status, sb.changedAt = StatusPaused, s.Clock.Now()
			default: // the pod is deleted
				s.stopLocked(sb, StatusPaused)
			}
			data = map[string]any{"id": sb.id, "status": StatusPaused, "paused": true}
		case "resume":
			if sb.status != StatusPaused {
				err = errInternal
			} else {
				err = s.startLocked(sb)
			}
			data = map[string]any{"id": sb.id, "status": StatusRunning, "resumed": true}
		case "delete":
			s.stopLocked(sb, "DELETED")
			sb.deleted = true
			data = map[string]any{"id": sb.id, "deleted": true}
		}
		if err != nil {
			fail(w, err)
			return
		}
		writeOK(w, data)
	}
}

// sortedVolumes returns the volumes in creation order. The caller holds
// s.mu.
func (s *Server) sortedVolumes() []*volume {
	vs := make([]*volume, 0, len(s.volumes))
	for _, v := range s.volumes {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].createdAt.Before(vs[j].createdAt) })
	return vs
}
