// Package daytona is the sandagent provider for Daytona (daytona.io), built
// on Daytona's generated API and toolbox clients.
//
// Reuse rule: WithName attaches by name (names are unique per Daytona
// organization). Attach first resolves every WithVolume volume by name,
// creating a missing one and waiting until it is "ready"; then it reads the
// sandbox by name:
//   - started: reused (Outcome Reused);
//   - stopped, stopping, archived, archiving: started again and waited on
//     (Outcome Started); paused or pausing: started (Outcome Resumed);
//   - starting, restoring, resuming: waited on (Outcome Started);
//     creating, pending_build, building_snapshot, pulling_snapshot, resizing
//     and the other transitional states: waited on (Outcome Reused);
//   - error: recovered (POST /recover) when Daytona marks it recoverable
//     (Outcome Started), else ErrState with Daytona's error reason;
//     build_failed is ErrState;
//   - not found (or destroyed): created with the name, the volumes, the
//     resources, labels, network policy and intervals (Outcome Created).
//
// A create answered 409 means another caller created the name first: Attach
// adopts that sandbox (Outcome per its state, never Created). A lookup that
// fails for any other reason than a 404 (auth, rate limit, 5xx, network)
// fails Attach: only a confirmed absence leads to a create. If Attach fails
// or its ctx ends after it created a sandbox, it deletes that sandbox, and
// only that one. Goroutines of one process attaching one name serialize on a
// lock; across processes Daytona's name uniqueness makes them converge.
// WithID reattaches by id with the same state handling and never creates:
// a missing id is ErrNotFound. With neither, every Attach creates a sandbox.
//
// Everything created carries the labels sandagent.managed=true and
// sandagent.name=<name>, plus code-toolbox-language (default python), as
// Daytona's SDKs set it.
//
// Waits (volume ready, start, stop, recover) poll with backoff (100 ms
// growing to 1 s) and end with the ctx, or after WithWaitTimeout (default
// 5 minutes), with ErrTimeout.
//
// Volumes: WithVolume(name, "") mounts the volume at DefaultMountPath, the
// home directory and default working directory of Daytona's default user,
// so the whole workspace persists across stops and even across deletion of
// the sandbox: a new sandbox with the same volume finds the files.
//
// Exec goes through the toolbox of the sandbox's toolboxProxyUrl: each
// command runs in its own toolbox session (create session, asynchronous
// exec, log websocket with follow=true, command status, delete session),
// which gives live, separate stdout and stderr. Cancelling the ctx or
// reaching Cmd.Timeout deletes the session, which kills the process group.
// The log websocket carries no keepalive Daytona documents, so a stalled
// one cannot be told from a quiet command: it ends with the ctx or
// Cmd.Timeout; a websocket that breaks is an error, never a short result.
// Toolbox calls have no client-side time limit of their own (the official
// Go SDK's fixed 60-second client timeout is not reproduced): they are
// bounded by the ctx only. Cmd.Dir and Cmd.Env are applied by a small shell
// wrapper (cd, env). Daytona's daemon labels output line by line through the
// sandbox's shell; the wrapper ends each stream with a marker so that the
// exact bytes come back (a last line without a newline stays so). What
// Daytona cannot carry: NUL bytes in command output (its shell drops them),
// stdin (the toolbox can send input lines but cannot close stdin, so
// Cmd.Stdin is ErrUnsupported), and signals (Process.Signal is
// ErrUnsupported). Handle.Pause is ErrUnsupported: Daytona pauses only
// linux-vm and windows sandboxes. SetTimeout sets the auto-stop interval
// (rounded up to whole minutes): Daytona stops a sandbox after that long
// without activity.
//
// Files use the toolbox file API, streaming both ways: GET /files/download,
// POST /files/bulk-upload (one request for Handle.Upload), /files/info,
// /files, /files/folder and DELETE /files?recursive=true. File sizes above
// 2 GiB cannot be reported by Stat and ListDir (the generated model's size
// is 32-bit).
//
// Configuration falls back to the official SDKs' environment variables:
// DAYTONA_API_KEY, DAYTONA_API_URL (default https://app.daytona.io/api),
// DAYTONA_TARGET and DAYTONA_ORGANIZATION_ID (sent as
// X-Daytona-Organization-ID when set). The API key never appears in errors
// or logs.
//
// Sandbox implements sandagent.Manager. Managed lists GET /sandbox with
// labels={"sandagent.managed":"true"} (the JSON-encoded filter Daytona
// takes) and includeErroredDeleted=true, 100 a page, following nextCursor
// to the last page; Info carries the id, name, state (mapped as for
// Handle.State), createdAt and labels. Kill is DELETE /sandbox/{id}: a 404,
// or a 409 on a sandbox already being destroyed, is success.
// sandagent.FromURL("daytona://") (no name, no id) gives a configuration
// for both.
//
// Handle.As offers *Control (lifecycle operations: start, stop, restart,
// resize, archive, labels, intervals, raw state; and RunCode),
// *apiclient.APIClient and *toolbox.APIClient.
//
// Control.RunCode runs a Python, JavaScript or TypeScript snippet with the
// toolbox's code runner (POST /process/code-run), one request a run. The
// language defaults to the sandbox's code-toolbox-language label as read at
// attach (python if absent). A non-zero exit is a result, not an error, as
// the toolbox reports it; stdout and stderr come back combined, with the
// toolbox's chart artifacts apart. The toolbox joins argv with spaces into a
// shell command line, so RunCode shell-quotes each argument to pass it
// unchanged. WithCodeTimeout is sent in whole seconds (rounded up); the
// toolbox then kills the snippet and answers 408, which is ErrTimeout; a 408
// is never read as a sign of the sandbox's state. The call is bounded by
// ctx and by the timeout plus 10 seconds for the answer, with no fixed
// client limit; without WithCodeTimeout, a ctx deadline is sent as the
// timeout, since the toolbox does not stop a snippet whose client left.
package daytona

