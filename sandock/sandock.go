// Package sandock is the Sandock provider (https://sandock.ai): container
// sandboxes behind a JSON REST API under /api/v1, with Bearer-key auth and
// a {success, code, message, data} wrapper on every response.
//
// # Reuse rule
//
// Sandock sandboxes have no names; a caller reattaches by the id that
// Handle.ID returned, stored between requests (WithID).
//
//   - Without WithID, every Attach creates a new sandbox (create, then start).
//   - With WithID, Attach lists the sandboxes (the API has no
//     GET /api/v1/sandbox/{id}) and looks at that one's status. RUNNING: it
//     is reattached (Outcome Reused, same id). Anything else — STOPPED,
//     PAUSED, an expired one (its activeDeadlineSeconds passed, so it is
//     STOPPED), a deleted one (absent from the list), CREATING, ERROR or a
//     status this package does not know — is not restarted: Attach creates a
//     new sandbox (Outcome Created, a new ID) and the caller stores the new
//     id. The old one is left as it is.
//   - WithRestartStopped opts in to starting a STOPPED sandbox (Outcome
//     Started) or a PAUSED one (Outcome Resumed) instead.
//   - Fail closed: only a successful list without the id counts as "not
//     found". A 401/403, a 429, a 5xx or a network error on the status check
//     is returned and nothing is created.
//   - After replacing a sandbox, the Sandbox follows the new id, so later
//     Attach calls on the same *Sandbox reattach to the replacement.
//   - If Attach fails, or its ctx ends, after it created a sandbox, it deletes
//     that sandbox; it never deletes one it did not create.
//
// # Volumes
//
// WithVolume(name, mountPath) looks a volume up by name, creating it if
// missing (GET /api/v1/volume/name/{name}?create=true), then polls it
// (GET /api/v1/volume/{id}, backoff from 100 ms to 2 s) until its status is
// "ready", for at most WithVolumeTimeout (default 60 s) and never past the
// ctx. This happens on both paths: on create the volumes are mounted
// through CreateSandboxRequest.volumes; on reattach (and restart) they are
// resolved so Handle.Volumes reports them. The API cannot mount a volume
// into an existing sandbox nor list a sandbox's mounts, so on reattach the
// only check possible is by date: a volume created after the sandbox
// cannot be mounted in it, and Attach then fails with ErrConflict rather
// than hand back a sandbox without it. Volumes are never deleted by this
// package, not even when Attach fails after creating one.
//
// # Commands
//
// Exec runs through POST /api/v1/sandbox/{id}/shell/stream, an SSE stream
// of stdout, stderr, exit and error events ended by [DONE]: output reaches
// Cmd.Stdout and Cmd.Stderr live and separately, and the exit code comes
// from the exit event (a null exit code, a process killed by a signal, is
// -1). Cmd.Dir and Cmd.Env go in the request's workdir and env fields; Args
// are quoted into the command line with POSIX shell quoting. Cmd.Timeout is
// sent as timeoutMs; a command without one gets WithExecTimeout (default
// 30 min), since the service applies its own default (30 s) otherwise.
// Stdin is fed from /dev/null. The stream carries no keepalive, so a
// stalled stream cannot be told from a quiet command: it ends with the ctx,
// Cmd.Timeout or that server-side timeout, and a stream that breaks is an
// error, never a short result.
//
// The API has no kill or signal endpoint. The command line therefore
// starts by printing its process id to stderr (a line this package removes
// from the output), and Process.Signal, a Cmd.Timeout or the end of the
// ctx send `kill` through the blocking shell endpoint: to the process group
// if the process leads one, else to the process.
//
// Cmd.Stdin is not supported (ErrUnsupported): the API takes stdin only as
// one string (ShellRequest.input) sent before the command runs, which can
// neither stream nor carry an interactive conversation. Output travels as
// JSON strings, so bytes of output that are not valid UTF-8 arrive as
// U+FFFD; use files for binary data.
//
// # Files
//
// The fs endpoints take and return file contents as strings, which cannot
// carry arbitrary bytes, and fs/list returns names only. So every file
// operation runs through the blocking shell endpoint instead, binary-safe
// through base64. Contents move in pieces of 4 MiB, one shell call each, so
// memory stays bounded whatever the file's size, and a file of n bytes
// costs max(1, ceil(n / 4 MiB)) requests (one for an empty file):
//
//   - NewReader's first call checks the path and returns the file's size
//     and mtime (`stat`) and its first piece (`head -c | base64`); the
//     reader fetches each next piece (`tail -c +OFFSET | head -c`) when its
//     consumer has read the one before, with the ctx given to NewReader,
//     and fails with ErrConflict if the size or mtime has changed since.
//   - WriteFrom sends the base64 text of each piece as the shell request's
//     input to `base64 -d`. Content of one piece goes to a temporary file
//     renamed over the target once its byte count is checked. Bigger
//     content is read one piece at a time: the first call creates a
//     temporary file beside the target, the next ones append to it (each
//     checking the byte count so far, and skipping a piece already in, so
//     that a retried call does not append twice), and the last renames it
//     over the target. A failed upload leaves the target as it was and
//     makes one more call to remove its temporary file.
//
// Parents are created on write. Stat and ListDir run `stat` (GNU
// coreutils); MakeDir `mkdir -p`; Remove `rm -rf` after checking the path
// exists. The sandbox image must have a POSIX shell, base64, head, tail
// and GNU stat, as sandockai/sandock-code has.
// Relative paths resolve against the sandbox's working directory, learnt
// by running `pwd` on first need (one request, not made by Attach).
//
// # Lifecycle and errors
//
// Stop is POST .../stop; the next Attach then creates a new sandbox (or,
// with WithRestartStopped, starts this one). Destroy is DELETE
// /api/v1/sandbox/{id}; a sandbox that is already gone is not an error.
// State maps RUNNING, STOPPED, PAUSED, CREATING, ERROR and DELETING/DELETED
// to sandagent's states; a sandbox absent from the list is "destroyed".
// Pause and SetTimeout are unsupported: the API has no pause endpoint, and
// activeDeadlineSeconds is set at create only (WithActiveDeadline).
//
// Failures are *sandagent.Error values classified by HTTP status, or by
// the wrapper's code when a 2xx response says success=false; the message is
// the wrapper's. A 409 is ErrState (the sandbox is not running). GETs and
// the idempotent POSTs (start, stop, and the file commands but Remove) are
// retried on 429/502/503/504 and connection errors, at most WithRetries
// times; commands, signals and creates never are (Sandock has no
// idempotency key on create). Should a create fail ambiguously (the connection
// dropped after the service acted), the sandbox it may have made cannot be
// found again — the list carries no title or label — and is left to its
// deadline and auto-delete interval.
//
// Sandock has no labels or metadata on sandboxes, so there is no
// WithLabels: every sandbox this package creates gets the title
// "sandagent" (WithTitle changes it) so it can be told apart in the
// dashboard.
//
// # Listing and reaping
//
// Sandbox implements sandagent.Manager. Managed lists (one GET
// /api/v1/sandbox: the API does not page) the sandboxes whose title is the
// configuration's title: that title is the only mark this package can
// leave, so a sandbox someone else titled "sandagent" is listed too. The
// documented list item carries no title; when the service does not report
// one, Managed fails with ErrUnsupported rather than guess. Kill is DELETE
// /api/v1/sandbox/{id}; a 404 is success. sandagent.FromURL("sandock://")
// gives a configuration for both.
//
// Handle.As offers **resty.Client: the configured client (base URL and
// Authorization header set), for endpoints this package does not wrap
// such as /code or /coding/run.
package sandock

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "sandock"

