//go:build unix

// Package daytonatest is an emulator of Daytona: the REST API (sandboxes and
// volumes, under /api) and each sandbox's toolbox (under /toolbox/{id}, the
// route the sandbox's toolboxProxyUrl names), on a loopback port. Commands
// and files run for real on this machine through the shared engine, so a
// sandbox's home and working directory is a real host directory, and that
// path is what /work-dir and /user-home-dir report.
//
// Wire protocol: paths, status codes, JSON field names and error bodies
// follow Daytona v0.190 (every field the generated clients require is
// present). Errors from /api are {path, timestamp, statusCode, error,
// message}; errors from the toolbox are {statusCode, message, code,
// timestamp, path, method}. Every request needs "Authorization: Bearer" with
// the server's API key.
//
// State machine: start, stop, archive, recover, delete and volume creation
// are asynchronous, as on Daytona: the call answers with the intermediate
// state (starting, stopping, archiving, destroying, pending_create) and the
// final state is reached when the emulator's Clock passes TransitionTime after
// the call, or after the resource has been read Polls times (whichever comes
// first; the read that completes a transition sees its final state). Auto-stop
// (after autoStopInterval minutes without toolbox activity), auto-archive and
// auto-delete run on the Clock too. Tests advance the Clock; they never sleep.
//
// GET /sandbox pages by cursor: newest first, limit 1 to 200 (default
// 100), nextCursor an opaque token or null on the last page; labels is a
// JSON object every listed sandbox must carry. A DELETE of a sandbox being
// destroyed answers 409 "Sandbox state change in progress", as Daytona does
// while a state change is pending.
//
// Decisions where Daytona's behaviour is not visible from outside:
//   - a toolbox call on a sandbox that is not started answers 400 "Sandbox is
//     not started";
//   - a create answers "started" at once (Daytona's API waits for the start
//     before answering a snapshot create); SetState puts a sandbox in any state;
//   - session commands run with /bin/sh -c rather than being sourced into one
//     long-lived shell, so cd and exports do not carry over between commands
//     of a session; their output is labelled line by line like the daemon's
//     (each line prefixed, a last unterminated line gets a newline), but NUL
//     bytes are kept (the daemon's shell drops them);
//   - the log websocket closes as soon as the command has ended and its
//     output is sent (the daemon notices the exit within about a second);
//   - a command's timeout runs in real time: processes are real;
//   - a volume mounted at the nominal home (/home/daytona) becomes the
//     sandbox's whole work tree; any other mount path is mounted below the
//     work tree at the same relative path (the emulator has no root file
//     system of its own).
package daytonatest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/engine"
)

// DefaultAPIKey is the key a Server accepts unless WithAPIKey says otherwise.
const DefaultAPIKey = "dtn_test_key"

// Home is the nominal home directory of a Daytona sandbox's default user. A
// volume mounted there becomes the emulated sandbox's work tree.
const Home = "/home/daytona"

