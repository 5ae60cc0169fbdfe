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
// only that one. Every create carries a unique attach token in its labels
// (sandagent.attach): when the create gets no usable answer (no response,
// or the ctx ended while it was in flight), Attach lists by that token,
// after WithConvergenceWindow (default 2 s, or
// SANDAGENT_CONVERGENCE_WINDOW; Daytona's list may lag behind its creates)
// and even if its ctx has ended, and adopts what it finds, or deletes it
// when the ctx has ended. Goroutines of one process attaching one name serialize on a
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
// Volumes: WithVolume(name, "") mounts the volume at DefaultMountPath
// (/home/daytona/volume, as Daytona's documentation does); what is written
// there persists across stops and even across deletion of the sandbox: a
// new sandbox with the same volume finds the files. Nothing can be mounted
// over the daemon's session directory (see WithVolume).
//
// Exec runs commands in toolbox sessions (the toolbox is at the sandbox's
// toolboxProxyUrl, asked for with GET /sandbox/{id}/toolbox-proxy-url when
// the sandbox reports none, as the official SDKs do). A session is one
// long-lived shell on the sandbox that sources its commands one after
// another; each handle keeps a pool of them, created on first use and
// reused, one per command in flight, so concurrent commands never queue
// behind each other (Handle.Close deletes the idle ones). Each command runs
// in its own sh, so that Cmd.Dir, Cmd.Env and the command's own cd, exports
// and exit stay inside it; stdin is /dev/null unless Cmd.Stdin is set.
// After the command, the wrapper prints an end marker line on each stream,
// stdout's with the exit status: the output comes back exact (a last line
// without a newline stays so), and with live writers the result does not
// wait for a background child that holds the streams open. A synchronous
// command (no writers) does, as Daytona's own execute does: the daemon
// answers once the command's output has ended, so start a background
// server with its output redirected (server >log 2>&1 &), or with writers.
//
// Round trips: a command without Cmd.Stdout and Cmd.Stderr writers (the
// caller wants the Result only) runs synchronously, in one request that
// returns its labelled log and exit status when it ends. With writers, the
// output arrives live: an asynchronous exec, then the log websocket, two
// round trips in sequence. A handle's first command adds the session's
// creation. Wait returns once both end markers have come; the session goes
// back to the pool when the daemon reports the exit code, off the critical
// path (a session whose command left a background child holding its output
// stays busy, and is never reused). A session is replaced after 256
// commands or 16 MiB of output, since the daemon keeps every command's log
// until its session is deleted.
//
// Cmd.Stdin: an input of known length (bytes.Reader, strings.Reader,
// bytes.Buffer) up to 1 MiB goes inline, base64 in the command itself,
// which keeps the one-request path. Any other reader streams through the
// toolbox's session input as it is read, which serves interactive use too:
// the daemon appends a newline to each input and never closes a command's
// stdin, so the command reads from a FIFO that a small decoder fills with
// the base64 chunks the client sends, and the end of Cmd.Stdin closes it.
// This needs mkfifo, head and base64 in the sandbox (coreutils, as on
// Daytona's default snapshots). A command that ends before reading all its
// input does not wait for Cmd.Stdin: Wait returns, and Stdin is no longer
// read once its current Read returns.
//
// Cancelling the ctx or reaching Cmd.Timeout deletes the command's session:
// the daemon sends SIGTERM to the session's process tree and SIGKILL after
// its grace period (5 s by default), so Wait returns once the command is
// gone, up to that long for one that ignores SIGTERM. A log websocket that
// breaks, or ends without the markers, is an error, never a short result;
// it carries no keepalive Daytona documents, so a stalled one cannot be
// told from a quiet command: it ends with the ctx or Cmd.Timeout. Toolbox
// calls have no client-side time limit of their own (the official Go SDK's
// fixed 60-second client timeout is not reproduced): they are bounded by
// the ctx only.
//
// What Daytona cannot give: signals (Process.Signal is ErrUnsupported: the
// toolbox cannot signal a command), process ids (Process.PID is 0), and
// NUL bytes in output when the session shell is bash (the daemon prefers
// zsh, which keeps them, and the default snapshots have it).
// Handle.Pause is ErrUnsupported: Daytona pauses only linux-vm and windows
// sandboxes. SetTimeout sets the auto-stop interval (rounded up to whole
// minutes): Daytona stops a sandbox after that long without activity.
//
// What this package relies on in Daytona's daemon (apps/daemon in
// github.com/daytonaio/daytona at b5a5d9e78, the last public source):
//   - a session is one shell, in its own process group, that sources each
//     command; commands run one after another (pkg/session/create.go,
//     execute.go);
//   - a session shell starts in the home directory for legacy SDKs
//     (before 0.103) and in the work directory otherwise: this package
//     announces its version (X-Daytona-SDK-Version) when it creates a
//     session (pkg/session/create.go);
//   - output is labelled line by line, 01 01 01 for stdout and 02 02 02 for
//     stderr; a line is written only once complete, a last line without a
//     newline gets one (pkg/session/execute.go;
//     libs/common-go/pkg/log/read_multiplex_log.go);
//   - with X-Daytona-Split-Output: true and no SDK version, a sync exec
//     answers, once the exit code is written (after both labelers
//     drained), with the raw labelled log as output; GET .../logs answers
//     it as raw bytes; the log websocket sends it raw, in binary messages
//     of at most 1,024 bytes cut anywhere, and closes about a second after
//     the exit (pkg/session/common.go, execute.go, log.go;
//     internal/util/log_reader.go). The SDK version is not sent there: it
//     would make GET .../logs JSON and triple the sync answer;
//   - a sync exec's JSON answer turns bytes that are not UTF-8 into U+FFFD
//     (Go's encoding/json): an answer holding U+FFFD is read again raw
//     with GET .../logs, one more request;
//   - an async command's stdin is a FIFO held open until it ends; input
//     gains a newline, is echoed into the log unless suppressInputEcho
//     (which this package sets), and is refused with 410 once the command
//     has ended (pkg/session/input.go, execute.go);
//   - deleting a session sends SIGTERM to its process tree and SIGKILL
//     after DAYTONA_TERMINATION_GRACE_PERIOD, 5 s by default
//     (pkg/session/delete.go);
//   - each command's FIFOs and log live in $HOME/.daytona/sessions until
//     the session is deleted (cmd/daemon/main.go): no volume may cover
//     that directory (WithVolume);
//   - file errors are a status with an empty body: 404 missing, 403
//     permission denied (which matches fs.ErrPermission here, not ErrAuth),
//     400 anything else (pkg/toolbox/fs).
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
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/httpx"
	"github.com/sandagent/sandagent/internal/keylock"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "daytona"