// DefaultBaseURL is the API's address when neither WithBaseURL nor
// SANDOCK_BASE_URL is set.
const DefaultBaseURL = "https://sandock.ai"

// DefaultImage is the image of the sandboxes Attach creates, unless
// WithImage says otherwise.
const DefaultImage = "sandockai/sandock-code:latest"

// Sandbox is a Sandock sandbox configuration. Attach may be called many
// times, from many goroutines; calls on one Sandbox are serialized.
type Sandbox struct {
	mu sync.Mutex // serializes Attach and guards id
	id string

	image          string
	title          string
	restartStopped bool
	volumes        []volumeSpec
	memoryMB       int
	cpuShares      int
	env            map[string]string
	deadline       time.Duration
	execTimeout    time.Duration
	volumeTimeout  time.Duration

	apiKey     string
	baseURL    string
	httpClient *http.Client
	retries    int
	logger     *slog.Logger
	tp         trace.TracerProvider
	api        *client
	piece      int // bytes of a file per shell call; 0 means defaultPiece
}

type volumeSpec struct{ name, mountPath string }

// Option configures a Sandbox.
type Option func(*Sandbox) error

// WithID reattaches to the sandbox with this id (the value Handle.ID
// returned), if it is running; see the package documentation.
func WithID(id string) Option {
	return func(s *Sandbox) error {
		if id == "" || strings.ContainsAny(id, "/?#") {
			return sandagent.Errorf(sandagent.ErrInvalid, "sandbox id %q is not valid", id)
		}
		s.id = id
		return nil
	}
}

