//go:build unix

package e2btest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/engine"
)

// Constants of the real service.
const (
	envdVersion    = "0.6.13"
	envdPort       = 49983
	defaultTimeout = 15 * time.Second // when a v1 create or a resume omits it
	// defaultTimeoutV2 is the timeout of a v2 create or connect that omits
	// it.
	defaultTimeoutV2 = 300 * time.Second
	minRefresh       = 15 * time.Second
	maxListLimit     = 100
	cpuCount         = 2
	memoryMB         = 512
	diskSizeMB       = 10240
)

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9]+$`)
	apiKeyPattern = regexp.MustCompile(`^e2b_[0-9a-f]{40}$`)
)

// sandbox is the emulator's record of one sandbox. Fields other than eng,
// the immutable ones set at create and procs are guarded by Server.mu.
type sandbox struct {
	id         string
	template   string
	eng        *engine.Sandbox
	secure     bool
	token      atomic.Pointer[string] // envdAccessToken when secure; envd reads it unlocked
	internet   *bool
	metadata   map[string]string
	envVars    map[string]string
	autoPause  bool
	autoResume bool
	timeout    time.Duration // as created: the timeout of an auto-resume
	startedAt  time.Time
	endAt      time.Time
	madeAt     time.Time // real time, for Faults.Listed
	paused     bool
	procs      procTable
}

func (s *Server) controlPlane(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/files" || p == "/envs" || strings.HasPrefix(p, "/process.Process/") || strings.HasPrefix(p, "/filesystem.Filesystem/") {
		// envd's routes without the routing headers: the proxy cannot tell
		// the sandbox from the host.
		writeAPIError(w, http.StatusBadRequest, "Invalid host")
		return
	}
	if r.Method == http.MethodGet && p == "/health" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Health check successful")
		return
	}
	if msg := s.d.Authenticate(r.Header.Get("X-API-Key"), s.apiKey); msg != "" {
		writeAPIError(w, http.StatusUnauthorized, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	s.api.ServeHTTP(w, r)
}

// newAPIMux routes the control plane: v2 create and connect (unless
// WithV1Only), their deprecated v1 routes and the rest.
func (s *Server) newAPIMux() http.Handler {
	mux := http.NewServeMux()
	if !s.v1Only {
		mux.HandleFunc("POST /v2/sandboxes", s.createV2)
		mux.HandleFunc("POST /v2/sandboxes/{id}/connect", s.withSandbox(s.connectV2))
	}
	mux.HandleFunc("POST /sandboxes", s.create)
	mux.HandleFunc("POST /sandboxes/{id}/connect", s.withSandbox(s.connect))
	if !s.d.NoLegacy {
		mux.HandleFunc("GET /sandboxes", s.listV1)
		mux.HandleFunc("POST /sandboxes/{id}/resume", s.withSandbox(s.resume))
		mux.HandleFunc("POST /sandboxes/{id}/refreshes", s.withSandbox(s.refresh))
	}
	mux.HandleFunc("GET /v2/sandboxes", s.listV2)
	mux.HandleFunc("GET /sandboxes/{id}", s.withSandbox(s.get))
	mux.HandleFunc("DELETE /sandboxes/{id}", s.withSandbox(s.kill))
	mux.HandleFunc("POST /sandboxes/{id}/pause", s.withSandbox(s.pause))
	mux.HandleFunc("POST /sandboxes/{id}/timeout", s.withSandbox(s.setTimeout))
	return emu.Routes(mux, writeAPIError)
}

// authenticate checks an X-API-Key value as E2B does and returns the 401
// message, or "" when the key is the accepted one.
func authenticate(key, accepted string) string {
	const invalid = "Invalid API key, please visit https://e2b.dev/docs/api-key for more information.\n"
	switch {
	case key == "":
		return "authorization header is missing"
	case !strings.HasPrefix(key, "e2b_"):
		return "authorization header is malformed"
	case key == accepted:
		return ""
	case !apiKeyPattern.MatchString(key):
		return invalid + "Invalid API key format"
	}
	return invalid + "Cannot get the team for the given API key"
}

// expireLocked applies the timeouts that ended by the clock: the sandbox
// is paused if it was created with autoPause, else killed.
func (s *Server) expireLocked() {
	now := s.Clock.Now()
	for _, sb := range s.sandboxes {
		if sb.paused || now.Before(sb.endAt) {
			continue
		}
		switch {
		case sb.autoPause:
			s.pauseLocked(sb, sb.endAt)
		case s.d.LifetimeExceeded != "" && !sb.endAt.Before(sb.startedAt.Add(s.d.MaxLifetime)):
			s.killLocked(sb)
			s.ended[sb.id] = true // its lifetime ran out: a 409 tells it
		default:
			s.killLocked(sb)
		}
	}
}

func (s *Server) pauseLocked(sb *sandbox, at time.Time) {
	_ = sb.eng.Pause()
	sb.paused, sb.endAt = true, at // a paused sandbox's endAt is the time of the pause
}

func (s *Server) resumeLocked(sb *sandbox, timeout time.Duration) {
	_ = sb.eng.Resume()
	now := s.Clock.Now()
	sb.paused, sb.startedAt, sb.endAt = false, now, now.Add(timeout) // resuming restarts the runtime window
}

func (s *Server) killLocked(sb *sandbox) {
	_ = sb.eng.Destroy()
	delete(s.sandboxes, sb.id)
}

// keepAliveLocked moves a running sandbox's end to timeout from now, within
// the maximum length; without allowShorter only later.
func (s *Server) keepAliveLocked(w http.ResponseWriter, sb *sandbox, timeout time.Duration, allowShorter bool) bool {
	now := s.Clock.Now()
	left := sb.startedAt.Add(s.d.MaxLifetime).Sub(now)
	if left <= 0 {
		if s.d.LifetimeExceeded != "" {
			writeAPIError(w, http.StatusConflict, s.d.LifetimeExceeded)
		} else {
			writeAPIError(w, http.StatusBadRequest, "Max instance length exceeded")
		}
		return false
	}
	end := now.Add(min(timeout, left))
	if allowShorter || end.After(sb.endAt) {
		sb.endAt = end
	}
	return true
}

// newSandbox is the body of POST /sandboxes (NewSandbox) and of POST
// /v2/sandboxes (NewSandboxV2: no secure, always secured).
type newSandbox struct {
	TemplateID      *string `json:"templateID"`
	Timeout         *int32  `json:"timeout"`
	AutoPause       bool    `json:"autoPause"`
	AutoPauseMemory *bool   `json:"autoPauseMemory"`
	AutoResume      *struct {
		Enabled bool `json:"enabled"`
	} `json:"autoResume"`
	Secure              bool              `json:"secure"`
	AllowInternetAccess *bool             `json:"allow_internet_access"`
	Metadata            map[string]string `json:"metadata"`
	EnvVars             map[string]string `json:"envVars"`
	Network             *struct {
		AllowPublicTraffic *bool `json:"allowPublicTraffic"`
	} `json:"network"`
	VolumeMounts []struct {
		Name *string `json:"name"`
		Path *string `json:"path"`
	} `json:"volumeMounts"`
}

// create is the deprecated POST /sandboxes: timeout 15 s by default,
// secure only when asked.
func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var body newSandbox
	if !decodeBody(w, r, &body, true) {
		return
	}
	s.createSandbox(w, body, defaultTimeout)
}

// createV2 is POST /v2/sandboxes: timeout 300 s by default, always secure.
func (s *Server) createV2(w http.ResponseWriter, r *http.Request) {
	var body newSandbox
	if !decodeBody(w, r, &body, true) {
		return
	}
	body.Secure = true
	s.createSandbox(w, body, defaultTimeoutV2)
}

func (s *Server) createSandbox(w http.ResponseWriter, body newSandbox, timeout time.Duration) {
	if s.d.Admit != nil {
		if status, msg := s.d.Admit(); status != 0 {
			writeAPIError(w, status, msg)
			return
		}
	}
	for i, m := range body.VolumeMounts {
		if m.Name == nil || m.Path == nil {
			validationError(w, fmt.Sprintf(`request body has an error: doesn't match schema: Error at "/volumeMounts/%d": property "name" and "path" are required`, i))
			return
		}
	}
	if body.TemplateID == nil {
		validationError(w, `request body has an error: doesn't match schema: property "templateID" is missing`)
		return
	}
	template, ok := s.resolveTemplate(w, *body.TemplateID)
	if !ok {
		return
	}
	if body.Timeout != nil {
		timeout = time.Duration(*body.Timeout) * time.Second
	}
	autoResume := body.AutoResume != nil && body.AutoResume.Enabled
	switch {
	case timeout <= 0:
		writeAPIError(w, http.StatusBadRequest, "Timeout must be greater than 0")
		return
	case timeout > s.d.MaxLifetime && s.d.CutTimeout:
		timeout = s.d.MaxLifetime
	case timeout > s.d.MaxLifetime:
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("Timeout cannot be greater than %d hours", s.d.MaxLifetime/time.Hour))
		return
	case body.AutoPauseMemory != nil && !*body.AutoPauseMemory && !body.AutoPause:
		writeAPIError(w, http.StatusBadRequest, "autoPauseMemory=false only applies when autoPause is true.")
		return
	case body.AutoPauseMemory != nil && !*body.AutoPauseMemory && autoResume:
		writeAPIError(w, http.StatusBadRequest, "autoPauseMemory=false (filesystem-only auto-pause) cannot be combined with autoResume: a filesystem-only snapshot cannot be auto-resumed by traffic and must be resumed explicitly.")
		return
	case body.Network != nil && body.Network.AllowPublicTraffic != nil && !*body.Network.AllowPublicTraffic && !body.Secure:
		writeAPIError(w, http.StatusBadRequest, "You cannot create a sandbox without public access unless you enable secure envd access via 'secure' flag.")
		return
	}
	id := newSandboxID()
	// E2B_SANDBOX_ID, which every process carries, is the engine's marker.
	eng, err := s.eng.Create(engine.Spec{ID: id, Labels: body.Metadata, Home: "/home/user", MarkerVar: "E2B_SANDBOX_ID"}, s.Clock.Now)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, "Failed to create sandbox")
		return
	}
	now := s.Clock.Now()
	sb := &sandbox{
		id: id, template: template, eng: eng, secure: body.Secure, internet: body.AllowInternetAccess,
		metadata: body.Metadata, envVars: body.EnvVars, autoPause: body.AutoPause, autoResume: autoResume,
		timeout: timeout, startedAt: now, endAt: now.Add(timeout), madeAt: time.Now(),
	}
	if sb.secure {
		sb.setToken(s.newToken(id))
	}
	s.sandboxes[id] = sb
	writeJSON(w, http.StatusCreated, s.apiSandbox(sb))
}

