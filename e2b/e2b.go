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
// /v2/sandboxes/{id}/connect), which extends its timeout if it runs (Outcome
// Reused) or resumes it if it is paused (Outcome Resumed). With no match it
// creates one (Outcome Created). Goroutines attaching the same name in one
// process take turns; across processes Attach converges: after creating it
// lists again, and if several sandboxes carry the name, every caller picks
// the oldest and the creator of any other destroys its own.
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
// when the sandbox exists; creating by name takes three (list, create, list).
// The workdir is learnt on first need (one Filesystem.Stat of the path "",
// which envd resolves to the default workdir, else the user's home).
//
// # Routes
//
// Create and connect use E2B's current routes, POST /v2/sandboxes (the
// NewSandboxV2 request: every sandbox is secured) and POST
// /v2/sandboxes/{id}/connect. Against an E2B-compatible service that does
// not serve them (a self-hosted or older one), the first create or connect
// answered 405, or 404 without naming a sandbox or template, is sent again
// to the deprecated v1 route (POST /sandboxes, with secure, and POST
// /sandboxes/{id}/connect); when v1 answers, the Sandbox uses v1 from then
// on. Request counts stay those above once v1 is known.
//
// # Decisions where E2B is silent
//
//   - Defaults follow the official SDKs: template "base", timeout 300 s,
//     secure (envd access token), internet access on, an auto-pause that
//     keeps memory (WithAutoPauseMemory), a resume that restores memory
//     (WithResumeMemory), no network rules (WithNetwork) and no volumes
//     (WithVolume). The environment
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
//   - Cmd.Args runs the program with its arguments as given (no shell
//     parses them); Cmd.Shell runs "/bin/bash -l -c <line>", as the SDKs'
//     commands.run does. Either is started as `/bin/sh -c 'exec setsid
//     "$@"' sh <program> <args>` (plain exec where the sandbox lacks
//     setsid), so that the command leads a process group of its own. A program
//     that does not exist is, as on every provider, an *ExitError with code
//     127 that matches ErrNotFound (envd since 0.5.4 starts every process
//     through /bin/sh, which exits 127; an older envd's invalid_argument
//     is turned into the same). Cmd.Timeout and ctx deadlines reach
//     envd as Connect-Timeout-Ms, which envd uses as the process's timeout.
//     When ctx ends, or envd's timeout killed the process, the command's
//     whole process group gets SIGKILL: envd's SendSignal reaches the pid
//     alone, so a second command (`kill -s KILL -- -<pid>`) reaches the
//     rest, pipelines and background jobs included; Wait then returns once
//     envd reports the process ended (one Connect, within 10 s). A child
//     that leaves the group (setsid, a daemon) is beyond reach. No timeout
//     is applied by default (the SDKs use 60 s).
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
//   - Process.Signal sends SIGTERM or SIGKILL (os.Kill) to the process and
//     its group, as above; envd has no others, so any other signal is
//     ErrUnsupported.
//   - Process streams do not accept gzip: envd would compress every output
//     event, which costs more CPU than it saves (100 MiB of stdout: 1.06 s
//     with gzip, 0.32 s without, on the emulator). File reads ask for
//     identity too: most payloads an agent moves are already compressed or
//     small, and gzip cannot be streamed with a length.
//   - Errors: envd's 502 (the proxy's) and Connect's unavailable are
//     ErrState (the sandbox is not running or not reachable); canceled, when
//     our ctx did not end, is ErrTimeout (the call was aborted on the way);
//     a /files 507 (disk full) is ErrState.
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
//   - Handle.URL is the port's public host, https://<port>-<id>.<domain>
//     (as getHost), with the e2b-traffic-access-token header when the
//     sandbox has public traffic off; with a sandbox URL (E2B_SANDBOX_URL,
//     as against e2btest) it is that URL with the E2b-Sandbox-Id and
//     E2b-Sandbox-Port routing headers. PTY, Fork and Snapshot are not
//     wired in yet: ErrUnsupported.
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
// # What envd does that this package relies on
//
// Read in envd 0.6.13's source (github.com/e2b-dev/infra, packages/envd;
// paths below are under internal/) and kept in e2btest:
//
//   - Every process starts as `/bin/sh -c '<prelude> && exec "$@"' -- cmd
//     args` (since 0.5.4), so the pid reported is the program's and a
//     missing program is exit 127 with the shell's message on stderr
//     (services/process/handler/handler.go).
//   - Processes are not given a process group: they stay in envd's, which
//     is why setsid(1) can make the command lead one without forking
//     (handler.go sets only the credentials and cgroup in SysProcAttr).
//   - SendSignal takes SIGTERM and SIGKILL, sends it to the pid alone, and
//     then stops waiting for the output, so End follows the pid's exit
//     (services/process/signal.go, handler.go SendSignal).
//   - Connect-Timeout-Ms is the process's timeout: at the deadline the pid
//     alone gets SIGKILL (services/process/start.go).
//   - End comes once the process has exited and both output pipes have
//     closed, unless a signal or the timeout cut them: a background child
//     that keeps stdout open delays it (handler.go Wait).
//   - The environment is built from scratch: envd's PATH, the user's HOME,
//     USER, LOGNAME, E2B_SANDBOX=true, E2B_SANDBOX_ID, E2B_TEMPLATE_ID, the
//     create's envVars, the request's envs (handler.go, utils/envvars.go).
//   - A relative path or cwd is relative to the user's home, "" is the
//     default workdir (permissions/path.go): Handle.Workdir is learnt from
//     Stat("").
//   - The process runs as the user of the Basic Authorization header, else
//     the template's default (permissions/authenticate.go); this package
//     sends none.
//   - Output is sent only to subscribed streams and a slow reader stalls
//     the process (handler/multiplex.go): the stream is read at once.
//   - Filesystem: EntryInfo carries a symlink's target's type (never
//     FILE_TYPE_SYMLINK; a broken link is UNSPECIFIED) and permission bits
//     in mode (shared/pkg/filesystem/entry.go); MakeDir of an existing
//     directory is already_exists, taken as success (services/filesystem/
//     dir.go); Remove is os.RemoveAll and succeeds on a missing path, hence
//     the Stat first (services/filesystem/remove.go).
//   - GET /files streams the file (http.ServeContent: the type from the
//     extension, else sniffed; gzip only when asked); POST /files writes
//     every multipart part named "file", creating parents, and answers 507
//     when the disk is full (api/download.go, api/upload.go).
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

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/e2bapi"
	"github.com/sandagent/sandagent/internal/httpx"
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
	autoPauseMemory *bool
	resumeMemory    *bool
	network         *e2bapi.Network
	volumes         []e2bapi.VolumeMount
	env, metadata   map[string]string
	secure          bool
	apiKey          string
	domain          string
	apiURL          string
	sandboxURL      string
	hc              *http.Client
	logger          *slog.Logger
	tp              trace.TracerProvider
	keepalive       time.Duration // 0: keepaliveInterval

	svc e2bapi.Service
	api *e2bapi.Client
}

