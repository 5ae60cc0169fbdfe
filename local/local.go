//go:build unix

// Package local is the embedded default provider: sandboxes on this
// machine, with no account and no network. A sandbox survives the process
// that created it, so a program that attaches the same name again finds its
// files, and (if it was paused) its processes.
//
// Reuse rule: WithName attaches by name. The same name gives the same
// sandbox, across goroutines and across processes (a file lock serializes
// them): a running sandbox is Reused, a paused one Resumed, a stopped one
// Started. No name creates a new sandbox on every Attach. WithID reattaches
// by the id from Handle.ID and fails with ErrNotFound if it is gone.
//
// # What a local sandbox is
//
// On Linux, run as root, each sandbox has a filesystem root of its own, as
// a provider's VM or container has:
//
//   - Absolute paths mean what they mean in the sandbox, for the Handle's
//     file methods and for commands alike: Workdir and $HOME are
//     /home/user (WithHome), Cmd.Dir "/tmp" runs in its /tmp.
//   - Isolated: its /tmp (private to it), /dev/shm, and every write it
//     makes anywhere (/usr/local, /etc, ...): the host's root file system is
//     the lower layer of an overlay whose upper layer is the sandbox's, so
//     writes stay in the sandbox and the host never sees them. The
//     directory holding every sandbox's state is hidden from it. No
//     symlink leads the file methods out of it, even one a process of the
//     sandbox swaps during the call.
//   - Shared with the host: the rest of the host's root file system, read
//     through the overlay (so sh, python3 and the host's tools run), /dev,
//     /proc and /sys, the network, the process table and the user:
//     commands run as root, and a root process that means harm can reach
//     the host (mount, /proc/1/root). It isolates files, not a hostile
//     program. WithIsolation adds PID and network namespaces per command.
//   - Volumes (WithVolume) are host directories mounted at their paths.
//   - Its processes are in a cgroup of their own (under this process's
//     cgroup v2), which Pause freezes, Stop and Destroy kill: the cost grows
//     with the sandbox's processes, not the host's. A small init process
//     (a shell that sleeps) holds its mounts while it runs.
//
// Elsewhere (not root, macOS, no overlay, no writable cgroup v2) a sandbox
// runs in the confined-directory mode: its Workdir is a directory of this
// machine, absolute paths must lie inside it (the one exception: volumes,
// symlinked in), and a path that leaves it, lexically or through a symlink,
// is ErrInvalid, with an error that says the sandbox is confined.
// Processes run as the calling user and can reach the whole machine; /tmp
// is the host's. RootSupport tells which mode this machine gives and why,
// WithLogger logs it once per confined create, and WithConfinedDir asks
// for this mode anywhere. Unprivileged user namespaces are not used yet.
//
// In both modes processes run in their own process group, with a small
// environment (PATH, HOME=Workdir, SHELL, LANG, and SANDAGENT_SANDBOX_ID,
// the sandbox's id) plus WithEnv and Cmd.Env: the caller's environment,
// which may hold secrets, is not passed on. Their output is streamed to
// the process that started them; one that outlives it and writes output
// gets SIGPIPE. A command ends when its output ends: Exec waits for a
// background child that keeps stdout open (`server &`) until it exits;
// start one with Start, or redirect its output (`server >log 2>&1 &`), to
// leave it running.
//
// Lifecycle: Pause freezes every process (memory kept), Stop kills them
// (files kept), Destroy deletes the sandbox. WithTimeout stops (or with
// WithAutoPause, pauses) a sandbox that many seconds after its last Attach
// or SetTimeout; the check is lazy, made by the next operation on it from
// any process.
//
// Ports, terminals, forks: Handle.URL is http://127.0.0.1:<port>, as the
// processes share this machine's network (with WithIsolation they have a
// network of their own that nothing outside reaches, and URL fails with
// ErrUnsupported). StartPTY runs the command on a pseudo-terminal of this
// machine. Fork copies the work tree into new unnamed sandboxes (labelled
// as managed, and with sandagent.parent, the parent's id), and Snapshot
// into a snapshot that WithSnapshot creates sandboxes from: files, not
// processes. The copy is taken with the sandbox's processes stopped, so
// none is caught half-written by them; mounted volumes are shared, not
// copied.
//
// State lives under the directory given by WithDir, else
// $SANDAGENT_LOCAL_DIR, else os.UserCacheDir()/sandagent: sandboxes/<id>
// holds a sandbox's state file, its upper layer (fs/upper: every file it
// wrote), its /tmp (fs/tmp) or, confined, its work tree. Delete a sandbox
// with Handle.Destroy, Sandbox.Kill or `sandagent kill`, leaks with
// `sandagent reap`; deleting the directory by hand leaves running
// processes and cgroups behind, so destroy first. A creation cut short
// leaves either a sandbox that Managed lists or a hidden directory that
// the next listing removes.
//
// Handle.As offers nothing for local sandboxes.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "local"