// resolveTemplate checks "name[:tag]" and returns the name.
func (s *Server) resolveTemplate(w http.ResponseWriter, ref string) (string, bool) {
	name, tag, hasTag := strings.Cut(ref, ":")
	switch {
	case !s.templates[name]:
		status, msg := s.d.UnknownTemplate(name)
		writeAPIError(w, status, msg)
		return "", false
	case hasTag && tag != "default":
		writeAPIError(w, http.StatusNotFound, fmt.Sprintf("tag '%s' does not exist for template '%s'", tag, name))
		return "", false
	}
	return name, true
}

// newSandboxID returns "i" and 20 lowercase letters and digits.
func newSandboxID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := randomBytes(20)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "i" + string(b)
}

// withSandbox resolves the {id} path parameter, which may be the legacy
// "<sandboxID>-<clientID>", to a known sandbox.
func (s *Server) withSandbox(h func(http.ResponseWriter, *http.Request, *sandbox)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.PathValue("id"), "-")
		if len(parts) > 2 {
			writeAPIError(w, http.StatusBadRequest, "Invalid sandbox ID")
			return
		}
		sb := s.sandboxes[parts[0]]
		switch {
		case sb == nil && s.ended[parts[0]] && r.Method == http.MethodDelete:
			delete(s.ended, parts[0])
			w.WriteHeader(http.StatusNoContent)
			return
		case sb == nil && s.ended[parts[0]]:
			writeAPIError(w, http.StatusConflict, s.d.LifetimeExceeded)
			return
		case sb == nil:
			s.writeNotFound(w, parts[0])
			return
		}
		h(w, r, sb)
	}
}