// e2bService is E2B itself.
var e2bService = e2bapi.Service{
	Dialect:         e2bapi.Dialect{Provider: ProviderName, UserAgent: userAgent},
	KeyEnv:          "E2B_API_KEY",
	DomainEnv:       "E2B_DOMAIN",
	APIURLEnv:       "E2B_API_URL",
	SandboxURLEnv:   "E2B_SANDBOX_URL",
	DefaultDomain:   DefaultDomain,
	DefaultTemplate: DefaultTemplate,
	ValidID:         validID,
	IDForm:          "lowercase letters and digits",
}

// New returns an E2B Sandbox configuration. It does no I/O.
func New(opts ...Option) (*Sandbox, error) { return NewService(e2bService, opts...) }

// NewService returns a Sandbox configuration for svc, an E2B-compatible
// service other than E2B, under its own provider name, defaults and
// environment variables. It is the base of this module's providers that
// speak E2B's protocol (package sandbase); Service is internal to the
// module. It does no I/O.
func NewService(svc e2bapi.Service, opts ...Option) (*Sandbox, error) {
	s := &Sandbox{svc: svc, timeout: DefaultTimeout, secure: true}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, s.wrap("new", err)
		}
	}
	if svc.TemplateEnv != "" {
		s.template = cmp.Or(s.template, os.Getenv(svc.TemplateEnv))
	}
	s.template = cmp.Or(s.template, svc.DefaultTemplate)
	wrap := s.wrap
	switch {
	case s.name != "" && s.id != "":
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithName and WithID both given; choose one"))
	case s.createIfMissing && s.id == "":
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithCreateIfMissing needs WithID"))
	case s.autoResume && !s.autoPause:
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithAutoResume needs WithAutoPause"))
	case s.autoPauseMemory != nil && !*s.autoPauseMemory && (!s.autoPause || s.autoResume):
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithAutoPauseMemory(false) needs WithAutoPause and excludes WithAutoResume"))
	}
	s.apiKey = cmp.Or(s.apiKey, os.Getenv(svc.KeyEnv))
	if s.apiKey == "" {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrAuth, "no API key: use WithAPIKey or set %s", svc.KeyEnv))
	}
	s.domain = cmp.Or(s.domain, os.Getenv(svc.DomainEnv), svc.DefaultDomain)
	apiHost := "api." + s.domain
	if svc.APIAtDomain {
		apiHost = s.domain
	}
	s.apiURL = strings.TrimRight(cmp.Or(s.apiURL, os.Getenv(svc.APIURLEnv), "https://"+apiHost), "/")
	s.sandboxURL = strings.TrimRight(cmp.Or(s.sandboxURL, os.Getenv(svc.SandboxURLEnv)), "/")
	for what, u := range map[string]string{svc.APIURLEnv: s.apiURL, svc.SandboxURLEnv: s.sandboxURL} {
		if u != "" {
			if err := e2bapi.CheckURL(what, u); err != nil {
				return nil, wrap("new", err)
			}
		}
	}
	s.hc = httpx.Traced(s.hc, svc.Provider, s.tp)
	s.api = e2bapi.New(e2bapi.Options{
		Dialect:      svc.Dialect,
		BaseURL:      s.apiURL,
		APIKey:       s.apiKey,
		HTTPClient:   s.hc,
		Logger:       s.logger,
		ResumeMemory: s.resumeMemory,
	})
	return s, nil
}