import (
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	apiclient "github.com/daytonaio/daytona/libs/api-client-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
	"github.com/sandagent/sandagent/internal/keylock"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "daytona"

// DefaultAPIURL is Daytona's cloud API.
const DefaultAPIURL = "https://app.daytona.io/api"

// DefaultMountPath is where WithVolume mounts a volume when no mount path is
// given: the default user's home, which is also the toolbox's working
// directory on Daytona's default snapshots.
const DefaultMountPath = "/home/daytona"

// LabelLanguage is the label that names a sandbox's code-toolbox language.
// Every sandbox this package creates carries it, with sandagent.ManagedLabel
// and sandagent.NameLabel.
const LabelLanguage = "code-toolbox-language"

// Resources are what a sandbox built from an image gets: CPU cores, memory
// and disk in GB, GPUs. Zero fields are left to Daytona.
type Resources struct {
	CPU, Memory, Disk, GPU int
}

type volumeSpec struct{ name, mountPath string }

// Sandbox is a Daytona sandbox configuration. Attach may be called many
// times, from many goroutines.
type Sandbox struct {
	name, id                string
	volumes                 []volumeSpec
	autoStop                int // minutes
	autoArchive, autoDelete *int
	language, snapshot      string
	image                   string
	res                     Resources
	env, labels             map[string]string
	public, blockAll        bool
	allowList               string
	apiKey, apiURL, target  string
	orgID                   string
	hc                      *http.Client
	logger                  *slog.Logger
	tp                      trace.TracerProvider
	waitTimeout             time.Duration
	pollMin, pollMax        time.Duration
	pageSize                int

	api    *apiclient.APIClient
	tbHTTP *http.Client
	locks  keylock.Map
}

// Option configures a Sandbox.
type Option func(*Sandbox) error

func invalid(format string, args ...any) error {
	return sandagent.Errorf(sandagent.ErrInvalid, format, args...)
}

// WithName attaches by name; see the package documentation.
func WithName(name string) Option {
	return func(s *Sandbox) error {
		if name == "" || len(name) > 255 || strings.ContainsAny(name, "/?#%\x00") || strings.TrimSpace(name) != name {
			return invalid("name %q: want 1 to 255 characters without '/', '?', '#', '%%' or surrounding spaces", name)
		}
		s.name = name
		return nil
	}
}

// WithID reattaches by the id Handle.ID returned. It never creates.
func WithID(id string) Option {
	return func(s *Sandbox) error {
		if id == "" || strings.ContainsAny(id, "/?#%") {
			return invalid("id %q is not a Daytona sandbox id", id)
		}
		s.id = id
		return nil
	}
}

// WithVolume mounts the Daytona volume called name (created if missing) at
// mountPath, an absolute path in the sandbox; "" means DefaultMountPath, so
// the workspace itself persists. Volumes apply to sandboxes Attach creates.
func WithVolume(name, mountPath string) Option {
	return func(s *Sandbox) error {
		if name == "" || strings.ContainsAny(name, "/?#%") {
			return invalid("volume name %q: want a non-empty name without '/', '?', '#' or '%%'", name)
		}
		if mountPath == "" {
			mountPath = DefaultMountPath
		}
		if msg := checkMountPath(mountPath); msg != "" {
			return invalid("volume %s: mount path %q %s", name, mountPath, msg)
		}
		s.volumes = append(s.volumes, volumeSpec{name, mountPath})
		return nil
	}
}

// checkMountPath applies Daytona's rules for mount paths.
func checkMountPath(p string) string {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.Contains(p, "//") {
		return "must be absolute, not /, without consecutive slashes"
	}
	for _, part := range strings.Split(p[1:], "/") {
		if part == "." || part == ".." {
			return "must not contain . or .. components"
		}
	}
	for _, bad := range []string{"/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64"} {
		if p == bad || strings.HasPrefix(p, bad+"/") {
			return "must not be under " + bad
		}
	}
	return ""
}

// minutes rounds d up to whole minutes.
func minutes(d time.Duration) int { return int(math.Ceil(d.Minutes())) }

// WithAutoStop stops the sandbox after d without activity (default 15
// minutes; 0 disables auto-stop). Rounded up to whole minutes.
func WithAutoStop(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d < 0 {
			return invalid("negative auto-stop interval %s", d)
		}
		s.autoStop = minutes(d)
		return nil
	}
}