func (s *Server) writeNotFound(w http.ResponseWriter, id string) {
	writeAPIError(w, http.StatusNotFound, s.d.NotFound(id))
}

// The messages of E2B's errors.
func notFound(id string) string {
	return fmt.Sprintf("Sandbox %q doesn't exist or you don't have access to it", id)
}

func unknownTemplate(name string) (int, string) {
	return http.StatusNotFound, fmt.Sprintf("template '%s' not found", name)
}

func alreadyPaused(id string) string {
	return fmt.Sprintf("Error pausing sandbox - sandbox '%s' is already paused", id)
}

// apiSandbox is the Sandbox schema: the answer to create, connect and resume.
type apiSandbox struct {
	TemplateID      string `json:"templateID"`
	SandboxID       string `json:"sandboxID"`
	Alias           string `json:"alias,omitempty"`
	ClientID        string `json:"clientID"`
	EnvdVersion     string `json:"envdVersion"`
	EnvdAccessToken string `json:"envdAccessToken,omitempty"`
}

func (s *Server) apiSandbox(sb *sandbox) apiSandbox {
	return apiSandbox{
		TemplateID: sb.template, SandboxID: sb.id, Alias: sb.template, ClientID: s.d.ClientID,
		EnvdVersion: envdVersion, EnvdAccessToken: sb.accessToken(),
	}
}