// wrap tags err with E2B and op.
func wrap(op string, err error) error {
	return sandagent.WrapError(ProviderName, op, err)
}

// wrap tags err with the service's provider and op.
func (s *Sandbox) wrap(op string, err error) error {
	return sandagent.WrapError(s.svc.Provider, op, err)
}

// wrap tags err with the service's provider and op.
func (h *handle) wrap(op string, err error) error {
	return sandagent.WrapError(h.provider, op, err)
}

// Attach attaches to the configured sandbox, or creates it. See the package
// documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) {
	return sandagent.RunAttach(ctx, s.svc.Provider, s.tp, s.attach)
}

func (s *Sandbox) attach(ctx context.Context) (*sandagent.Handle, error) {
	if s.template == "" && (s.id == "" || s.createIfMissing) {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "no template to create a sandbox from: use WithTemplate or set %s", s.svc.TemplateEnv)
	}
	reuse := &e2bapi.Reuse{
		API:             s.api,
		BaseURL:         s.apiURL,
		Name:            s.name,
		ID:              s.id,
		CreateIfMissing: s.createIfMissing,
		Timeout:         s.timeout,
		Body:            s.newSandbox(),
		List:            listNamed(s.api, s.name),
		Logger:          s.logger,
	}
	sb, outcome, err := reuse.Attach(ctx)
	if err != nil {
		return nil, err
	}
	if sb.SandboxID == "" { // an answer that was not the sandbox object
		return nil, &sandagent.Error{Provider: s.svc.Provider, Op: "attach", Message: "unexpected response: no sandbox id"}
	}
	return s.handle(sb, outcome), nil
}

// newSandbox is the create request.
func (s *Sandbox) newSandbox() e2bapi.NewSandbox {
	allow := true
	body := e2bapi.NewSandbox{
		TemplateID:          s.template,
		Timeout:             seconds(s.timeout),
		AutoPause:           s.autoPause,
		AutoPauseMemory:     s.autoPauseMemory,
		Secure:              s.secure,
		AllowInternetAccess: &allow,
		Metadata:            e2bapi.Labels(s.name, s.metadata),
		EnvVars:             s.env,
		Network:             s.network,
		VolumeMounts:        s.volumes,
	}
	if s.autoResume {
		body.AutoResume = &e2bapi.AutoResume{Enabled: true}
	}
	return body
}
