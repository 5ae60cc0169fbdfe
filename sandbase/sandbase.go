// Package sandbase is the SandBase provider: sandboxes on SandBase
// (api.sandbase.ai), or on any service that speaks its API, such as the
// sandbasetest emulator. SandBase's control plane is a dialect of E2B's
// (JSON over HTTP, E2B's {"code","message"} errors); this package shares its
// client and its reuse rule with package e2b. Commands and files go through
// SandBase's own REST endpoints: POST /sandboxes/{id}/processes and
// /sandboxes/{id}/filesystem….
//
// # Reuse rule
//
// WithName attaches by name. The name is stored in the sandbox's metadata
// under "sandagent.name" (with "sandagent.managed" = "true"). SandBase has
// no GET /v2/sandboxes and no metadata filter, so Attach lists the
// sandboxes (GET /sandboxes, one request, every status), keeps the running
// and paused ones whose metadata carries the name, picks the oldest
// (earliest startedAt, then smallest id, so every caller picks the same one)
// and connects to it (POST /sandboxes/{id}/connect), which extends its
// timeout if it runs (Outcome Reused) or resumes it if it is paused (Outcome
// Resumed), memory and processes intact. With no match it creates one
// (Outcome Created). Goroutines attaching the same name in one process take
// turns; across processes Attach converges: after creating it lists again,
// and if several sandboxes carry the name, every caller picks the oldest and
// the creator of any other destroys its own. As on E2B, the list may lag
// behind creates: a sandbox younger than WithConvergenceWindow (default
// 2 s, or SANDAGENT_CONVERGENCE_WINDOW) is handed out only once a list sent
// that long after it was seen still names it the oldest, and a creator
// waits the window before its second list. Every create carries a unique
// attach token in its metadata (sandagent.attach): a create whose answer is
// lost is found by it, after the window, and adopted, or destroyed when
// the ctx has ended.
//
// WithID reattaches by the id from Handle.ID, from any process: connect, as
// above. A sandbox that no longer exists is ErrNotFound; a stopped one
// (its timeout or lifetime ended: SandBase's terminal state) is ErrState.
// With neither WithName nor WithID, every Attach creates a new sandbox.
//
// Lookups fail closed: only a confirmed absence (a list without the name, a
// 404 on connect) leads to a create. Authentication, rate-limit, network and
// server errors are returned. A create is never retried blindly. If Attach
// fails or its ctx ends after it created a sandbox, it destroys that
// sandbox, and only that one.
//
// Attach makes one request by id (connect) and two by name (list, connect)
// when the sandbox exists; creating by name takes three (list, create,
// list) and the convergence window. The workdir is learnt on first need (one GET
// /sandboxes/{id}/filesystem/stat of /workspace).
//
// Persistence is one-to-one: Pause keeps files and memory (running
// processes continue after the resume), the next Attach resumes that same
// sandbox, with the timeout of WithTimeout counted afresh, and Destroy (or
// Kill, by id) deletes it. SandBase has no snapshots and no forks; this
// package offers none.
//
// # Decisions where SandBase is silent or inconsistent
//
//   - Auth: the key goes as "Authorization: Bearer <key>" (SandBase also
//     takes X-API-Key). SandBase keys start with "sk-sb-"; the key is not
//     checked for it. SANDBASE_API_KEY and SANDBASE_API_URL are read when
//     the matching option is not given; a missing key makes New fail with
//     ErrAuth.
//   - Defaults: template "base", timeout 300 s (SandBase's defaults).
//   - Listing: GET /sandboxes without a status filter answers every
//     sandbox, whatever its status (the filter is optional); the running and
//     paused ones are kept on the client.
//   - Connect answers 201 when it resumed a paused sandbox and 200 when it
//     was running, as E2B's does: that is how Attach tells Resumed from
//     Reused.
//   - SandBase answers 409 "sandbox is <status>" to what the state forbids
//     (a command or a file in a paused sandbox, the resume of a stopped
//     one): ErrState, with that message. Pause of a paused sandbox is not an
//     error. Destroy and Kill of a sandbox already gone are not errors.
//   - State maps creating to StateStarting, running and paused to
//     themselves, error to StateError, and stopped, SandBase's terminal
//     state (processes and files gone), to StateDestroyed, as a sandbox the
//     API no longer knows.
//   - SandBase has no stop: Handle.Stop is ErrUnsupported. Handle.SetTimeout
//     is POST /timeout (it can shorten too).
//   - Commands run to completion in one request, with no streaming, no
//     stdin and no signals (SandBase lists them as roadmap). Cmd.Stdout and
//     Cmd.Stderr receive the output when the command has ended, not while it
//     runs; a Cmd.Stdin is ErrUnsupported; Process.PID is 0;
//     Process.Signal is ErrUnsupported. Output travels as JSON strings:
//     bytes that are not UTF-8 come back replaced with U+FFFD.
//   - Cmd.Args runs the program with no shell (cmd and args); Cmd.Shell
//     runs "/bin/sh -c <line>". A program that does not exist is
//     ErrNotFound. Cmd.Dir "" lets SandBase choose (/workspace).
//   - Timeouts: SandBase kills a command after its request's timeout
//     (default 60 s). The ctx's deadline (Cmd.Timeout's, or the caller's),
//     rounded up to whole seconds, is sent as that timeout; without a
//     deadline SandBase's 60 s apply, so give long commands a Cmd.Timeout.
//     A command that outlives it is ErrTimeout.
//   - SandBase's API cannot kill a command. When the ctx ends before the
//     command, the request is abandoned (SandBase may or may not end the
//     command then; the emulator does) and a second command kills, with
//     SIGKILL, every process of the sandbox whose environment carries the
//     first one's marker, SANDAGENT_EXEC=<random id>, which every command
//     gets (its background children inherit it, so they go too). It reads
//     /proc and waits up to two seconds for them to be gone; Wait returns
//     ctx.Err() after it. It is best effort: its failure is ignored.
//   - Files: reads stream GET /filesystem/download (no size cap, unlike
//     the base64 read capped at 1 MB). A write of at most 1 MiB is one
//     base64 POST /filesystem; a larger one is streamed, never buffered
//     whole, as a multipart POST /filesystem/upload, up to SandBase's 100 MB
//     (104857600 bytes): more is ErrInvalid. Upload writes its files one
//     request each (SandBase uploads one file per request). Remove of a
//     missing path is ErrNotFound. Stat and ListDir report name, path, size
//     and whether an entry is a directory: no permissions, no times.
//   - Sandbox is a sandagent.Manager: Managed lists the sandboxes labelled
//     sandagent.managed=true (GET /sandboxes, every status), Kill deletes
//     one by id, as the function Kill does.
//   - Handle.As accepts a *Native: the sandbox id and template, and
//     Native.Move (POST /filesystem/move, which the Handle lacks).
//
// # URLs
//
// The package registers the sandbase scheme for sandagent.Open:
//
//	sandbase://my-project?template=base&timeout=10m
//	sandbase://?id=sbx_a1b2c3d4e5f6
//
// The host is the name (WithName). Query parameters: id, template, timeout
// (a Go duration) and meta.<key>=<value> (WithMetadata); any other is
// ErrInvalid. The API key and URL come from the environment: a URL is no
// place for a key.
package sandbase