// Server is a running emulator. Its fields are set by NewServer.
type Server struct {
	// URL is the API base URL, ending in /api: the value for DAYTONA_API_URL.
	URL string
	// OrganizationID is reported as every resource's organizationId.
	OrganizationID string
	// Faults injects failures; Requests counts requests; Clock drives every
	// asynchronous transition and interval.
	Faults   *emu.Faults
	Requests *emu.Counter
	Clock    *emu.Clock

	polls      int
	transition time.Duration
	apiKey     string
	dir        string
	addr       string
	cleanup    func() // removes a temporary dir
	srv        *httptest.Server
	base       string // scheme and host
	eng        *engine.Engine

	mu        sync.Mutex
	sandboxes map[string]*sandbox // by id
	volumes   map[string]*volume  // by id
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the accepted API key.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithAddr serves on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithDir keeps the emulator's sandboxes and volumes under dir (default: a
// new temporary directory, removed by Close).
func WithDir(dir string) Option { return func(s *Server) { s.dir = dir } }

// WithPolls sets after how many reads an asynchronous transition completes
// (default 2: the first read after the call sees the intermediate state, the
// second the final one). Zero or less: only the Clock completes them.
func WithPolls(n int) Option { return func(s *Server) { s.polls = n } }

// WithTransitionTime sets how much Clock time an asynchronous transition
// takes (default 10s; volumes take 5s, as Daytona's volume job runs every 5s).
func WithTransitionTime(d time.Duration) Option { return func(s *Server) { s.transition = d } }

// NewServer starts an emulator on a loopback port. It panics if it cannot,
// like httptest.NewServer.
func NewServer(opts ...Option) *Server {
	s := &Server{
		apiKey:         DefaultAPIKey,
		OrganizationID: "org-" + newID()[:8],
		Faults:         &emu.Faults{},
		Requests:       &emu.Counter{},
		Clock:          &emu.Clock{},
		polls:          2,
		transition:     10 * time.Second,
		sandboxes:      map[string]*sandbox{},
		volumes:        map[string]*volume{},
	}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.eng, s.dir, s.cleanup, err = emu.Engine(s.dir, "daytonatest"); err != nil {
		panic(err)
	}

	api := http.NewServeMux()
	s.routeAPI(api)
	tb := http.NewServeMux()
	s.routeToolbox(tb)
	root := http.NewServeMux()
	root.Handle("/api/", emu.Middleware(s.Faults, s.Requests, writeAPIError, s.auth(emu.Routes(api, writeAPIError), writeAPIError)))
	root.Handle("/toolbox/", emu.Middleware(s.Faults, s.Requests, writeToolboxError, s.auth(emu.Routes(tb, writeToolboxError), writeToolboxError)))
	root.Handle("/", emu.Middleware(s.Faults, s.Requests, writeAPIError, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path))
	})))
	// Requests wait until the URL is known: handlers report it.
	ready := make(chan struct{})
	gated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-ready; root.ServeHTTP(w, r) })
	if s.srv, err = emu.Serve(s.addr, gated, false); err != nil {
		s.cleanup()
		panic("daytonatest: " + err.Error())
	}
	s.base = s.srv.URL
	s.URL = s.base + "/api"
	close(ready)
	return s
}

// APIKey returns the bearer token the server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// ToolboxURL is the toolboxProxyUrl the emulator reports for every sandbox.
func (s *Server) ToolboxURL() string { return s.base + "/toolbox" }

// Close stops the server, kills every sandbox's processes and, unless
// WithDir was given, removes its files.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		sb.killSessions()
		if sb.eng != nil {
			_ = sb.eng.Stop()
		}
	}
	s.mu.Unlock()
	s.cleanup()
}

func (s *Server) auth(next http.Handler, writeErr emu.ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok != s.apiKey {
			writeErr(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeAPIError writes the API's error body. The middleware's faults have
// no request at hand, so path is the empty string there.
func writeAPIError(w http.ResponseWriter, status int, message string) {
	writeAPIErrorPath(w, "", status, message)
}

func writeAPIErrorPath(w http.ResponseWriter, path string, status int, message string) {
	writeJSON(w, status, map[string]any{
		"path":       path,
		"timestamp":  time.Now().UTC().Format(time.RFC3339Nano),
		"statusCode": status,
		"error":      http.StatusText(status),
		"message":    message,
	})
}

func writeToolboxError(w http.ResponseWriter, status int, message string) {
	writeToolboxErrorReq(w, nil, status, message)
}

func writeToolboxErrorReq(w http.ResponseWriter, r *http.Request, status int, message string) {
	body := map[string]any{
		"statusCode": status,
		"message":    message,
		"code":       strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")),
		"timestamp":  time.Now().UTC().Format(time.RFC3339Nano),
		"path":       "",
	}
	if r != nil {
		body["path"], body["method"] = r.URL.Path, r.Method
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
