//go:build unix

package e2btest

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem/filesystemconnect"
	"github.com/sandagent/sandagent/e2b/internal/envd/process/processconnect"
	"github.com/sandagent/sandagent/internal/e2bemu"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/engine"
)

// Server is a running E2B emulator. Its exported fields are safe to use
// concurrently with requests.
type Server struct {
	// URL is the base URL of the control plane and of envd, e.g.
	// http://127.0.0.1:PORT: use it as both the API URL and the sandbox URL.
	URL string
	// Faults injects failures into requests (answered with the control
	// plane's {code,message} body).
	Faults *emu.Faults
	// Requests counts every request, control plane and envd alike.
	Requests *emu.Counter
	// Clock is the time of sandbox timeouts, startedAt and endAt.
	Clock *emu.Clock

	srv       *httptest.Server
	eng       *engine.Engine
	dir       string
	addr      string
	cleanup   func() // removes a temporary dir
	apiKey    string
	templates map[string]bool
	api       http.Handler // the control plane's routes
	v1Only    bool
	d         e2bemu.Dialect
	keepalive time.Duration
	tokenKey  []byte

	ctx    context.Context // ends with Close: stops every stream
	cancel context.CancelFunc
	procWG sync.WaitGroup // process waiters

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	ended     map[string]bool // killed at the end of their lifetime, with Dialect.LifetimeExceeded

	cut   atomic.Int64 // the next stream is cut after this many data events; -1: off
	stall atomic.Int64 // the next stream goes silent after this many data events; -1: off
}

// Option configures NewServer.
type Option func(*Server)

// WithAPIKey sets the accepted X-API-Key value. By default the server makes
// one up, in the format of real keys ("e2b_" and 40 hex digits).
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithDir sets the engine's root directory, where sandboxes keep their
// files. By default it is a new temporary directory, removed by Close.
func WithDir(dir string) Option { return func(s *Server) { s.dir = dir } }

// WithAddr serves on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithTemplates sets the templates sandboxes can be created from (default
// "base"). Creating from another is 404 "template '<name>' not found".
func WithTemplates(ids ...string) Option {
	return func(s *Server) {
		s.templates = map[string]bool{}
		for _, id := range ids {
			s.templates[id] = true
		}
	}
}

// WithDialect makes the server emulate an E2B-compatible service other
// than E2B: this module's emulators of such services are this server under
// their dialect. Its type is internal to the module.
func WithDialect(d e2bemu.Dialect) Option { return func(s *Server) { s.d = d } }

// WithV1Only serves create and connect on their deprecated v1 routes only,
// as a self-hosted or older E2B-compatible service does: the v2 routes are
// 404.
func WithV1Only() Option { return func(s *Server) { s.v1Only = true } }

// WithKeepaliveInterval makes every process stream send a keepalive event
// after d without data, whatever its Keepalive-Ping-Interval header says
// (by default that header's seconds, else 90 s, as envd does). It lets
// tests see keepalives without waiting.
func WithKeepaliveInterval(d time.Duration) Option { return func(s *Server) { s.keepalive = d } }

// NewServer starts an emulator on a loopback port. It panics if it cannot,
// like httptest.NewServer. Call Close when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		Faults:    &emu.Faults{},
		Requests:  &emu.Counter{},
		Clock:     &emu.Clock{},
		templates: map[string]bool{"base": true},
		sandboxes: map[string]*sandbox{},
		ended:     map[string]bool{},
		tokenKey:  randomBytes(32),
	}
	s.cut.Store(-1)
	s.stall.Store(-1)
	for _, o := range opts {
		o(s)
	}
	s.d = withE2BDefaults(s.d)
	if s.apiKey == "" {
		s.apiKey = s.d.NewAPIKey()
	}
	var err error
	if s.eng, s.dir, s.cleanup, err = emu.Engine(s.dir, "e2btest"); err != nil {
		panic(err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.api = s.newAPIMux()

	envd := http.NewServeMux()
	envd.Handle(processconnect.NewProcessHandler(&processService{s: s}))
	envd.Handle(filesystemconnect.NewFilesystemHandler(&filesystemService{}))
	envd.HandleFunc("GET /files", s.getFiles)
	envd.HandleFunc("POST /files", s.postFiles)
	envd.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	envd.HandleFunc("GET /envs", s.getEnvs)
	envdRoutes := emu.Routes(envd, writeAPIError)

	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if routeByHost(r) || r.Header.Get(headerSandboxID) != "" || r.Header.Get(headerSandboxPort) != "" {
			s.proxy(w, r, envdRoutes)
			return
		}
		s.controlPlane(w, r)
	})
	// gRPC clients speak HTTP/2 with prior knowledge: serve h2c too.
	if s.srv, err = emu.Serve(s.addr, emu.Middleware(s.Faults, s.Requests, writeAPIError, root), true); err != nil {
		s.cleanup()
		panic("e2btest: " + err.Error())
	}
	s.URL = s.srv.URL
	return s
}

// APIKey returns the X-API-Key value the server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Dir returns the engine's root directory.
func (s *Server) Dir() string { return s.dir }

// CutStreams makes the next process stream (Start or Connect) break after
// it has sent n data events: the connection is dropped without an end of
// stream, as a network failure would. A negative n disarms it.
func (s *Server) CutStreams(n int) { s.cut.Store(int64(n)) }

// StallStreams makes the next process stream (Start or Connect) go silent
// after it has sent its start event and n data events: it sends nothing
// more, neither data nor keepalives nor the end, but keeps the connection
// open until the client goes away (or Close), as a hung proxy or envd
// would. The process runs on; its output waits for the stream, as it waits
// for a slow reader. A negative n disarms it.
func (s *Server) StallStreams(n int) { s.stall.Store(int64(n)) }

// Close kills every process of every sandbox, ends open streams, shuts the
// server down and, unless WithDir was given, removes the engine's root.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		_ = sb.eng.Stop()
	}
	s.sandboxes = map[string]*sandbox{}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.procWG.Wait()
	s.cleanup()
}

// newToken is a new envdAccessToken of the secure sandbox id: an HMAC of
// the id, so that it stays across pause and resume, or, with
// TokenPerConnect, a random one.
func (s *Server) newToken(id string) string {
	if s.d.TokenPerConnect {
		return hex.EncodeToString(randomBytes(32))
	}
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// withE2BDefaults fills the fields d leaves zero with E2B's behaviour.
func withE2BDefaults(d e2bemu.Dialect) e2bemu.Dialect {
	if d.Authenticate == nil {
		d.Authenticate = authenticate
	}
	if d.NewAPIKey == nil {
		d.NewAPIKey = func() string { return "e2b_" + hex.EncodeToString(randomBytes(20)) }
	}
	d.ClientID = cmp.Or(d.ClientID, "6532622b") // deprecated, always this value
	d.MaxLifetime = cmp.Or(d.MaxLifetime, 24*time.Hour)
	if d.NotFound == nil {
		d.NotFound = notFound
	}
	if d.AlreadyPaused == nil {
		d.AlreadyPaused = alreadyPaused
	}
	if d.UnknownTemplate == nil {
		d.UnknownTemplate = unknownTemplate
	}
	return d
}

// writeJSON writes v as the JSON body of a status response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is the control plane's (and envd's HTTP) error body.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeAPIError writes {"code":status,"message":msg}.
func writeAPIError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Code: status, Message: msg})
}
