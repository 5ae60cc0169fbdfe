// Package e2b is the E2B provider: sandboxes on E2B (e2b.dev), or on any
// service that speaks its API, such as the e2btest emulator. There is no
// official Go SDK for E2B; this package is the client. The control plane
// (https://api.<domain>) is JSON over HTTP with the X-API-Key header; commands
// and files go to envd, the daemon inside each sandbox, over Connect RPC with
// the protobuf codec and over its /files HTTP endpoint.
//
// # Reuse rule
//
// WithName attaches by name. The name is stored in the sandbox's metadata
// under "sandagent.name" (with "sandagent.managed" = "true"). Attach lists
// the running and paused sandboxes with that name (GET /v2/sandboxes, every
// page), picks the oldest (earliest startedAt, then smallest id, so every
// caller picks the same one) and connects to it (POST
// /sandboxes/{id}/connect), which extends its timeout if it runs (Outcome
// Reused) or resumes it if it is paused (Outcome Resumed). With no match it
// creates one (Outcome Created). Goroutines attaching the same name in one
// process take turns; across processes Attach converges: after creating it
// lists again, and if several sandboxes carry the name, every caller picks
// the oldest and the creator of any other destroys its own.
//
// Lists lag behind creates, so a list may show a young sandbox while an
// older one carrying the name is still missing. WithConvergenceWindow
// (default 2 s, or SANDAGENT_CONVERGENCE_WINDOW) bounds that lag: a
// sandbox is handed out only once no older one can be missing, that is
// when it was already that old at the time of the list's answer (its Date
// header), or when a list sent that long after it was first seen still
// names it the oldest. A creator waits the window before its second list.
// So an Attach of an existing sandbox stays at two requests, while one that
// creates, or finds a sandbox younger than the window, takes the window
// longer and one more list.
//
// Every create carries a unique attach token in its metadata
// (sandagent.attach). When the create's answer is lost (no response, a
// garbled one, or the ctx ended while it was in flight), Attach lists by
// that token, after the window and even if its ctx has ended, and adopts
// the sandbox it finds, or destroys it when the ctx has ended. A create
// the service completes only after that lookup is left to its timeout
// (and to Managed and sandagent.Reap).
//
// WithID reattaches by the id from Handle.ID, from any process: connect, as
// above. A sandbox that no longer exists is ErrNotFound, or, with
// WithCreateIfMissing, replaced by a new one (Outcome Created, a new id).
// With neither WithName nor WithID, every Attach creates a new sandbox.
//
// Lookups fail closed: only a confirmed absence (an empty list, a 404 on
// connect) leads to a create. Authentication, rate-limit, network and server
// errors are returned. A create is never retried blindly. If Attach fails or
// its ctx ends after it created a sandbox, it destroys that sandbox, and only
// that one.
//
// Attach makes one request by id (connect) and two by name (list, connect)
// when the sandbox exists; creating by name takes three (list, create, list)
// and the convergence window.
// The workdir is learnt on first need (one Filesystem.Stat of the path "",
// which envd resolves to the default workdir, else the user's home).
//
// # Decisions where E2B is silent
//
//   - Defaults follow the official SDKs: template "base", timeout 300 s,
//     secure (envd access token), internet access on. The environment
//     variables E2B_API_KEY, E2B_DOMAIN, E2B_API_URL and E2B_SANDBOX_URL are
//     read when the matching option is not given. A missing API key makes
//     New fail with ErrAuth.
//   - envd is reached as the current SDKs do: RPCs through
//     https://sandbox.<domain> for E2B's own domains, files (and RPCs on other
//     domains) through https://49983-<id>.<domain>, always with the
//     E2b-Sandbox-Id and E2b-Sandbox-Port headers; WithSandboxURL replaces
//     both base URLs. The sandbox's own domain (from connect) wins over
//     WithDomain.
//   - The sandbox runs commands as envd's default user (the template's,
//     "user" on E2B) in its default workdir (/home/user on E2B): no
//     Authorization header is sent, which needs envd 0.4.0 or later.
//   - Cmd.Args runs the program directly (no shell); Cmd.Shell runs
//     "/bin/bash -l -c <line>", as the SDKs' commands.run does. A program
//     that does not exist is ErrNotFound. Cmd.Timeout and ctx deadlines reach
//     envd as Connect-Timeout-Ms, which envd uses as the process's timeout;
//     when ctx ends the process is killed with SIGKILL. No timeout is applied
//     by default (the SDKs use 60 s).
//   - Output streams (Start, Connect) ask envd for a keepalive event every
//     50 s (Keepalive-Ping-Interval, as the SDKs do). A stream that then
//     delivers nothing at all (no data, keepalive, start or end event) for
//     110 s (two intervals and slack) counts as stalled, though its
//     connection may still be open: it is ended and the command fails with
//     ErrTimeout ("the output stream stalled: no data or keepalive for
//     1m50s"). The process may still be running in the sandbox, so, as
//     when ctx ends, it is sent SIGKILL (best effort, within 10 s).
//   - Stdin is forwarded with SendInput, in chunks of up to 64 KiB, then
//     CloseStdin (envd 0.5.2 or later), as the SDKs do. As with os/exec, a
//     Cmd.Stdin that never returns keeps a goroutine reading it; Wait does
//     not wait for it.
//   - Process.Signal sends SIGTERM or SIGKILL (os.Kill); envd has no others,
//     so any other signal is ErrUnsupported.
//   - Files are written with multipart POST /files (one part per file, the
//     part's filename being the path), streamed, never buffered whole: Upload
//     sends all its files in one request. Reads stream GET /files. A POST is
//     not retried; a read is, on 429, 502, 503, 504 and resets.
//   - Remove of a missing path is ErrNotFound (envd's Remove ignores missing
//     paths, so Remove asks Stat first: two requests).
//   - envd's proxy answers 502 when the sandbox is not running (paused
//     without auto-resume, timed out or killed). Commands and files then fail
//     with ErrState: the handle cannot tell a paused sandbox from a dead one
//     without a control-plane request; Handle.State tells them apart.
//   - State maps running and paused to sandagent.StateRunning and
//     StatePaused; a sandbox the API no longer knows is StateDestroyed.
//   - E2B has no stop (only pause and kill): Handle.Stop is ErrUnsupported.
//     Handle.SetTimeout is E2B's set-timeout (it can shorten too); Pause of a
//     paused sandbox is not an error; Destroy of a gone sandbox is not an
//     error.
//   - Handle.As accepts a *Native: the sandbox id, template, envd version,
//     domain and access tokens, Native.Host for the public host of a port
//     and Native.Move (envd's Filesystem.Move, which the Handle lacks).
//   - Native.ConnectProcess reconnects to a running process by the pid
//     Process.PID reported (envd's Process.Connect, one stream), from any
//     handle in any program. It streams the further output and returns the
//     exit code (a non-zero exit is no error). It only observes: when its
//     ctx ends, or its stream stalls (ErrTimeout, as above), the connection
//     ends and the process keeps running.
//     Native.ListProcesses lists the running processes (Process.List).
//
// # URLs
//
// The package registers the e2b scheme for sandagent.Open:
//
//	e2b://my-project?template=base&timeout=10m&autopause=true
//	e2b://?id=i1a2b3c4d5e6f7g8h9i0j&create=true
//
// The host is the name (WithName). Query parameters: id, template, timeout
// (a Go duration), autopause, autoresume, secure, create
// (WithCreateIfMissing), domain, and meta.<key>=<value> (WithMetadata); any
// other is ErrInvalid. The API key and URLs come from the environment: a URL
// is no place for a key.
package e2b

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/e2bapi"
	"github.com/sandagent/sandagent/internal/httpx"
	"github.com/sandagent/sandagent/internal/keylock"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "e2b"

