//go:build unix

package sandbasetest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
)

// The statuses of a sandbox. The emulator's sandboxes are never creating
// (create is synchronous) nor in error, but both filter values are valid.
const (
	statusCreating = "creating"
	statusRunning  = "running"
	statusPaused   = "paused"
	statusStopped  = "stopped"
	statusError    = "error"
)

// maxControlBody bounds the body of a lifecycle request.
const maxControlBody = 1 << 20

// clientID is the constant SandBase reports in every sandbox object.
const clientID = "erouter"

// templates are SandBase's templates with their default timeouts.
var templates = map[string]time.Duration{
	"code_interpreter": 300 * time.Second,
	"claude":           600 * time.Second,
	"codex":            600 * time.Second,
	"hermes-agent":     600 * time.Second,
	"opencode":         600 * time.Second,
	"desktop":          600 * time.Second,
	"base":             300 * time.Second,
}

// idPattern is what the emulator accepts as a sandbox id: "sbx_" and
// letters or digits. Anything else is 400 "invalid sandbox id".
var idPattern = regexp.MustCompile(`^sbx_[A-Za-z0-9]{1,64}$`)

// sandbox is the emulator's record of one sandbox. Its fields are guarded
// by Server.mu.
type sandbox struct {
	id         string
	templateID string
	metadata   map[string]string
	status     string
	startedAt  time.Time     // creation
	endAt      time.Time     // running: expiry; paused: when paused; stopped: when it stopped
	runStart   time.Time     // start of the current continuous run (creation or last resume)
	timeout    time.Duration // the window a resume restarts
	seq        int           // creation order
	eng        *engine.Sandbox
}

// sandboxJSON is SandBase's sandbox object.
type sandboxJSON struct {
	SandboxID  string            `json:"sandboxID"`
	TemplateID string            `json:"templateID"`
	ClientID   string            `json:"clientID"`
	Metadata   map[string]string `json:"metadata"`
	StartedAt  time.Time         `json:"startedAt"`
	EndAt      time.Time         `json:"endAt"`
	Status     string            `json:"status"`
}

func (sb *sandbox) json() sandboxJSON {
	md := sb.metadata
	if md == nil {
		md = map[string]string{}
	}
	return sandboxJSON{
		SandboxID: sb.id, TemplateID: sb.templateID, ClientID: clientID, Metadata: md,
		StartedAt: sb.startedAt.UTC(), EndAt: sb.endAt.UTC(), Status: sb.status,
	}
}

// expire stops a running sandbox whose timeout or lifetime has ended: its
// processes are killed and its files deleted; the record stays, stopped.
// The caller holds s.mu.
func (s *Server) expire(sb *sandbox) {
	if sb.status != statusRunning || s.Clock.Now().Before(sb.endAt) {
		return
	}
	sb.status = statusStopped
	if sb.eng != nil {
		_ = sb.eng.Destroy()
		sb.eng = nil
	}
}

// deadline is now+d, cut at the end of the sandbox's continuous lifetime.
func (s *Server) deadline(sb *sandbox, now time.Time, d time.Duration) time.Time {
	t, limit := now.Add(d), sb.runStart.Add(s.maxLifetime)
	if t.After(limit) {
		return limit
	}
	return t
}

// find returns the sandbox named by the request's {id}, after applying its
// expiry, or writes the error. The caller holds s.mu.
func (s *Server) find(w http.ResponseWriter, r *http.Request) (*sandbox, bool) {
	id := r.PathValue("id")
	if !idPattern.MatchString(id) {
		writeError(w, http.StatusBadRequest, "invalid sandbox id")
		return nil, false
	}
	sb := s.sandboxes[id]
	if sb == nil {
		writeError(w, http.StatusNotFound, "sandbox not found")
		return nil, false
	}
	s.expire(sb)
	return sb, true
}

// stateError answers an operation that sb's status forbids.
func stateError(w http.ResponseWriter, status string) {
	writeError(w, http.StatusConflict, "sandbox is "+status)
}

// seconds reads an optional timeout field: nil gives def, a value must be
// positive.
func seconds(w http.ResponseWriter, v *int64, def time.Duration) (time.Duration, bool) {
	if v == nil {
		return def, true
	}
	if *v <= 0 {
		writeError(w, http.StatusBadRequest, "timeout must be greater than 0")
		return 0, false
	}
	return time.Duration(min(*v, int64(24*time.Hour/time.Second))) * time.Second, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TemplateID string            `json:"templateID"`
		Timeout    *int64            `json:"timeout"`
		Metadata   map[string]string `json:"metadata"`
		EnvVars    map[string]string `json:"envVars"`
	}
	if !decodeBody(w, r, &req, false) {
		return
	}
	if req.TemplateID == "" {
		writeError(w, http.StatusBadRequest, "templateID is required")
		return
	}
	def, ok := templates[req.TemplateID]
	if !ok {
		writeError(w, http.StatusBadRequest, "unknown template: "+req.TemplateID)
		return
	}
	timeout, ok := seconds(w, req.Timeout, def)
	if !ok {
		return
	}
	now := s.Clock.Now()
	var eng *engine.Sandbox
	var err error
	for range 3 { // ids are random: try again on the rare collision
		eng, err = s.eng.Create(engine.Spec{ID: "sbx_" + randomHex(6), Env: req.EnvVars, Labels: req.Metadata, Confined: true}, s.Clock.Now)
		if !errors.Is(err, sandagent.ErrConflict) {
			break
		}
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "failed to create sandbox in provider")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	sb := &sandbox{
		id: eng.ID(), templateID: req.TemplateID, metadata: req.Metadata, status: statusRunning,
		startedAt: now, runStart: now, timeout: timeout, seq: s.seq, eng: eng,
	}
	sb.endAt = s.deadline(sb, now, timeout)
	s.sandboxes[sb.id] = sb
	writeJSON(w, http.StatusCreated, sb.json())
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("status")
	switch filter {
	case "", statusCreating, statusRunning, statusPaused, statusStopped, statusError:
	default:
		writeError(w, http.StatusBadRequest, "invalid status filter: "+filter)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		s.expire(sb)
		if filter == "" || sb.status == filter {
			all = append(all, sb)
		}
	}
	slices.SortFunc(all, func(a, b *sandbox) int { return b.seq - a.seq }) // most recent first
	out := make([]sandboxJSON, len(all))
	for i, sb := range all {
		out[i] = sb.json()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, _ *http.Request, sb *sandbox) {
	writeJSON(w, http.StatusOK, sb.json())
}