// listedSandbox is the ListedSandbox schema.
type listedSandbox struct {
	TemplateID  string            `json:"templateID"`
	Alias       string            `json:"alias,omitempty"`
	SandboxID   string            `json:"sandboxID"`
	ClientID    string            `json:"clientID"`
	StartedAt   time.Time         `json:"startedAt"`
	EndAt       time.Time         `json:"endAt"`
	CPUCount    int               `json:"cpuCount"`
	MemoryMB    int               `json:"memoryMB"`
	DiskSizeMB  int               `json:"diskSizeMB"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	State       string            `json:"state"`
	EnvdVersion string            `json:"envdVersion"`
}

// sandboxDetail is the SandboxDetail schema: the answer to GET.
type sandboxDetail struct {
	listedSandbox
	EnvdAccessToken     string    `json:"envdAccessToken,omitempty"`
	AllowInternetAccess *bool     `json:"allowInternetAccess,omitempty"`
	Lifecycle           lifecycle `json:"lifecycle"`
}

type lifecycle struct {
	AutoResume bool   `json:"autoResume"`
	OnTimeout  string `json:"onTimeout"`
}

func (sb *sandbox) state() string {
	if sb.paused {
		return "paused"
	}
	return "running"
}

func (s *Server) listed(sb *sandbox) listedSandbox {
	return listedSandbox{
		TemplateID: sb.template, Alias: sb.template, SandboxID: sb.id, ClientID: s.d.ClientID,
		StartedAt: sb.startedAt.UTC(), EndAt: sb.endAt.UTC(),
		CPUCount: cpuCount, MemoryMB: memoryMB, DiskSizeMB: diskSizeMB,
		Metadata: sb.metadata, State: sb.state(), EnvdVersion: envdVersion,
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	d := sandboxDetail{listedSandbox: s.listed(sb), EnvdAccessToken: sb.accessToken(), AllowInternetAccess: sb.internet}
	d.Lifecycle = lifecycle{AutoResume: sb.autoResume, OnTimeout: "kill"}
	if sb.autoPause {
		d.Lifecycle.OnTimeout = "pause"
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) kill(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	s.killLocked(sb)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var body struct {
		Memory *bool `json:"memory"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	if sb.paused {
		writeAPIError(w, http.StatusConflict, s.d.AlreadyPaused(sb.id))
		return
	}
	s.pauseLocked(sb, s.Clock.Now())
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var body struct {
		Timeout   *int32 `json:"timeout"`
		AutoPause *bool  `json:"autoPause"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	timeout := defaultTimeout
	if body.Timeout != nil {
		timeout = time.Duration(*body.Timeout) * time.Second
	}
	if !s.checkTimeout(w, timeout) {
		return
	}
	if !sb.paused {
		writeAPIError(w, http.StatusConflict, fmt.Sprintf("Sandbox %s is already running", sb.id))
		return
	}
	if body.AutoPause != nil {
		sb.autoPause = *body.AutoPause
	}
	s.resumeLocked(sb, timeout)
	writeJSON(w, http.StatusCreated, s.apiSandbox(sb))
}

// connect is the deprecated POST /sandboxes/{id}/connect: the body and
// its timeout are required.
func (s *Server) connect(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var body struct {
		Timeout *int64 `json:"timeout"`
		Memory  *bool  `json:"memory"`
	}
	if !decodeBody(w, r, &body, true) {
		return
	}
	switch {
	case body.Timeout == nil:
		validationError(w, `request body has an error: doesn't match schema: property "timeout" is missing`)
		return
	case *body.Timeout < 0:
		validationError(w, `request body has an error: doesn't match schema: Error at "/timeout": number must be at least 0`)
		return
	}
	s.connectSandbox(w, sb, time.Duration(*body.Timeout)*time.Second, body.Memory == nil || *body.Memory)
}