// WithAutoArchive archives the sandbox after it has been stopped for d
// (Daytona's default is 7 days; 0 means Daytona's maximum).
func WithAutoArchive(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d < 0 {
			return invalid("negative auto-archive interval %s", d)
		}
		m := minutes(d)
		s.autoArchive = &m
		return nil
	}
}

// WithAutoDelete deletes the sandbox after it has been stopped for d: a
// negative d disables auto-delete (Daytona's default), 0 deletes it as soon
// as it stops. Never set by default.
func WithAutoDelete(d time.Duration) Option {
	return func(s *Sandbox) error {
		m := -1
		if d >= 0 {
			m = minutes(d)
		}
		s.autoDelete = &m
		return nil
	}
}

// WithLanguage sets the code-toolbox language: python (default),
// javascript or typescript.
func WithLanguage(lang string) Option {
	return func(s *Sandbox) error {
		switch lang {
		case "python", "javascript", "typescript":
			s.language = lang
			return nil
		}
		return invalid("language %q: want python, javascript or typescript", lang)
	}
}

// WithSnapshot creates the sandbox from a Daytona snapshot (default:
// Daytona's default snapshot).
func WithSnapshot(name string) Option {
	return func(s *Sandbox) error {
		if name == "" {
			return invalid("empty snapshot name")
		}
		s.snapshot = name
		return nil
	}
}

// WithImage creates the sandbox from a container image (Daytona builds it;
// the sandbox is pending_build meanwhile, and Attach waits).
func WithImage(image string) Option {
	return func(s *Sandbox) error {
		if image == "" || strings.ContainsAny(image, " \n") {
			return invalid("image %q is not an image reference", image)
		}
		s.image = image
		return nil
	}
}

// WithResources sets CPU, memory, disk and GPU. Daytona accepts them only
// for sandboxes built from an image, so New requires WithImage with it.
func WithResources(r Resources) Option {
	return func(s *Sandbox) error {
		if r.CPU < 0 || r.Memory < 0 || r.Disk < 0 || r.GPU < 0 {
			return invalid("negative resources %+v", r)
		}
		s.res = r
		return nil
	}
}

// WithEnv sets environment variables of a sandbox Attach creates.
func WithEnv(env map[string]string) Option {
	return func(s *Sandbox) (err error) {
		s.env, err = sandagent.AddEnv(s.env, env)
		return err
	}
}

// WithLabels adds labels to a sandbox Attach creates.
func WithLabels(labels map[string]string) Option {
	return func(s *Sandbox) error {
		for k, v := range labels {
			if k == "" {
				return invalid("empty label key")
			}
			if s.labels == nil {
				s.labels = map[string]string{}
			}
			s.labels[k] = v
		}
		return nil
	}
}

// WithPublic makes the sandbox's port previews public.
func WithPublic(on bool) Option { return func(s *Sandbox) error { s.public = on; return nil } }

// WithNetworkBlockAll blocks all network access of the sandbox.
func WithNetworkBlockAll(on bool) Option {
	return func(s *Sandbox) error { s.blockAll = on; return nil }
}

// WithNetworkAllowList allows network access to these IPv4 CIDRs only (at
// most 10, each with its /prefix).
func WithNetworkAllowList(cidrs ...string) Option {
	return func(s *Sandbox) error {
		if len(cidrs) == 0 || len(cidrs) > 10 {
			return invalid("network allow list: want 1 to 10 CIDRs, got %d", len(cidrs))
		}
		for _, c := range cidrs {
			if !strings.Contains(c, "/") || strings.Contains(c, ",") {
				return invalid("network allow list entry %q: want an IPv4 CIDR such as 10.0.0.0/8", c)
			}
		}
		s.allowList = strings.Join(cidrs, ",")
		return nil
	}
}