// kill deletes the sandbox for good: afterwards it is not found.
func (s *Server) kill(w http.ResponseWriter, _ *http.Request, sb *sandbox) {
	if sb.eng != nil {
		if err := sb.eng.Destroy(); err != nil {
			writeError(w, http.StatusBadGateway, "failed to kill sandbox in provider")
			return
		}
	}
	sb.status, sb.eng = statusStopped, nil
	delete(s.sandboxes, sb.id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pause(w http.ResponseWriter, _ *http.Request, sb *sandbox) {
	switch sb.status {
	case statusRunning:
	case statusPaused:
		writeError(w, http.StatusConflict, "sandbox is already paused")
		return
	default:
		stateError(w, sb.status)
		return
	}
	if err := sb.eng.Pause(); err != nil {
		writeError(w, http.StatusBadGateway, "failed to pause sandbox in provider")
		return
	}
	sb.status, sb.endAt = statusPaused, s.Clock.Now()
	w.WriteHeader(http.StatusNoContent)
}

// timeoutBody reads the body {"timeout": seconds}: 0 when it has none.
func timeoutBody(w http.ResponseWriter, r *http.Request, required bool) (time.Duration, bool) {
	var req struct {
		Timeout *int64 `json:"timeout"`
	}
	if !decodeBody(w, r, &req, true) {
		return 0, false
	}
	if required && req.Timeout == nil {
		writeError(w, http.StatusBadRequest, "timeout is required")
		return 0, false
	}
	return seconds(w, req.Timeout, 0)
}

// connect serves both /connect and /resume: a paused sandbox is resumed
// (201) with a fresh timeout and lifetime window; a running one has its
// timeout extended, never shortened (200).
func (s *Server) connect(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	timeout, ok := timeoutBody(w, r, false)
	if !ok {
		return
	}
	if timeout == 0 {
		timeout = sb.timeout
	}
	now := s.Clock.Now()
	switch sb.status {
	case statusRunning:
		if t := s.deadline(sb, now, timeout); t.After(sb.endAt) { // extend, never shorten
			sb.endAt = t
		}
		writeJSON(w, http.StatusOK, sb.json())
	case statusPaused:
		if err := sb.eng.Resume(); err != nil {
			writeError(w, http.StatusBadGateway, "failed to resume sandbox in provider")
			return
		}
		sb.status, sb.runStart, sb.timeout = statusRunning, now, timeout
		sb.endAt = s.deadline(sb, now, timeout)
		writeJSON(w, http.StatusCreated, sb.json())
	default:
		stateError(w, sb.status)
	}
}

func (s *Server) setTimeout(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	timeout, ok := timeoutBody(w, r, true)
	if !ok {
		return
	}
	if sb.status != statusRunning {
		stateError(w, sb.status)
		return
	}
	sb.timeout = timeout
	sb.endAt = s.deadline(sb, s.Clock.Now(), timeout)
	w.WriteHeader(http.StatusNoContent)
}

// locked wraps a control-plane handler: h runs with s.mu held, on the
// sandbox of the request's {id}. The body is read before the lock is taken.
func (s *Server) locked(h func(http.ResponseWriter, *http.Request, *sandbox)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		defer s.mu.Unlock()
		if sb, ok := s.find(w, r); ok {
			h(w, r, sb)
		}
	}
}

// inside wraps a handler of something inside the sandbox (its processes,
// files, runtime): the sandbox must be running. h runs without s.mu.
func (s *Server) inside(h func(http.ResponseWriter, *http.Request, *sandbox, *engine.Sandbox)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		sb, ok := s.find(w, r)
		var eng *engine.Sandbox
		if ok {
			if sb.status != statusRunning {
				stateError(w, sb.status)
				ok = false
			}
			eng = sb.eng
		}
		s.mu.Unlock()
		if ok {
			h(w, r, sb, eng)
		}
	}
}

// gone answers, when sb is no longer running (it was killed, paused or
// stopped while the request was served), what a request that found it so
// would have got.
func (s *Server) gone(w http.ResponseWriter, sb *sandbox) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(sb)
	switch {
	case s.sandboxes[sb.id] != sb:
		writeError(w, http.StatusNotFound, "sandbox not found")
	case sb.status != statusRunning:
		stateError(w, sb.status)
	default:
		return false
	}
	return true
}

// engineError answers a failed engine operation inside sb.
func (s *Server) engineError(w http.ResponseWriter, sb *sandbox, err error) {
	if s.gone(w, sb) {
		return
	}
	msg := message(err)
	switch {
	case errors.Is(err, sandagent.ErrNotFound):
		writeError(w, http.StatusNotFound, msg)
	case errors.Is(err, sandagent.ErrInvalid), errors.Is(err, sandagent.ErrConflict):
		writeError(w, http.StatusBadRequest, msg)
	default:
		writeError(w, http.StatusBadGateway, msg)
	}
}