// Metadata keys this package sets on every sandbox it creates.
const (
	NameKey    = e2bapi.NameKey    // the name given with WithName
	ManagedKey = e2bapi.ManagedKey // "true"
)

// The official SDKs' defaults.
const (
	DefaultTemplate = "base"
	DefaultTimeout  = 300 * time.Second
	DefaultDomain   = "e2b.app"
	envdPort        = 49983
	userAgent       = "sandagent-e2b-go"
)

// Sandbox is an E2B sandbox configuration. Attach may be called many times,
// from many goroutines.
type Sandbox struct {
	name, id        string
	createIfMissing bool
	template        string
	timeout         time.Duration
	autoPause       bool
	autoResume      bool
	env, metadata   map[string]string
	secure          bool
	apiKey          string
	domain          string
	apiURL          string
	sandboxURL      string
	hc              *http.Client
	logger          *slog.Logger
	keepalive       time.Duration // 0: keepaliveInterval
	afterFunc       afterFunc     // the stall watchdog's timers (tests); nil: time.AfterFunc
	window          time.Duration // the convergence window; -1: driver.ConvergenceWindow's default
	locks           *keylock.Map  // nil: the process-wide name locks

	api *e2bapi.Client
}

// New returns an E2B Sandbox configuration. It does no I/O.
func New(opts ...Option) (*Sandbox, error) {
	s := &Sandbox{template: DefaultTemplate, timeout: DefaultTimeout, secure: true, window: -1}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, wrap("new", err)
		}
	}
	switch {
	case s.name != "" && s.id != "":
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithName and WithID both given; choose one"))
	case s.createIfMissing && s.id == "":
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithCreateIfMissing needs WithID"))
	case s.autoResume && !s.autoPause:
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithAutoResume needs WithAutoPause"))
	}
	var err error
	if s.window, err = driver.ConvergenceWindow(s.window); err != nil {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "%v", err))
	}
	s.apiKey = cmp.Or(s.apiKey, os.Getenv("E2B_API_KEY"))
	if s.apiKey == "" {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrAuth, "no API key: use WithAPIKey or set E2B_API_KEY"))
	}
	s.domain = cmp.Or(s.domain, os.Getenv("E2B_DOMAIN"), DefaultDomain)
	s.apiURL = strings.TrimRight(cmp.Or(s.apiURL, os.Getenv("E2B_API_URL"), "https://api."+s.domain), "/")
	s.sandboxURL = strings.TrimRight(cmp.Or(s.sandboxURL, os.Getenv("E2B_SANDBOX_URL")), "/")
	for what, u := range map[string]string{"E2B_API_URL": s.apiURL, "E2B_SANDBOX_URL": s.sandboxURL} {
		if u != "" {
			if err := e2bapi.CheckURL(what, u); err != nil {
				return nil, wrap("new", err)
			}
		}
	}
	s.hc = httpx.Client(s.hc) // the caller's, or the shared one; credentials never follow a redirect to another origin
	s.api = e2bapi.New(e2bapi.Options{
		Dialect:    dialect,
		BaseURL:    s.apiURL,
		APIKey:     s.apiKey,
		HTTPClient: s.hc,
		Logger:     s.logger,
	})
	return s, nil
}