// WithAPIKey sets the API key (default $DAYTONA_API_KEY).
func WithAPIKey(key string) Option {
	return func(s *Sandbox) error {
		if key == "" {
			return invalid("empty API key")
		}
		s.apiKey = key
		return nil
	}
}

// WithAPIURL sets the API base URL (default $DAYTONA_API_URL, else
// DefaultAPIURL), such as a daytonatest.Server's URL.
func WithAPIURL(u string) Option {
	return func(s *Sandbox) error {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return invalid("API URL: want an http or https URL")
		}
		s.apiURL = u
		return nil
	}
}

// WithTarget sets the target region (default $DAYTONA_TARGET, else
// Daytona's default).
func WithTarget(target string) Option {
	return func(s *Sandbox) error { s.target = target; return nil }
}

// WithOrganizationID sends X-Daytona-Organization-ID (default
// $DAYTONA_ORGANIZATION_ID).
func WithOrganizationID(id string) Option { return func(s *Sandbox) error { s.orgID = id; return nil } }

// WithHTTPClient sets the HTTP client. Its Timeout, if any, applies to API
// calls only: toolbox calls (commands, files) use a copy without one,
// bounded by their ctx.
func WithHTTPClient(c *http.Client) Option {
	return func(s *Sandbox) error {
		if c == nil {
			return invalid("nil HTTP client")
		}
		s.hc = c
		return nil
	}
}

// WithTracerProvider traces Attach, the Handle's operations and each HTTP
// request with tp (default: the global TracerProvider, a no-op until the
// program installs one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Sandbox) error { s.tp = tp; return nil }
}

// WithLogger logs requests and operations at debug level.
func WithLogger(l *slog.Logger) Option { return func(s *Sandbox) error { s.logger = l; return nil } }

// WithWaitTimeout bounds each wait for a state (default 5 minutes).
func WithWaitTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 {
			return invalid("wait timeout %s is not positive", d)
		}
		s.waitTimeout = d
		return nil
	}
}

// New returns a Daytona Sandbox configuration. It does no I/O.
func New(opts ...Option) (*Sandbox, error) {
	s := &Sandbox{autoStop: 15, language: "python", waitTimeout: 5 * time.Minute, pollMin: 100 * time.Millisecond, pollMax: time.Second, pageSize: 100}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, wrap("new", err)
		}
	}
	s.apiKey = cmpOr(s.apiKey, os.Getenv("DAYTONA_API_KEY"))
	s.apiURL = cmpOr(s.apiURL, os.Getenv("DAYTONA_API_URL"), DefaultAPIURL)
	s.target = cmpOr(s.target, os.Getenv("DAYTONA_TARGET"))
	s.orgID = cmpOr(s.orgID, os.Getenv("DAYTONA_ORGANIZATION_ID"))
	switch {
	case s.apiKey == "":
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrAuth, "no API key: set DAYTONA_API_KEY or use WithAPIKey"))
	case s.name != "" && s.id != "":
		return nil, wrap("new", invalid("WithName and WithID both given; choose one"))
	case s.snapshot != "" && s.image != "":
		return nil, wrap("new", invalid("WithSnapshot and WithImage both given; choose one"))
	case s.res != (Resources{}) && s.image == "":
		return nil, wrap("new", invalid("WithResources needs WithImage: Daytona refuses resources for sandboxes made from a snapshot"))
	}
	if p, err := url.Parse(s.apiURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, wrap("new", invalid("DAYTONA_API_URL: want an http or https URL"))
	}
	s.apiURL = strings.TrimRight(s.apiURL, "/")
	s.setupClients()
	return s, nil
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// setupClients makes the API client and the toolbox HTTP client: one
// transport, with the shared retry policy for idempotent requests.
func (s *Sandbox) setupClients() {
	hc := httpx.Traced(s.hc, ProviderName, s.tp)
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	api := *hc
	api.Transport = httpx.Transport(base, httpx.Options{Provider: ProviderName, Logger: s.logger})
	tb := api
	tb.Timeout = 0 // bounded by each call's ctx: commands may run for hours
	s.tbHTTP = &tb

	cfg := apiclient.NewConfiguration()
	cfg.Servers = apiclient.ServerConfigurations{{URL: s.apiURL}}
	cfg.HTTPClient = &api
	cfg.UserAgent = "sandagent"
	for k, v := range s.headers() {
		cfg.AddDefaultHeader(k, v)
	}
	s.api = apiclient.NewAPIClient(cfg)
}

func (s *Sandbox) headers() map[string]string {
	h := map[string]string{"Authorization": "Bearer " + s.apiKey, "X-Daytona-Source": "sandagent"}
	if s.orgID != "" {
		h["X-Daytona-Organization-ID"] = s.orgID
	}
	return h
}

func wrap(op string, err error) error {
	return sandagent.WrapError(ProviderName, op, err)
}