// connectV2 is POST /v2/sandboxes/{id}/connect: the body is optional, an
// omitted timeout is 300 s.
func (s *Server) connectV2(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var body struct {
		Timeout *int64 `json:"timeout"`
		Memory  *bool  `json:"memory"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	timeout := defaultTimeoutV2
	if body.Timeout != nil {
		if *body.Timeout < 0 {
			validationError(w, `request body has an error: doesn't match schema: Error at "/timeout": number must be at least 0`)
			return
		}
		timeout = time.Duration(*body.Timeout) * time.Second
	}
	s.connectSandbox(w, sb, timeout, body.Memory == nil || *body.Memory)
}

// connectSandbox resumes a paused sandbox (201), with its memory or booted
// afresh from its files, or extends a running one's timeout (200).
func (s *Server) connectSandbox(w http.ResponseWriter, sb *sandbox, timeout time.Duration, memory bool) {
	if !s.checkTimeout(w, timeout) {
		return
	}
	resumed := sb.paused
	if resumed && !memory { // a cold boot: the files stay, the processes go
		_ = sb.eng.Stop()
		_ = sb.eng.Start()
	}
	if resumed {
		s.resumeLocked(sb, min(timeout, s.d.MaxLifetime))
	} else if !s.keepAliveLocked(w, sb, timeout, false) {
		return
	}
	if s.d.TokenPerConnect && sb.secure {
		sb.setToken(s.newToken(sb.id))
	}
	status := http.StatusOK
	if resumed && !s.d.ConnectAlways200 {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.apiSandbox(sb))
}

func (sb *sandbox) setToken(t string) { sb.token.Store(&t) }

// accessToken is the sandbox's envdAccessToken, "" when not secure.
func (sb *sandbox) accessToken() string {
	if t := sb.token.Load(); t != nil {
		return *t
	}
	return ""
}

func (s *Server) setTimeout(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	timeout, ok := requiredSeconds(w, r, "timeout")
	if !ok {
		return
	}
	switch {
	case sb.paused && s.d.NotActive != "":
		writeAPIError(w, http.StatusConflict, s.d.NotActive)
		return
	case sb.paused: // paused sandboxes are not in the running store
		s.writeNotFound(w, sb.id)
		return
	}
	if s.keepAliveLocked(w, sb, timeout, true) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var body struct {
		Duration *int `json:"duration"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	d := minRefresh
	if body.Duration != nil {
		if *body.Duration < 0 || *body.Duration > 3600 {
			validationError(w, `request body has an error: doesn't match schema: Error at "/duration": number must be between 0 and 3600`)
			return
		}
		d = max(time.Duration(*body.Duration)*time.Second, minRefresh)
	}
	if sb.paused {
		s.writeNotFound(w, sb.id)
		return
	}
	if s.keepAliveLocked(w, sb, d, false) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) checkTimeout(w http.ResponseWriter, d time.Duration) bool {
	if d > s.d.MaxLifetime && !s.d.CutTimeout {
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("Timeout cannot be greater than %d hours", s.d.MaxLifetime/time.Hour))
		return false
	}
	return true
}