// WithImage sets the image of sandboxes Attach creates (default
// DefaultImage).
func WithImage(image string) Option {
	return func(s *Sandbox) error {
		if strings.TrimSpace(image) == "" {
			return sandagent.Errorf(sandagent.ErrInvalid, "empty image")
		}
		s.image = image
		return nil
	}
}

// WithTitle sets the title of sandboxes Attach creates (default
// "sandagent").
func WithTitle(title string) Option {
	return func(s *Sandbox) error { s.title = title; return nil }
}

// WithRestartStopped makes Attach start a STOPPED sandbox (Outcome Started)
// or a PAUSED one (Outcome Resumed) given by WithID, instead of creating a
// new one. Off by default.
func WithRestartStopped() Option {
	return func(s *Sandbox) error { s.restartStopped = true; return nil }
}

// WithVolume mounts the volume called name at mountPath, an absolute path
// in the sandbox such as "/workspace/data". The volume is created if
// missing and waited for until ready. It may be given many times, one
// volume per mount path.
func WithVolume(name, mountPath string) Option {
	return func(s *Sandbox) error {
		if strings.TrimSpace(name) == "" {
			return sandagent.Errorf(sandagent.ErrInvalid, "empty volume name")
		}
		if !path.IsAbs(mountPath) || path.Clean(mountPath) == "/" {
			return sandagent.Errorf(sandagent.ErrInvalid, "volume %q: mount path %q must be an absolute path other than /", name, mountPath)
		}
		mp := path.Clean(mountPath)
		for _, v := range s.volumes {
			if v.mountPath == mp {
				return sandagent.Errorf(sandagent.ErrInvalid, "volumes %q and %q both mount at %s", v.name, name, mp)
			}
		}
		s.volumes = append(s.volumes, volumeSpec{name: name, mountPath: mp})
		return nil
	}
}

// WithMemory limits the memory of sandboxes Attach creates, in megabytes
// (the API's memoryLimitMb). Default: the service's.
func WithMemory(megabytes int) Option {
	return func(s *Sandbox) error {
		if megabytes <= 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "memory %d MB is not positive", megabytes)
		}
		s.memoryMB = megabytes
		return nil
	}
}

// WithCPU sets the CPU shares of sandboxes Attach creates (the API's
// cpuShares: a relative weight, as Docker's --cpu-shares, where 1024 is
// one default share; not a number of CPUs). Default: the service's.
func WithCPU(shares int) Option {
	return func(s *Sandbox) error {
		if shares <= 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "CPU shares %d is not positive", shares)
		}
		s.cpuShares = shares
		return nil
	}
}

// WithEnv sets environment variables of sandboxes Attach creates (sent at
// create, so the container's entrypoint sees them too).
func WithEnv(env map[string]string) Option {
	return func(s *Sandbox) (err error) {
		s.env, err = sandagent.AddEnv(s.env, env)
		return err
	}
}

// WithActiveDeadline sets how long sandboxes Attach creates may run before
// Sandock stops them (the API's activeDeadlineSeconds: whole seconds, at
// most 24 h; the service's default is 30 min). It applies on Kubernetes
// deployments of Sandock.
func WithActiveDeadline(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 || d%time.Second != 0 || d > 24*time.Hour {
			return sandagent.Errorf(sandagent.ErrInvalid, "active deadline %s: want whole seconds, from 1s to 24h", d)
		}
		s.deadline = d
		return nil
	}
}

// WithExecTimeout sets the server-side time limit (timeoutMs) of commands
// whose Cmd.Timeout is zero (default 30 min).
func WithExecTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d < time.Millisecond {
			return sandagent.Errorf(sandagent.ErrInvalid, "exec timeout %s is shorter than 1ms", d)
		}
		s.execTimeout = d
		return nil
	}
}

// WithVolumeTimeout bounds the wait for a volume to become ready (default
// 60 s).
func WithVolumeTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "volume timeout %s is not positive", d)
		}
		s.volumeTimeout = d
		return nil
	}
}

// WithAPIKey sets the API key, sent as "Authorization: Bearer <key>"
// (default $SANDOCK_API_KEY).
func WithAPIKey(key string) Option {
	return func(s *Sandbox) error {
		if key == "" {
			return sandagent.Errorf(sandagent.ErrAuth, "empty API key")
		}
		s.apiKey = key
		return nil
	}
}

