//go:build unix

package local

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/engine"
)

var (
	_ driver.URLer       = (*handle)(nil)
	_ driver.PTYStarter  = (*handle)(nil)
	_ driver.Forker      = (*handle)(nil)
	_ driver.Snapshotter = (*handle)(nil)
)

// ParentLabel is the label a forked sandbox carries: its parent's id.
const ParentLabel = "sandagent.parent"

// URL returns the loopback address of port: a local sandbox's processes
// share this machine's network. A sandbox made WithIsolation has a network
// of its own that nothing outside reaches: ErrUnsupported.
func (h *handle) URL(_ context.Context, port int) (driver.Endpoint, error) {
	m, err := h.sb.Meta()
	if err != nil {
		return driver.Endpoint{}, err
	}
	if m.Isolate {
		return driver.Endpoint{}, sandagent.Errorf(sandagent.ErrUnsupported,
			"sandbox %s runs in its own network namespace (WithIsolation): its ports cannot be reached from outside", h.sb.ID())
	}
	return driver.Endpoint{URL: "http://127.0.0.1:" + strconv.Itoa(port)}, nil
}

// StartPTY runs the command on a new pseudo-terminal of this machine.
func (h *handle) StartPTY(ctx context.Context, c *driver.Cmd, size driver.TermSize) (driver.PTY, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	defer tty.Close() // the command has its own copy
	if err := control(ptmx, func(fd int) error {
		// Non-blocking, so that Close interrupts a Read: pty.Open left
		// the descriptor blocking.
		if err := syscall.SetNonblock(fd, true); err != nil {
			return err
		}
		return setSize(fd, size)
	}); err != nil {
		ptmx.Close()
		return nil, err
	}
	p, err := h.sb.Spawn(ctx, engine.Cmd{Args: c.Args, Shell: c.Shell, Dir: c.Dir, Env: c.Env, TTY: tty})
	if err != nil {
		ptmx.Close()
		return nil, err
	}
	return &terminal{process: process{p}, ptmx: ptmx}, nil
}

// terminal is a command on a pseudo-terminal: ptmx is its master side.
type terminal struct {
	process
	ptmx      *os.File
	closeOnce sync.Once
	closeErr  error
}

func (t *terminal) Read(b []byte) (int, error) {
	n, err := t.ptmx.Read(b)
	// Linux reports a terminal whose every other end has closed (the
	// command and its children have exited) as EIO, after its output; a
	// terminal Close hung up has nothing more to show.
	if errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrClosed) {
		err = io.EOF
	}
	return n, err
}

func (t *terminal) Write(b []byte) (int, error) { return t.ptmx.Write(b) }

func (t *terminal) Resize(_ context.Context, size driver.TermSize) error {
	return control(t.ptmx, func(fd int) error { return setSize(fd, size) })
}

// control runs fn on f's descriptor without making it blocking, as Fd
// would.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func setSize(fd int, size driver.TermSize) error {
	return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: size.Rows, Col: size.Cols})
}

// Close kills the command, then closes the master side.
func (t *terminal) Close() error {
	t.closeOnce.Do(func() {
		if err := t.p.Signal(syscall.SIGKILL); err == nil {
			_, _ = t.p.Wait()
		}
		t.closeErr = t.ptmx.Close()
	})
	return t.closeErr
}

// Fork copies the sandbox's files into n new unnamed sandboxes with its
// settings and labels (but for the name), plus ParentLabel. Its processes
// are stopped while the files are copied, and are not copied.
func (h *handle) Fork(_ context.Context, n int) ([]driver.Child, error) {
	m, err := h.sb.Meta()
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	maps.Copy(labels, m.Labels)
	delete(labels, sandagent.NameLabel)
	labels[sandagent.ManagedLabel] = "true"
	labels[ParentLabel] = h.sb.ID()
	kids, err := h.sb.Fork(engine.Spec{
		Env: m.Env, Labels: labels, Volumes: m.Volumes,
		Timeout: m.Timeout, AutoPause: m.AutoPause, Isolate: m.Isolate,
	}, n)
	if err != nil {
		return nil, err
	}
	out := make([]driver.Child, len(kids))
	for i, k := range kids {
		out[i] = driver.Child{Handle: &handle{e: h.e, sb: k}, ID: k.ID(), Workdir: k.Workdir()}
	}
	return out, nil
}

// Snapshot copies the sandbox's files, as Fork does, into a snapshot that
// WithSnapshot creates sandboxes from.
func (h *handle) Snapshot(_ context.Context, name string) (string, error) {
	return h.sb.Snapshot(name)
}

// WithSnapshot makes a sandbox this Attach creates start with the files of
// the snapshot id, from Handle.Snapshot. Attaching a name that exists
// reuses that sandbox as it is. A snapshot that is gone fails Attach with
// ErrNotFound.
func WithSnapshot(id string) Option {
	return func(s *Sandbox) error {
		if id == "" {
			return sandagent.Errorf(sandagent.ErrInvalid, "empty snapshot id")
		}
		s.snapshot = id
		return nil
	}
}

// newSandbox creates the engine's sandbox, from the snapshot if one is set.
func (s *Sandbox) newSandbox(e *engine.Engine, spec engine.Spec) (*engine.Sandbox, error) {
	if s.snapshot != "" {
		return e.CreateFromSnapshot(spec, s.snapshot, s.now)
	}
	return e.Create(spec, s.now)
}

// DeleteSnapshot deletes the snapshot id from the configuration's
// directory. One that is gone is not an error.
func (s *Sandbox) DeleteSnapshot(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := engine.Open(s.dir)
	if err != nil {
		return wrap("delete-snapshot", err)
	}
	return wrap("delete-snapshot", e.DeleteSnapshot(id))
}
