//go:build unix

// Package engine runs sandboxes on this machine. A sandbox is its files,
// the processes started in it, and a state file that any process on the
// machine can read and change under a file lock.
//
// Where it can (Linux, root, an overlay file system, a writable cgroup v2:
// Engine.RootSupport), a sandbox has a filesystem root of its own: an
// overlay of the host's root with the sandbox's upper directory, a private
// /tmp, volumes at their mount paths, in a mount namespace held by a small
// init process (a sleeping shell) and pivoted into. Commands join that
// namespace; the file methods walk its root through /proc/<init>/root
// with os.Root, so no symlink leads out, swapped or not. Its processes,
// init included, live in a cgroup of their own, which Pause freezes and
// Stop and Destroy kill. A stopped sandbox's init is started again on first
// use. Elsewhere, or with Spec.Confined, a sandbox is confined to a work
// directory of the host (Workdir), and paths are host paths inside it.
//
// The local provider is a thin layer over it, and so are the emulators of
// the remote providers: they keep their own bookkeeping (ids, metadata,
// wire formats) and run commands and files here, for real.
//
// Layout under the root directory:
//
//	sandboxes/<id>/meta.json   the Meta, replaced atomically
//	sandboxes/<id>/lock        flock: shared to start a process, exclusive to change state
//	sandboxes/<id>/procs/<pid> one file per live process group (confined)
//	sandboxes/<id>/work/       the work tree (confined: Workdir)
//	sandboxes/<id>/fs/         upper, work, root, tmp: the overlay's layers (rooted)
//	sandboxes/<id>/init        "<pid> <start time>" of the init (rooted)
//	sandboxes/.new-<id>-*      a sandbox being created, renamed into place when complete
//	sandboxes/.new-<id>-*.lock locked by its maker: List sweeps the pair once it is not
//	names/<name>               the id a name is bound to
//	names/<name>.lock          flock held while a name is attached
package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/keylock"
)

// The sandbox states the engine knows.
const (
	Running = string(sandagent.StateRunning)
	Paused  = string(sandagent.StatePaused)
	Stopped = string(sandagent.StateStopped)
)

// Engine manages the sandboxes under one root directory. Use one Engine per
// root in a process (Open returns the shared one); Engines in different
// processes coordinate through file locks.
type Engine struct {
	root  string
	names keylock.Map

	rootOnce sync.Once
	rootErr  error // why sandboxes get no root of their own; nil: they do
}

var (
	enginesMu sync.Mutex
	engines   = map[string]*Engine{}
)

// Open returns the Engine for root, creating the directory if needed.
func Open(root string) (*Engine, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e := engines[abs]; e != nil {
		return e, nil
	}
	for _, d := range []string{"sandboxes", "names"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	e := &Engine{root: abs}
	engines[abs] = e
	return e, nil
}

// Root returns the engine's root directory.
func (e *Engine) Root() string { return e.root }

// Clock is the source of the current time for timeouts.
type Clock func() time.Time

// Volume is a host directory mounted into a sandbox.
type Volume struct {
	HostDir string `json:"hostDir"` // absolute
	// MountPath is clean, without "..": relative to the workdir, or, in a
	// sandbox with a root of its own, absolute.
	MountPath string `json:"mountPath"`
}

// Spec is what Create makes.
type Spec struct {
	ID        string            // empty: a new random id
	Name      string            // informative; names are bound with BindName
	Env       map[string]string // the sandbox's environment, added to the base one
	Labels    map[string]string
	Volumes   []Volume
	Timeout   time.Duration // 0: never times out
	AutoPause bool          // on timeout pause instead of stop
	Isolate   bool          // run processes in their own PID, mount and network namespaces
	// Home is the workdir and $HOME as the sandbox sees it when it has a
	// root of its own (default "/home/user").
	Home string
	// Confined asks for the confined-directory mode even where a root of
	// its own is possible.
	Confined bool
	// MarkerVar names the environment variable by which the sandbox's
	// processes are known (its value is the sandbox's id); empty:
	// MarkerVar. An emulator whose sandboxes carry their id in a variable
	// of their own (E2B_SANDBOX_ID) names it, so that no other leaks in.
	MarkerVar string
}

// Meta is a sandbox's persistent state.
type Meta struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	State     string            `json:"state"`
	CreatedAt time.Time         `json:"createdAt"`
	EndAt     time.Time         `json:"endAt,omitzero"`
	Timeout   time.Duration     `json:"timeout,omitempty"`
	AutoPause bool              `json:"autoPause,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Volumes   []Volume          `json:"volumes,omitempty"`
	Isolate   bool              `json:"isolate,omitempty"`
	MarkerVar string            `json:"markerVar,omitempty"`
	// Rooted: the sandbox has a filesystem root of its own, with Home as
	// its workdir, and its processes in Cgroup.
	Rooted bool   `json:"rooted,omitempty"`
	Home   string `json:"home,omitempty"`
	Cgroup string `json:"cgroup,omitempty"`
}

// DefaultHome is a rooted sandbox's workdir unless Spec.Home says otherwise.
const DefaultHome = "/home/user"

// RootSupport reports why sandboxes created here get no filesystem root of
// their own (nil: they do), for logs and docs: the one line that says which
// mode is in use.
func (e *Engine) RootSupport() error {
	if err := e.probeRoot(); err != nil {
		return rootErr(err)
	}
	return nil
}

// idPattern is compiled on first use: importing a provider costs no init work.
var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`) })