// WithBaseURL sets the API's address (default $SANDOCK_BASE_URL, else
// DefaultBaseURL).
func WithBaseURL(u string) Option {
	return func(s *Sandbox) error {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return sandagent.Errorf(sandagent.ErrInvalid, "base URL %q: want http:// or https://", u)
		}
		s.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client (default: one with keep-alive
// connections, shared by everything this Sandbox attaches).
func WithHTTPClient(c *http.Client) Option {
	return func(s *Sandbox) error {
		if c == nil {
			return sandagent.Errorf(sandagent.ErrInvalid, "nil HTTP client")
		}
		s.httpClient = c
		return nil
	}
}

// WithRetries sets how many times an idempotent request is retried on
// 429, 502, 503, 504 and connection errors (default 3; 0 disables).
func WithRetries(n int) Option {
	return func(s *Sandbox) error {
		if n < 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "negative retries %d", n)
		}
		s.retries = n
		return nil
	}
}

// WithTracerProvider traces Attach, the Handle's operations and each HTTP
// request with tp (default: the global TracerProvider, a no-op until the
// program installs one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Sandbox) error { s.tp = tp; return nil }
}

// WithLogger logs requests and operations at debug level, and replacements
// of sandboxes at info level (default: no logging). API keys are never
// logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Sandbox) error { s.logger = l; return nil }
}

// New returns a Sandock Sandbox configuration. It does no I/O. Without an
// API key (WithAPIKey or $SANDOCK_API_KEY) it fails with ErrAuth.
func New(opts ...Option) (*Sandbox, error) {
	s := &Sandbox{
		image:         DefaultImage,
		title:         "sandagent",
		execTimeout:   30 * time.Minute,
		volumeTimeout: 60 * time.Second,
		retries:       3,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, wrap("new", err)
		}
	}
	if s.apiKey == "" {
		s.apiKey = os.Getenv("SANDOCK_API_KEY")
	}
	if s.apiKey == "" {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrAuth, "no API key: set SANDOCK_API_KEY or use WithAPIKey"))
	}
	if s.baseURL == "" {
		if env := os.Getenv("SANDOCK_BASE_URL"); env != "" {
			if err := WithBaseURL(env)(s); err != nil {
				return nil, wrap("new", err)
			}
		} else {
			s.baseURL = DefaultBaseURL
		}
	}
	retries := s.retries
	if retries == 0 {
		retries = -1 // httpx: negative means none
	}
	s.api = &client{
		rc: httpx.NewClient(httpx.Options{
			Provider:   ProviderName,
			BaseURL:    s.baseURL,
			HTTPClient: httpx.Traced(s.httpClient, ProviderName, s.tp),
			Logger:     s.logger,
			Header:     map[string]string{"Authorization": "Bearer " + s.apiKey},
			UserAgent:  "sandagent-go",
			Retries:    retries,
		}),
		key: s.apiKey,
	}
	return s, nil
}

func wrap(op string, err error) error {
	return sandagent.WrapError(ProviderName, op, err)
}

// Attach reattaches to the sandbox given by WithID if it is running, or
// creates one. See the package documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) {
	return sandagent.RunAttach(ctx, ProviderName, s.tp, func(ctx context.Context) (*sandagent.Handle, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.attach(ctx)
	})
}

func (s *Sandbox) attach(ctx context.Context) (*sandagent.Handle, error) {
	if s.id == "" {
		return s.create(ctx)
	}
	item, err := s.api.find(ctx, s.id)
	if err != nil {
		return nil, err // fail closed: an unanswered status check creates nothing
	}
	status := "absent"
	if item != nil {
		status = item.Status
	}
	switch {
	case status == "RUNNING":
		return s.reattach(ctx, item, sandagent.Reused)
	case s.restartStopped && status == "STOPPED":
		return s.reattach(ctx, item, sandagent.Started)
	case s.restartStopped && status == "PAUSED":
		return s.reattach(ctx, item, sandagent.Resumed)
	}
	s.log(ctx).LogAttrs(ctx, slog.LevelInfo, "sandock: sandbox not running; creating a new one",
		slog.String("sandbox", s.id), slog.String("status", status))
	h, err := s.create(ctx)
	if err != nil {
		return nil, err
	}
	s.id = h.ID() // follow the replacement
	return h, nil
}

