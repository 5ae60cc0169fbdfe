//go:build unix

package sandbasetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/engine"
)

// Server is a running SandBase emulator. Its fields are safe for concurrent
// use; tests change Faults and Clock while requests are served.
type Server struct {
	// URL is the base URL, http://127.0.0.1:<port>, to use as the API URL.
	URL string
	// Faults injects failures into the next requests.
	Faults *emu.Faults
	// Requests counts the requests served, by method and path.
	Requests *emu.Counter
	// Clock is the time of sandbox timeouts, lifetimes and timestamps.
	Clock *emu.Clock

	key         string
	maxLifetime time.Duration
	dir         string // the engine's root
	addr        string
	ownDir      bool   // dir is a temporary directory of ours
	cleanup     func() // removes it
	eng         *engine.Engine
	http        *httptest.Server

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	seq       int // creation order, for listing
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey makes the server accept key instead of a random one. SandBase
// keys start with "sk-sb-", but the emulator, like the service, accepts
// whatever key it was given.
func WithAPIKey(key string) Option { return func(s *Server) { s.key = key } }

// WithDir keeps the sandboxes' directories under dir (they stay after
// Close) instead of under a temporary directory.
func WithDir(dir string) Option { return func(s *Server) { s.dir = dir } }

// WithAddr serves on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithMaxLifetime sets the maximum continuous lifetime of a running
// sandbox (default one hour, SandBase's limit).
func WithMaxLifetime(d time.Duration) Option { return func(s *Server) { s.maxLifetime = d } }

// NewServer starts an emulator on a loopback port. It panics if it cannot
// create its directory or listen, as httptest.NewServer does.
func NewServer(opts ...Option) *Server {
	s := &Server{
		Faults:      &emu.Faults{},
		Requests:    &emu.Counter{},
		Clock:       &emu.Clock{},
		key:         "sk-sb-" + randomHex(16),
		maxLifetime: time.Hour,
		sandboxes:   map[string]*sandbox{},
	}
	for _, o := range opts {
		o(s)
	}
	s.ownDir = s.dir == ""
	var err error
	if s.eng, s.dir, s.cleanup, err = emu.Engine(s.dir, "sandbasetest"); err != nil {
		panic(err)
	}
	if s.http, err = emu.Serve(s.addr, emu.Middleware(s.Faults, s.Requests, writeError, s.routes()), false); err != nil {
		s.cleanup()
		panic("sandbasetest: " + err.Error())
	}
	s.URL = s.http.URL
	return s
}

// APIKey returns the API key the server accepts, as a Bearer token or in
// X-API-Key.
func (s *Server) APIKey() string { return s.key }

// Close stops the server and kills every process of every sandbox (a
// command in flight ends at once). Without WithDir the sandboxes'
// directories are removed too.
func (s *Server) Close() {
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		if sb.eng != nil {
			_ = sb.eng.Stop()
		}
		sb.status = statusStopped
	}
	s.mu.Unlock()
	s.http.Close() // waits for the requests in flight
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sb := range s.sandboxes {
		if sb.eng != nil && s.ownDir {
			_ = sb.eng.Destroy()
		}
		delete(s.sandboxes, id)
	}
	s.cleanup()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, h) }

	handle("POST /sandboxes", s.create)
	handle("GET /sandboxes", s.list)
	handle("GET /sandboxes/{id}", s.locked(s.get))
	handle("DELETE /sandboxes/{id}", s.locked(s.kill))
	handle("POST /sandboxes/{id}/pause", s.locked(s.pause))
	handle("POST /sandboxes/{id}/connect", s.locked(s.connect))
	handle("POST /sandboxes/{id}/resume", s.locked(s.connect))
	handle("POST /sandboxes/{id}/timeout", s.locked(s.setTimeout))

	handle("POST /sandboxes/{id}/processes", s.inside(s.exec))
	handle("GET /sandboxes/{id}/health", s.inside(s.health))
	handle("GET /sandboxes/{id}/envs", s.inside(s.envs))
	handle("GET /sandboxes/{id}/metrics", s.inside(s.metrics))

	handle("GET /sandboxes/{id}/filesystem", s.inside(s.readFile))
	handle("POST /sandboxes/{id}/filesystem", s.inside(s.writeFile))
	handle("DELETE /sandboxes/{id}/filesystem", s.inside(s.removeFile))
	handle("GET /sandboxes/{id}/filesystem/list", s.inside(s.listDir))
	handle("GET /sandboxes/{id}/filesystem/stat", s.inside(s.stat))
	handle("GET /sandboxes/{id}/filesystem/download", s.inside(s.download))
	handle("POST /sandboxes/{id}/filesystem/upload", s.inside(s.upload))
	handle("POST /sandboxes/{id}/filesystem/mkdir", s.inside(s.mkdir))
	handle("POST /sandboxes/{id}/filesystem/move", s.inside(s.move))

	// Everything else (GET /v2/sandboxes, /refreshes, snapshots, ...) is
	// answered by the router: a plain-text 404, or 405 for a known path.
	return s.auth(mux)
}

// auth accepts the key as "Authorization: Bearer <key>" or "X-API-Key: <key>".
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		apiKey := r.Header.Get("X-API-Key")
		switch {
		case !hasBearer && apiKey == "":
			writeError(w, http.StatusUnauthorized, "missing API key: send Authorization: Bearer <key> or X-API-Key")
		case (hasBearer && bearer == s.key) || (apiKey != "" && apiKey == s.key):
			next.ServeHTTP(w, r)
		default:
			writeError(w, http.StatusUnauthorized, "invalid API key")
		}
	})
}

// apiError is SandBase's (E2B's) error body.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeError writes {"code":status,"message":message}.
func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, apiError{Code: status, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeBody decodes a JSON body into v; an empty body leaves v as it is
// when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(v)
	if err == nil || (optional && errors.Is(err, io.EOF)) {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error())
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