// NewID returns a random id: "sb-" and 20 lowercase letters and digits.
func NewID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "sb-" + string(b)
}

// Create makes a new running sandbox. It is built in a hidden directory
// and renamed into place when its state file is written, so a creation cut
// short at any moment leaves either nothing that List does not sweep, or a
// sandbox that List shows (its root is made again on first use).
func (e *Engine) Create(spec Spec, now Clock) (*Sandbox, error) {
	return e.create(spec, now, nil)
}

// create is Create; fill, if not nil, fills the files of the sandbox being
// made in dir (its directory, not yet in place) before its init starts.
func (e *Engine) create(spec Spec, now Clock, fill func(dir string, m Meta) error) (*Sandbox, error) {
	id := spec.ID
	if id == "" {
		id = NewID()
	}
	if !idPattern().MatchString(id) {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "sandbox id %q: want letters, digits, '-' and '_'", id)
	}
	if spec.Isolate {
		if err := isolationSupported(); err != nil {
			return nil, err
		}
	}
	if now == nil {
		now = time.Now
	}
	m := Meta{
		ID: id, Name: spec.Name, State: Running, CreatedAt: now(),
		Timeout: spec.Timeout, AutoPause: spec.AutoPause,
		Env: spec.Env, Labels: spec.Labels, Volumes: spec.Volumes, Isolate: spec.Isolate,
		MarkerVar: spec.MarkerVar,
	}
	if spec.Timeout > 0 {
		m.EndAt = m.CreatedAt.Add(spec.Timeout)
	}
	if !spec.Confined && e.probeRoot() == nil {
		m.Rooted, m.Home = true, cmpOr(spec.Home, DefaultHome)
		if !filepath.IsAbs(m.Home) || filepath.Clean(m.Home) != m.Home || m.Home == "/" {
			return nil, sandagent.Errorf(sandagent.ErrInvalid, "home %q: want a clean absolute path other than /", m.Home)
		}
		var err error
		if m.Cgroup, err = cgroupFor(e.root, id); err != nil {
			return nil, err
		}
	}
	for _, v := range spec.Volumes {
		if filepath.IsAbs(v.MountPath) && !m.Rooted {
			return nil, sandagent.Errorf(sandagent.ErrInvalid, "volume mount path %q: a confined sandbox takes paths relative to its workdir", v.MountPath)
		}
	}
	final := filepath.Join(e.root, "sandboxes", id)
	if _, err := os.Lstat(final); err == nil {
		return nil, sandagent.Errorf(sandagent.ErrConflict, "sandbox %s already exists", id)
	}
	tmp, unstage, err := e.stage(".new-" + id + "-")
	if err != nil {
		return nil, err
	}
	defer unstage()
	unlock, err := lockFile(filepath.Join(tmp, "lock"), true)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	defer unlock()
	sb := e.sandbox(id, now)
	sb.dir = tmp
	sb.setMode(m)
	if err := sb.init(m); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	if fill != nil {
		if err := fill(tmp, m); err != nil {
			_ = os.RemoveAll(tmp)
			return nil, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			return nil, sandagent.Errorf(sandagent.ErrConflict, "sandbox %s already exists", id)
		}
		return nil, err
	}
	sb.dir = final
	if !m.Rooted {
		sb.work = filepath.Join(final, "work")
	} else if _, err := sb.startInit(m); err != nil {
		unlock()
		_ = sb.Destroy()
		return nil, err
	}
	return sb, nil
}