import (
	"cmp"
	"context"
	"encoding/json"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/e2bapi"
	"github.com/sandagent/sandagent/internal/httpx"
	"github.com/sandagent/sandagent/internal/keylock"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "sandbase"

// Metadata keys this package sets on every sandbox it creates.
const (
	NameKey    = e2bapi.NameKey    // the name given with WithName
	ManagedKey = e2bapi.ManagedKey // "true"
)

// SandBase's defaults.
const (
	DefaultTemplate = "base"
	DefaultTimeout  = 300 * time.Second
	DefaultAPIURL   = "https://api.sandbase.ai"
	userAgent       = "sandagent-sandbase-go"
)

// dialect is SandBase's take on E2B's control plane.
var dialect = e2bapi.Dialect{Provider: ProviderName, UserAgent: userAgent, Bearer: true, ConflictIsState: true}

// Sandbox is a SandBase sandbox configuration. Attach may be called many
// times, from many goroutines.
type Sandbox struct {
	name, id      string
	template      string
	timeout       time.Duration
	env, metadata map[string]string
	apiKey        string
	apiURL        string
	hc            *http.Client
	logger        *slog.Logger
	window        time.Duration // the convergence window; -1: driver.ConvergenceWindow's default
	locks         *keylock.Map  // nil: the process-wide name locks

	api *e2bapi.Client
}

// New returns a SandBase Sandbox configuration. It does no I/O.
func New(opts ...Option) (*Sandbox, error) {
	s := &Sandbox{template: DefaultTemplate, timeout: DefaultTimeout, window: -1}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, wrap("new", err)
		}
	}
	if s.name != "" && s.id != "" {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithName and WithID both given; choose one"))
	}
	var err error
	if s.window, err = driver.ConvergenceWindow(s.window); err != nil {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "%v", err))
	}
	s.apiKey = cmp.Or(s.apiKey, os.Getenv("SANDBASE_API_KEY"))
	if s.apiKey == "" {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrAuth, "no API key: use WithAPIKey or set SANDBASE_API_KEY"))
	}
	if s.apiURL == "" {
		if u := os.Getenv("SANDBASE_API_URL"); u != "" {
			if err := e2bapi.CheckURL("SANDBASE_API_URL", u); err != nil {
				return nil, wrap("new", err)
			}
			s.apiURL = u
		}
	}
	s.apiURL = strings.TrimRight(cmp.Or(s.apiURL, DefaultAPIURL), "/")
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