// requiredSeconds decodes a required body {"<field>": seconds ≥ 0}.
func requiredSeconds(w http.ResponseWriter, r *http.Request, field string) (time.Duration, bool) {
	var body map[string]*int64
	if !decodeBody(w, r, &body, true) {
		return 0, false
	}
	v := body[field]
	switch {
	case v == nil:
		validationError(w, fmt.Sprintf(`request body has an error: doesn't match schema: property %q is missing`, field))
		return 0, false
	case *v < 0:
		validationError(w, fmt.Sprintf(`request body has an error: doesn't match schema: Error at "/%s": number must be at least 0`, field))
		return 0, false
	}
	return time.Duration(*v) * time.Second, true
}

// decodeBody decodes a JSON body into v. An empty body is an error only
// when required.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, required bool) bool {
	err := json.NewDecoder(r.Body).Decode(v)
	switch {
	case errors.Is(err, io.EOF) && required:
		validationError(w, "request body has an error: value is required but missing")
		return false
	case errors.Is(err, io.EOF):
		return true
	case err != nil:
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("Error when parsing request: %s", err))
		return false
	}
	return true
}

// validationError answers like the OpenAPI request validator.
func validationError(w http.ResponseWriter, msg string) {
	writeAPIError(w, http.StatusBadRequest, "validation error: error in openapi3filter.RequestError: "+msg)
}

// listV1 is the deprecated GET /sandboxes: running sandboxes, newest first.
func (s *Server) listV1(w http.ResponseWriter, r *http.Request) {
	filter, err := metadataFilter(r.URL.Query())
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Error parsing metadata: error parsing metadata: "+err.Error())
		return
	}
	out := []listedSandbox{}
	for _, sb := range s.sandboxes {
		if !sb.paused && matches(sb.metadata, filter) && s.Faults.Listed(sb.madeAt) {
			out = append(out, s.listed(sb))
		}
	}
	sortListed(out, false)
	writeJSON(w, http.StatusOK, out)
}

// listV2 is GET /v2/sandboxes: filtered by metadata, state, start time and
// template, ordered by start time then id, paginated with X-Next-Token.
func (s *Server) listV2(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	states := map[string]bool{"running": true, "paused": true}
	if q.Has("state") {
		states = map[string]bool{}
		for _, v := range q["state"] {
			for st := range strings.SplitSeq(v, ",") {
				if st != "running" && st != "paused" {
					validationError(w, `parameter "state" in query has an error: value is not one of the allowed values ["running","paused"]`)
					return
				}
				states[st] = true
			}
		}
	}
	asc := false
	switch o := q.Get("order"); o {
	case "", "desc":
	case "asc":
		asc = true
	default:
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("Invalid order parameter: unknown order %q", o))
		return
	}
	limit := maxListLimit
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxListLimit {
			validationError(w, `parameter "limit" in query has an error: number must be between 1 and 100`)
			return
		}
		limit = n
	}
	cursor, err := parseCursor(q.Get("nextToken"), asc)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Invalid next token")
		return
	}
	filter, err := metadataFilter(q)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Error parsing metadata")
		return
	}
	var startedAfter time.Time
	if v := q.Get("startedAfter"); v != "" {
		if startedAfter, err = time.Parse(time.RFC3339Nano, v); err != nil {
			validationError(w, `parameter "startedAfter" in query has an error: string doesn't match the format "date-time"`)
			return
		}
		startedAfter = startedAfter.Truncate(time.Microsecond)
	}
	template := q.Get("template")
	if strings.Contains(template, ":") {
		writeAPIError(w, http.StatusBadRequest, "Invalid template: tags are not supported here because sandboxes are not tag-scoped")
		return
	}

	var out []listedSandbox
	running := 0
	for _, sb := range s.sandboxes {
		l := s.listed(sb)
		l.StartedAt = l.StartedAt.Truncate(time.Microsecond) // the keyset's precision
		if !states[l.State] || !matches(sb.metadata, filter) || l.StartedAt.Before(startedAfter) || (template != "" && template != sb.template) || !s.Faults.Listed(sb.madeAt) {
			continue
		}
		if l.State == "running" {
			running++
		}
		if cursor.after(l, asc) {
			out = append(out, l)
		}
	}
	if states["running"] {
		w.Header().Set("X-Total-Running", strconv.Itoa(running))
	}
	sortListed(out, asc)
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		w.Header().Set("X-Next-Token", makeCursor(last.StartedAt, last.SandboxID, asc))
	}
	if out == nil {
		out = []listedSandbox{}
	}
	writeJSON(w, http.StatusOK, out)
}