// wrap tags err with the provider and op.
func wrap(op string, err error) error {
	return sandagent.WrapError(ProviderName, op, err)
}

// Attach attaches to the configured sandbox, or creates it. See the package
// documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) {
	return sandagent.RunAttach(ctx, ProviderName, s.attach)
}

func (s *Sandbox) attach(ctx context.Context) (*sandagent.Handle, error) {
	token := driver.AttachToken()
	reuse := &e2bapi.Reuse{
		API:             s.api,
		BaseURL:         s.apiURL,
		Name:            s.name,
		ID:              s.id,
		CreateIfMissing: s.createIfMissing,
		Timeout:         s.timeout,
		Token:           token,
		Body:            s.newSandbox(token),
		Window:          s.window,
		List:            listLive(s.api),
		Logger:          s.logger,
		Locks:           s.locks,
	}
	sb, outcome, err := reuse.Attach(ctx)
	if err != nil {
		return nil, err
	}
	if sb.SandboxID == "" { // an answer that was not the sandbox object
		return nil, &sandagent.Error{Provider: ProviderName, Op: "attach", Message: "unexpected response: no sandbox id"}
	}
	return s.handle(sb, outcome), nil
}

func (s *Sandbox) newSandbox(token string) newSandbox {
	body := newSandbox{
		TemplateID:    s.template,
		Timeout:       seconds(s.timeout),
		AutoPause:     s.autoPause,
		Secure:        s.secure,
		AllowInternet: true,
		Metadata:      e2bapi.Labels(s.name, token, s.metadata),
		EnvVars:       s.env,
	}
	if s.autoResume {
		body.AutoResume = &autoResume{Enabled: true}
	}
	return body
}