func (sb *Sandbox) init(m Meta) error {
	dirs := []string{filepath.Join(sb.dir, "work"), filepath.Join(sb.dir, "procs")}
	if m.Rooted {
		dirs = []string{filepath.Join(sb.dir, "procs")}
		for _, d := range []string{"upper", "work", "root", "tmp"} {
			dirs = append(dirs, filepath.Join(sb.dir, "fs", d))
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if m.Rooted {
		if err := os.Chmod(filepath.Join(sb.dir, "fs", "tmp"), 0o1777); err != nil {
			return err
		}
	}
	for _, v := range m.Volumes {
		if err := os.MkdirAll(v.HostDir, 0o755); err != nil {
			return fmt.Errorf("volume %s: %w", v.HostDir, err)
		}
		if m.Rooted {
			continue // mounted by the init
		}
		link := filepath.Join(sb.dir, "work", v.MountPath)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(v.HostDir, link); err != nil {
			return fmt.Errorf("mount volume %s at %s: %w", v.HostDir, v.MountPath, err)
		}
	}
	return sb.writeMeta(m)
}

// Get returns the sandbox with id. A sandbox that does not exist is
// ErrNotFound.
func (e *Engine) Get(id string, now Clock) (*Sandbox, error) {
	if !idPattern().MatchString(id) {
		return nil, sandagent.Errorf(sandagent.ErrNotFound, "sandbox %q not found", id)
	}
	sb := e.sandbox(id, now)
	m, err := sb.readMeta()
	if err != nil {
		return nil, err
	}
	sb.setMode(m)
	return sb, nil
}

// setMode makes sb a rooted sandbox if m says it is.
func (sb *Sandbox) setMode(m Meta) {
	if m.Rooted {
		sb.rooted, sb.work = true, m.Home
	}
}

// List returns the metadata of every sandbox.
func (e *Engine) List(now Clock) ([]Meta, error) {
	ents, err := os.ReadDir(filepath.Join(e.root, "sandboxes"))
	if err != nil {
		return nil, err
	}
	var out []Meta
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".") {
			e.sweep(ent.Name())
			continue
		}
		sb, err := e.Get(ent.Name(), now)
		if err != nil {
			continue // half-created or half-destroyed
		}
		m, err := sb.Meta()
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// stage makes a hidden directory under sandboxes/ for a sandbox being made
// (or a probe), named prefix and a random suffix. A lock file beside it,
// made first, stays locked until unlock; List sweeps a staged directory
// whose maker died (sweep).
func (e *Engine) stage(prefix string) (dir string, unlock func(), err error) {
	base := filepath.Join(e.root, "sandboxes")
	for {
		name := prefix + NewID()[3:]
		lock := filepath.Join(base, name+".lock")
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_RDWR|syscall.O_CLOEXEC, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return "", nil, err
		}
		// A sweeper may have taken the file for a dead maker's before the lock.
		held, _ := f.Stat()
		if now, err := os.Stat(lock); err != nil || !os.SameFile(held, now) {
			f.Close()
			continue
		}
		dir = filepath.Join(base, name)
		unlock = func() { _ = os.Remove(lock); _ = f.Close() }
		if err := os.Mkdir(dir, 0o755); err != nil {
			unlock()
			return "", nil, err
		}
		return dir, unlock, nil
	}
}

// sweep removes what a maker that died left staged: name is a hidden
// entry of sandboxes/.
func (e *Engine) sweep(name string) {
	base := filepath.Join(e.root, "sandboxes")
	dir, isLock := strings.CutSuffix(name, ".lock")
	f, err := os.Open(filepath.Join(base, dir+".lock"))
	switch {
	case err != nil && !isLock: // a staged directory whose lock is gone: its maker died
		_ = os.RemoveAll(filepath.Join(base, dir))
	case err == nil:
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(filepath.Join(base, dir))
			_ = os.Remove(filepath.Join(base, dir+".lock"))
		}
		f.Close()
	}
}

func (e *Engine) sandbox(id string, now Clock) *Sandbox {
	if now == nil {
		now = time.Now
	}
	dir := filepath.Join(e.root, "sandboxes", id)
	return &Sandbox{e: e, id: id, dir: dir, work: filepath.Join(dir, "work"), now: now}
}

// LockName locks name for this process and every other, until ctx ends.
func (e *Engine) LockName(ctx context.Context, name string) (unlock func(), err error) {
	unlockKey, err := e.names.Lock(ctx, name)
	if err != nil {
		return nil, err
	}
	unlockFile, err := lockFileCtx(ctx, filepath.Join(e.root, "names", name+".lock"), true)
	if err != nil {
		unlockKey()
		return nil, err
	}
	return func() { unlockFile(); unlockKey() }, nil
}

// LookupName returns the id bound to name, or ErrNotFound. The caller holds
// the name's lock.
func (e *Engine) LookupName(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(e.root, "names", name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", sandagent.Errorf(sandagent.ErrNotFound, "no sandbox named %q", name)
	}
	return string(b), err
}

// BindName binds name to id. The caller holds the name's lock.
func (e *Engine) BindName(name, id string) error {
	return writeFileAtomic(filepath.Join(e.root, "names", name), []byte(id))
}

// UnbindName removes name's binding if it is bound to id. The caller holds
// the name's lock.
func (e *Engine) UnbindName(name, id string) error {
	if got, err := e.LookupName(name); err != nil || got != id {
		return nil
	}
	err := os.Remove(filepath.Join(e.root, "names", name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

func (sb *Sandbox) readMeta() (Meta, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(sb.dir, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return m, sandagent.Errorf(sandagent.ErrNotFound, "sandbox %s not found", sb.id)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("sandbox %s: corrupt state file: %w", sb.id, err)
	}
	return m, nil
}

func (sb *Sandbox) writeMeta(m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(sb.dir, "meta.json"), b)
}