// sortListed orders by start time (newest first unless asc), then by id
// (ascending, or descending when asc: the exact reverse).
func sortListed(l []listedSandbox, asc bool) {
	slices.SortFunc(l, func(a, b listedSandbox) int {
		c := cmp.Or(b.StartedAt.Compare(a.StartedAt), strings.Compare(a.SandboxID, b.SandboxID))
		if asc {
			return -c
		}
		return c
	})
}

// cursor is a decoded nextToken; the zero cursor admits everything.
type cursor struct {
	t  time.Time
	id string
}

func (c cursor) after(l listedSandbox, asc bool) bool {
	if c.id == "" {
		return true
	}
	if asc {
		return l.StartedAt.After(c.t) || (l.StartedAt.Equal(c.t) && l.SandboxID < c.id)
	}
	return l.StartedAt.Before(c.t) || (l.StartedAt.Equal(c.t) && l.SandboxID > c.id)
}

// makeCursor encodes base64url("<RFC3339Nano>__<id>[__asc]").
func makeCursor(t time.Time, id string, asc bool) string {
	c := t.Format(time.RFC3339Nano) + "__" + id
	if asc {
		c += "__asc"
	}
	return base64.URLEncoding.EncodeToString([]byte(c))
}

func parseCursor(token string, asc bool) (cursor, error) {
	if token == "" {
		return cursor{}, nil
	}
	b, err := base64.URLEncoding.DecodeString(token)
	if err != nil {
		return cursor{}, err
	}
	parts := strings.Split(string(b), "__")
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3) != asc || (asc && parts[2] != "asc") || parts[1] == "" {
		return cursor{}, errors.New("invalid cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	return cursor{t: t, id: parts[1]}, err
}

// metadataFilter decodes the metadata query parameter as E2B does: the
// (already once decoded) value is unescaped again, split into "&"-separated
// pairs of "key=value", and each key and value unescaped once more. No
// parameter is a nil filter.
func metadataFilter(q url.Values) (map[string]string, error) {
	if !q.Has("metadata") {
		return nil, nil
	}
	raw, err := url.QueryUnescape(q.Get("metadata"))
	if err != nil {
		return nil, fmt.Errorf("error when unescaping query: %w", err)
	}
	filter := map[string]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 {
			return nil, errors.New("invalid key value pair in query")
		}
		k, err := url.QueryUnescape(kv[0])
		if err != nil {
			return nil, fmt.Errorf("error when unescaping key: %w", err)
		}
		v, err := url.QueryUnescape(kv[1])
		if err != nil {
			return nil, fmt.Errorf("error when unescaping value: %w", err)
		}
		filter[k] = v
	}
	return filter, nil
}

// matches reports whether md has every pair of filter; with a filter, a
// sandbox without metadata never matches.
func matches(md, filter map[string]string) bool {
	if filter == nil {
		return true
	}
	if md == nil {
		return false
	}
	for k, v := range filter {
		if got, ok := md[k]; !ok || got != v {
			return false
		}
	}
	return true
}