// reattach attaches to an existing sandbox, starting it unless outcome is
// Reused.
func (s *Sandbox) reattach(ctx context.Context, item *sandboxItem, outcome sandagent.Outcome) (*sandagent.Handle, error) {
	vols, err := s.resolveVolumes(ctx)
	if err != nil {
		return nil, err
	}
	created := parseTime(item.CreatedAt)
	for i, v := range vols {
		if vc := parseTime(v.CreatedAt); !created.IsZero() && vc.After(created) {
			return nil, sandagent.Errorf(sandagent.ErrConflict,
				"volume %q was created after sandbox %s, so it is not mounted there (the API cannot mount into an existing sandbox); destroy the sandbox or drop WithVolume",
				s.volumes[i].name, item.ID)
		}
	}
	if outcome != sandagent.Reused {
		// A 2xx start means running ("started or reused"), whatever its
		// started flag says.
		if err := s.api.start(ctx, item.ID); err != nil {
			return nil, err
		}
	}
	return s.handle(item.ID, vols, outcome), nil
}

// create makes a new sandbox: volumes, create, start. It deletes the
// sandbox again if a later step fails or ctx ends.
func (s *Sandbox) create(ctx context.Context) (*sandagent.Handle, error) {
	vols, err := s.resolveVolumes(ctx)
	if err != nil {
		return nil, err
	}
	req := createRequest{
		Image:                 s.image,
		Title:                 s.title,
		Env:                   s.env,
		MemoryLimitMb:         s.memoryMB,
		CPUShares:             s.cpuShares,
		ActiveDeadlineSeconds: int(s.deadline / time.Second),
	}
	for i, v := range vols {
		req.Volumes = append(req.Volumes, volumeMount{VolumeID: v.ID, MountPath: s.volumes[i].mountPath})
	}
	id, err := s.api.create(ctx, req)
	if err != nil {
		return nil, err
	}
	err = s.api.start(ctx, id)
	if err == nil {
		err = ctx.Err() // a caller that gave up owns nothing
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := s.api.remove(dctx, id); derr != nil && !errors.Is(derr, sandagent.ErrNotFound) {
			s.log(ctx).LogAttrs(ctx, slog.LevelWarn, "sandock: could not delete the sandbox of a failed attach",
				slog.String("sandbox", id), slog.String("err", derr.Error()))
		}
		return nil, err
	}
	return s.handle(id, vols, sandagent.Created), nil
}

func (s *Sandbox) handle(id string, vols []volumeInfo, outcome sandagent.Outcome) *sandagent.Handle {
	h := &handle{api: s.api, id: id, execTimeout: s.execTimeout, piece: s.piece}
	av := make([]sandagent.Volume, len(vols))
	for i := range vols {
		av[i] = sandagent.Volume{Name: s.volumes[i].name, MountPath: s.volumes[i].mountPath}
	}
	return sandagent.NewHandle(h, sandagent.Attachment{
		Provider:      ProviderName,
		ID:            id,
		LookupWorkdir: h.lookupWorkdir,
		Volumes:       av,
		Outcome:       outcome,
		Logger:        s.logger,
	})
}

func (s *Sandbox) log(context.Context) *slog.Logger {
	if s.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.logger
}

// resolveVolumes gets (or creates) every configured volume and waits until
// each is ready.
func (s *Sandbox) resolveVolumes(ctx context.Context) ([]volumeInfo, error) {
	out := make([]volumeInfo, 0, len(s.volumes))
	for _, spec := range s.volumes {
		v, err := s.api.volumeByName(ctx, spec.name)
		if err != nil {
			return nil, err
		}
		if v, err = s.waitReady(ctx, v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// waitReady polls v until it is ready, with a backoff from 100 ms to 2 s,
// for at most the volume timeout.
func (s *Sandbox) waitReady(ctx context.Context, v volumeInfo) (volumeInfo, error) {
	deadline := time.Now().Add(s.volumeTimeout)
	delay := 100 * time.Millisecond
	for {
		switch v.Status {
		case "ready":
			return v, nil
		case "error", "deleting", "deleted":
			return v, sandagent.Errorf(sandagent.ErrState, "volume %q is %s", v.Name, v.Status)
		}
		wait := min(delay, time.Until(deadline))
		if wait <= 0 {
			return v, sandagent.Errorf(sandagent.ErrTimeout, "volume %q not ready after %s (status %q)", v.Name, s.volumeTimeout, v.Status)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
		var err error
		if v, err = s.api.volume(ctx, v.ID); err != nil {
			return v, err
		}
	}
}