// newSandbox is the body of SandBase's POST /sandboxes.
type newSandbox struct {
	TemplateID string            `json:"templateID"`
	Timeout    int32             `json:"timeout"`
	Metadata   map[string]string `json:"metadata"`
	EnvVars    map[string]string `json:"envVars,omitempty"`
}

// Attach attaches to the configured sandbox, or creates it. See the package
// documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) {
	return sandagent.RunAttach(ctx, ProviderName, s.attach)
}

func (s *Sandbox) attach(ctx context.Context) (*sandagent.Handle, error) {
	token := driver.AttachToken()
	reuse := &e2bapi.Reuse{
		API:     s.api,
		BaseURL: s.apiURL,
		Name:    s.name,
		ID:      s.id,
		Timeout: s.timeout,
		Token:   token,
		Body: newSandbox{
			TemplateID: s.template,
			Timeout:    e2bapi.Seconds(s.timeout),
			Metadata:   e2bapi.Labels(s.name, token, s.metadata),
			EnvVars:    s.env,
		},
		Window: s.window,
		List:   s.listLive,
		Logger: s.logger,
		Locks:  s.locks,
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

// listLive lists the running and paused sandboxes, those connect can
// attach to. SandBase has no metadata filter: Reuse filters on md.
func (s *Sandbox) listLive(ctx context.Context, _ map[string]string) (e2bapi.Listing, error) {
	all, at, err := s.list(ctx)
	return e2bapi.Listing{At: at, Sandboxes: slices.DeleteFunc(all, func(sb e2bapi.Sandbox) bool {
		return sb.Status != "running" && sb.Status != "paused"
	})}, err
}

// list asks GET /sandboxes, which answers every sandbox, whatever its
// status, most recent first, in one array, and the server's time of the
// answer.
func (s *Sandbox) list(ctx context.Context) ([]e2bapi.Sandbox, time.Time, error) {
	r, err := s.api.R(ctx).Get("/sandboxes")
	if err := s.api.Check("list", r, err); err != nil {
		return nil, time.Time{}, err
	}
	var all []e2bapi.Sandbox
	if err := decode("list", r, &all, "sandbox list"); err != nil {
		return nil, time.Time{}, err
	}
	// null is no list, and an entry without its id, status or metadata is
	// no sandbox: never read either as "none".
	if all == nil || slices.ContainsFunc(all, func(sb e2bapi.Sandbox) bool { return sb.SandboxID == "" || sb.Status == "" || sb.Metadata == nil }) {
		return nil, time.Time{}, &sandagent.Error{Provider: ProviderName, Op: "list", Status: r.StatusCode(), Message: "unexpected response: malformed sandbox list"}
	}
	return all, e2bapi.ServerTime(r.Header()), nil
}

// decode reads the JSON answer r into v. Answers are decoded whatever
// their Content-Type, so that a page that is not JSON (a proxy's HTML, say)
// is an error rather than an empty success.
func decode(op string, r *resty.Response, v any, what string) error {
	if err := json.Unmarshal(r.Body(), v); err != nil {
		return &sandagent.Error{Provider: ProviderName, Op: op, Status: r.StatusCode(), Message: "unexpected response: malformed " + what, Err: err}
	}
	return nil
}

var _ sandagent.Manager = (*Sandbox)(nil)

// Managed lists the sandboxes labelled sandagent.managed=true, in every
// status (one GET /sandboxes), for sandagent.Reap. A stopped sandbox is
// listed with StateDestroyed until it is killed.
func (s *Sandbox) Managed(ctx context.Context) iter.Seq2[sandagent.Info, error] {
	return func(yield func(sandagent.Info, error) bool) {
		all, _, err := s.list(ctx)
		if err != nil {
			yield(sandagent.Info{}, wrap("list", err))
			return
		}
		for _, sb := range all {
			if sb.Metadata[ManagedKey] != "true" {
				continue
			}
			info := sandagent.Info{
				Provider: ProviderName, ID: sb.SandboxID, Name: sb.Metadata[NameKey],
				State: state(sb.Status), CreatedAt: sb.StartedAt, Labels: sb.Metadata,
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Kill deletes the sandbox id for good, without attaching to it. A sandbox
// already gone is not an error.
func (s *Sandbox) Kill(ctx context.Context, id string) error {
	if !validID(id) {
		return wrap("kill", invalidID(id))
	}
	return wrap("kill", s.api.Kill(ctx, id))
}

// Kill deletes the sandbox with this id for good, without attaching to it
// (no connect, so a paused sandbox is not resumed first): one DELETE. A
// sandbox already gone is not an error. The options are New's: the API
// key, API URL, HTTP client and logger are used, the others ignored.
func Kill(ctx context.Context, id string, opts ...Option) error {
	s, err := New(opts...)
	if err != nil {
		return wrap("kill", err)
	}
	return s.Kill(ctx, id)
}
