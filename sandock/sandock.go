package sandock

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
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

// DefaultWorkdir is the working directory of sandboxes on the service's
// Docker and Kubernetes providers, where commands start and relative paths
// resolve. Handle.Workdir reports the sandbox's own, learnt with `pwd`.
const DefaultWorkdir = "/sandbox"

// DefaultDeadline is the activeDeadlineSeconds Attach sends when
// WithActiveDeadline is not given: the service's own default, made
// explicit.
const DefaultDeadline = 30 * time.Minute

// DefaultExecTimeout is the time limit of a command whose Cmd.Timeout is
// zero, unless WithExecTimeout says otherwise (the service's own default,
// 10 s, would cut most agent commands short).
const DefaultExecTimeout = 30 * time.Minute

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

// WithRestartStopped makes Attach start a STOPPED or PAUSED sandbox given
// by WithID (Outcome Started) instead of creating a new one. Off by
// default. Sandock keeps nothing of a stopped sandbox but its volumes: the
// restarted one has the same id and volumes, and none of the files or
// processes it had elsewhere.
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

// WithCPU sets the cpuShares of sandboxes Attach creates. On the service's
// Kubernetes provider (the hosted one) it is a CPU limit in millicores
// (256: a quarter of a CPU); on its Docker provider a relative weight, as
// Docker's --cpu-shares. Default: the service's (500m; 256 shares).
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

// WithActiveDeadline sets how long sandboxes Attach creates may run, from
// their last start, before Sandock stops them (the API's
// activeDeadlineSeconds: whole seconds, at most 24 h; default
// DefaultDeadline). The sandbox's keep-alive process lasts as long, so the
// deadline, not the service's one-hour default process, ends it.
func WithActiveDeadline(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 || d%time.Second != 0 || d > 24*time.Hour {
			return sandagent.Errorf(sandagent.ErrInvalid, "active deadline %s: want whole seconds, from 1s to 24h", d)
		}
		s.deadline = d
		return nil
	}
}

// WithExecTimeout sets the time limit of commands whose Cmd.Timeout is
// zero (default DefaultExecTimeout).
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
		execTimeout:   DefaultExecTimeout,
		deadline:      DefaultDeadline,
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
		return s.reattach(ctx, item.ID, sandagent.Reused)
	case s.restartStopped && (status == "STOPPED" || status == "PAUSED"):
		return s.reattach(ctx, item.ID, sandagent.Started)
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
// Reused. The API cannot list a sandbox's mounts: the configured volumes
// are resolved (created if missing, waited for) and reported, not checked.
func (s *Sandbox) reattach(ctx context.Context, id string, outcome sandagent.Outcome) (*sandagent.Handle, error) {
	vols, err := s.resolveVolumes(ctx)
	if err != nil {
		return nil, err
	}
	if outcome != sandagent.Reused {
		if err := s.api.start(ctx, id); err != nil {
			return nil, err
		}
	}
	return s.handle(id, vols, outcome), nil
}

// create makes a new sandbox: volumes, then one create, which starts it.
// It deletes the sandbox again if ctx has ended meanwhile.
func (s *Sandbox) create(ctx context.Context) (*sandagent.Handle, error) {
	vols, err := s.resolveVolumes(ctx)
	if err != nil {
		return nil, err
	}
	secs := int(s.deadline / time.Second)
	req := createRequest{
		Image:                 s.image,
		Title:                 s.title,
		Env:                   s.env,
		MemoryLimitMb:         s.memoryMB,
		CPUShares:             s.cpuShares,
		ActiveDeadlineSeconds: secs,
		Command:               []string{"sleep", strconv.Itoa(secs)},
	}
	for i, v := range vols {
		req.Volumes = append(req.Volumes, volumeMount{VolumeID: v.ID, MountPath: s.volumes[i].mountPath})
	}
	id, err := s.api.create(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // a caller that gave up owns nothing
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := s.api.remove(dctx, "destroy", id); derr != nil {
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