// Sandbox is a local sandbox configuration. Attach may be called many
// times, from many goroutines.
type Sandbox struct {
	name, id  string
	dir       string
	env       map[string]string
	labels    map[string]string
	volumes   []engine.Volume
	timeout   time.Duration
	autoPause bool
	isolate   bool
	home      string
	confined  bool
	snapshot  string
	logger    *slog.Logger
	tp        trace.TracerProvider
	now       func() time.Time
}

// Option configures a Sandbox.
type Option func(*Sandbox) error

// WithName attaches by name: every Attach with the same name and directory
// gets the same sandbox. Names are 1 to 63 letters, digits, '.', '_' and
// '-', starting with a letter or digit.
func WithName(name string) Option {
	return func(s *Sandbox) error {
		if !namePattern().MatchString(name) {
			return sandagent.Errorf(sandagent.ErrInvalid, "name %q: want 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
		}
		s.name = name
		return nil
	}
}

// namePattern is compiled on first use: importing the package costs no init work.
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`) })

// WithID reattaches by the id that Handle.ID returned.
func WithID(id string) Option {
	return func(s *Sandbox) error {
		if id == "" {
			return sandagent.Errorf(sandagent.ErrInvalid, "empty id")
		}
		s.id = id
		return nil
	}
}

// WithDir sets the directory that holds the sandboxes (default
// $SANDAGENT_LOCAL_DIR, else os.UserCacheDir()/sandagent).
func WithDir(dir string) Option {
	return func(s *Sandbox) error {
		if dir == "" {
			return sandagent.Errorf(sandagent.ErrInvalid, "empty directory")
		}
		s.dir = dir
		return nil
	}
}

// WithEnv sets environment variables for every command of a sandbox this
// Attach creates.
func WithEnv(env map[string]string) Option {
	return func(s *Sandbox) (err error) {
		s.env, err = sandagent.AddEnv(s.env, env)
		return err
	}
}

// WithLabels adds labels to a sandbox this Attach creates. Every sandbox
// also carries sandagent.managed=true, and sandagent.name when named.
func WithLabels(labels map[string]string) Option {
	return func(s *Sandbox) error {
		for k, v := range labels {
			if s.labels == nil {
				s.labels = map[string]string{}
			}
			s.labels[k] = v
		}
		return nil
	}
}

// WithVolume mounts the host directory hostDir (created if missing) at
// mountPath, a path relative to the workdir such as "data". Its files
// outlive the sandbox.
func WithVolume(hostDir, mountPath string) Option {
	return func(s *Sandbox) error {
		abs, err := filepath.Abs(hostDir)
		if hostDir == "" || err != nil {
			return sandagent.Errorf(sandagent.ErrInvalid, "volume host directory %q is not a valid path", hostDir)
		}
		mp := filepath.Clean(mountPath)
		if mountPath == "" || filepath.IsAbs(mp) || mp == "." || mp == ".." || strings.HasPrefix(mp, "../") {
			return sandagent.Errorf(sandagent.ErrInvalid, "volume mount path %q: want a path relative to the workdir, such as \"data\"", mountPath)
		}
		s.volumes = append(s.volumes, engine.Volume{HostDir: abs, MountPath: mp})
		return nil
	}
}

// WithTimeout stops the sandbox d after its last Attach or SetTimeout
// (default: never). See WithAutoPause.
func WithTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d < 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "negative timeout %s", d)
		}
		s.timeout = d
		return nil
	}
}

// WithAutoPause makes the timeout pause the sandbox instead of stopping it,
// so the next Attach resumes it with its processes.
func WithAutoPause(on bool) Option {
	return func(s *Sandbox) error { s.autoPause = on; return nil }
}

// WithIsolation runs each command in its own PID, mount and network
// namespaces (no network but loopback, which is down). It needs Linux and
// either root or unprivileged user namespaces; elsewhere Attach fails with
// ErrUnsupported. Files are the sandbox's, as without it (see the package
// doc).
func WithIsolation() Option {
	return func(s *Sandbox) error { s.isolate = true; return nil }
}

// WithHome sets the workdir and $HOME of a sandbox this Attach creates, as
// its processes see it (default "/home/user"). It applies to sandboxes with
// a root of their own; a confined one's workdir is its directory.
func WithHome(dir string) Option {
	return func(s *Sandbox) error {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/" {
			return sandagent.Errorf(sandagent.ErrInvalid, "home %q: want a clean absolute path other than /", dir)
		}
		s.home = dir
		return nil
	}
}

// WithConfinedDir creates the sandbox in the confined-directory mode even
// where it could have a root of its own: its workdir is a directory of this
// machine, and paths must lie inside it (see the package doc).
func WithConfinedDir() Option {
	return func(s *Sandbox) error { s.confined = true; return nil }
}

// WithLogger logs every operation at debug level (default: no logging).
func WithLogger(l *slog.Logger) Option {
	return func(s *Sandbox) error { s.logger = l; return nil }
}

// WithTracerProvider traces Attach and the Handle's operations with tp
// (default: the global TracerProvider, a no-op until the program installs
// one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Sandbox) error { s.tp = tp; return nil }
}

// WithClock sets the time source for timeouts, for tests.
func WithClock(now func() time.Time) Option {
	return func(s *Sandbox) error { s.now = now; return nil }
}

// New returns a local Sandbox configuration. It does no I/O.
func New(opts ...Option) (*Sandbox, error) {
	s := &Sandbox{now: time.Now}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, wrap("new", err)
		}
	}
	if s.name != "" && s.id != "" {
		return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "WithName and WithID both given; choose one"))
	}
	if s.dir == "" {
		s.dir = os.Getenv("SANDAGENT_LOCAL_DIR")
	}
	if s.dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, wrap("new", sandagent.Errorf(sandagent.ErrInvalid, "no directory for sandboxes: %v; use WithDir or SANDAGENT_LOCAL_DIR", err))
		}
		s.dir = filepath.Join(cache, "sandagent")
	}
	return s, nil
}

func wrap(op string, err error) error {
	return sandagent.WrapError(ProviderName, op, err)
}

// Attach attaches to the configured sandbox, or creates it. See the package
// documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) {
	return sandagent.RunAttach(ctx, ProviderName, s.tp, s.attach)
}

func (s *Sandbox) attach(ctx context.Context) (*sandagent.Handle, error) {
	e, err := engine.Open(s.dir)
	if err != nil {
		return nil, err
	}
	switch {
	case s.id != "":
		sb, err := e.Get(s.id, s.now)
		if err != nil {
			return nil, err
		}
		return s.reconcile(sb)
	case s.name != "":
		unlock, err := e.LockName(ctx, s.name)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if id, err := e.LookupName(s.name); err == nil {
			sb, err := e.Get(id, s.now)
			if err == nil {
				return s.reconcile(sb)
			}
			if !errors.Is(err, sandagent.ErrNotFound) {
				return nil, err
			}
		} else if !errors.Is(err, sandagent.ErrNotFound) {
			return nil, err
		}
		return s.create(ctx, e)
	default:
		return s.create(ctx, e)
	}
}

func (s *Sandbox) create(ctx context.Context, e *engine.Engine) (*sandagent.Handle, error) {
	labels := map[string]string{"sandagent.managed": "true"}
	if s.name != "" {
		labels["sandagent.name"] = s.name
	}
	for k, v := range s.labels {
		labels[k] = v
	}
	sb, err := s.newSandbox(e, engine.Spec{
		Name: s.name, Env: s.env, Labels: labels, Volumes: s.volumes,
		Timeout: s.timeout, AutoPause: s.autoPause, Isolate: s.isolate,
		Home: s.home, Confined: s.confined,
	})
	if err != nil {
		return nil, err
	}
	if !sb.Rooted() && !s.confined && s.logger != nil {
		s.logger.Warn("local: "+e.RootSupport().Error(), "sandbox", sb.ID())
	}
	if s.name != "" {
		err = e.BindName(s.name, sb.ID())
	}
	if err == nil {
		err = ctx.Err() // a caller that gave up owns nothing: undo the create
	}
	if err != nil {
		_ = sb.Destroy()
		if s.name != "" {
			_ = e.UnbindName(s.name, sb.ID())
		}
		return nil, err
	}
	return s.handle(e, sb, sandagent.Created)
}

// reconcile brings an existing sandbox to running and says how.
func (s *Sandbox) reconcile(sb *engine.Sandbox) (*sandagent.Handle, error) {
	m, err := sb.Meta()
	if err != nil {
		return nil, err
	}
	if s.isolate && !m.Isolate {
		return nil, sandagent.Errorf(sandagent.ErrConflict, "sandbox %s was created without isolation; WithIsolation cannot add it", sb.ID())
	}
	var outcome sandagent.Outcome
	switch m.State {
	case engine.Running:
		outcome, err = sandagent.Reused, sb.Resume() // restarts the timeout
	case engine.Paused:
		outcome, err = sandagent.Resumed, sb.Resume()
	case engine.Stopped:
		outcome, err = sandagent.Started, sb.Start()
	default:
		err = fmt.Errorf("sandbox %s has unknown state %q", sb.ID(), m.State)
	}
	if err != nil {
		return nil, err
	}
	return s.handle(nil, sb, outcome)
}

func (s *Sandbox) handle(e *engine.Engine, sb *engine.Sandbox, outcome sandagent.Outcome) (*sandagent.Handle, error) {
	m, err := sb.Meta()
	if err != nil {
		return nil, err
	}
	if e == nil {
		if e, err = engine.Open(s.dir); err != nil {
			return nil, err
		}
	}
	vols := make([]sandagent.Volume, len(m.Volumes))
	for i, v := range m.Volumes {
		vols[i] = sandagent.Volume{Name: v.HostDir, MountPath: filepath.Join(sb.Workdir(), v.MountPath)}
	}
	return sandagent.NewHandle(&handle{e: e, sb: sb, name: m.Name}, sandagent.Attachment{
		Provider: ProviderName,
		ID:       sb.ID(),
		Name:     m.Name,
		Workdir:  sb.Workdir(),
		Volumes:  vols,
		Outcome:  outcome,
		Logger:   s.logger,
	}), nil
}