// DefaultAPIURL is Daytona's cloud API.
const DefaultAPIURL = "https://app.daytona.io/api"

// DefaultMountPath is where WithVolume mounts a volume when no mount path is
// given, as Daytona's documentation does: a directory in the default
// user's home. A volume cannot be mounted over the home itself: the daemon
// keeps every command's pipes and logs in $HOME/.daytona/sessions, which a
// volume (an S3 FUSE mount, without FIFOs or appends) cannot hold.
const DefaultMountPath = "/home/daytona/volume"

// sessionDir is where the daemon of Daytona's default snapshots keeps its
// sessions' FIFOs and logs (apps/daemon/cmd/daemon/main.go).
const sessionDir = "/home/daytona/.daytona/sessions"

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
	window                  time.Duration // the convergence window; -1: driver.ConvergenceWindow's default

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
// mountPath, an absolute path in the sandbox; "" means DefaultMountPath.
// A mount path that covers the daemon's session directory
// (/home/daytona/.daytona/sessions: /home, /home/daytona, ...) is
// ErrInvalid: commands could not run there. Volumes apply to sandboxes
// Attach creates.
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
	if p == sessionDir || strings.HasPrefix(sessionDir, p+"/") {
		return "covers " + sessionDir + ", where the daemon keeps each command's pipes and logs, which a volume cannot hold: mount it elsewhere, such as " + DefaultMountPath
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
	s := &Sandbox{autoStop: 15, language: "python", waitTimeout: 5 * time.Minute, pollMin: 100 * time.Millisecond, pollMax: time.Second, pageSize: 100, window: -1}
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
	var err error
	if s.window, err = driver.ConvergenceWindow(s.window); err != nil {
		return nil, wrap("new", invalid("%v", err))
	}
	s.setupClients()
	return s, nil
}

// WithConvergenceWindow sets how long a new sandbox may take to show in
// Daytona's lists (default 2 s, or SANDAGENT_CONVERGENCE_WINDOW): an Attach
// whose create got no answer waits this long before it lists by its attach
// token to find what the create made.
func WithConvergenceWindow(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d < 0 {
			return invalid("convergence window %s: want 0 or more", d)
		}
		s.window = d
		return nil
	}
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
	hc := httpx.Traced(httpx.Client(s.hc), ProviderName, s.tp)
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
