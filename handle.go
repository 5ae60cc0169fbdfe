package sandagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent/driver"
)

// Handle is an attached sandbox. It runs commands and moves files the same
// way on every provider. A Handle is safe for concurrent use.
//
// Close detaches and leaves the sandbox running; Destroy deletes it. After
// either, every method but Close and Destroy fails with ErrClosed.
type Handle struct {
	drv       driver.Handle
	provider  string
	id        string
	name      string
	workdir   func(context.Context) (string, error)
	volumes   []Volume
	outcome   Outcome
	log       *slog.Logger
	logger    *slog.Logger         // as given, for the Handles that Fork makes
	tp        trace.TracerProvider // set by RunAttach; nil: the global one
	closed    atomic.Bool
	destroyed atomic.Bool
}

// Volume is persistent storage mounted into a sandbox.
type Volume struct {
	Name      string // the provider's volume name (for local: the host directory)
	MountPath string // where the sandbox sees it
}

// Attachment is what a provider knows about a sandbox it attached, for
// NewHandle.
type Attachment struct {
	Provider string // the provider's name, as Handle.Provider reports it
	ID       string // the provider's sandbox id
	Name     string // the name it was attached by, if any
	Workdir  string // absolute; relative paths resolve against it
	// LookupWorkdir, when Workdir is empty, learns the workdir from the
	// sandbox on first need, so that Attach makes no request for it.
	LookupWorkdir func(context.Context) (string, error)
	Volumes       []Volume     // mounted volumes
	Outcome       Outcome      // how Attach got the sandbox
	Logger        *slog.Logger // nil: discard
}

// NewHandle wraps a provider's driver. It is meant for provider packages;
// callers get Handles from Attach.
func NewHandle(d driver.Handle, a Attachment) *Handle {
	logger := a.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handle{
		drv:      d,
		provider: a.Provider,
		id:       a.ID,
		name:     a.Name,
		workdir:  onceWorkdir(a.Workdir, a.LookupWorkdir),
		volumes:  append([]Volume(nil), a.Volumes...),
		outcome:  a.Outcome,
		logger:   logger,
		log:      logger.With(slog.String("provider", a.Provider), slog.String("sandbox", a.ID)),
	}
	h.log.Debug("sandagent attach", slog.String("outcome", a.Outcome.String()), slog.String("name", a.Name))
	return h
}

// ID returns the provider's sandbox id: the value to store to reattach later.
func (h *Handle) ID() string { return h.id }

// Provider returns the provider's name: "local", "e2b", ...
func (h *Handle) Provider() string { return h.provider }

// Name returns the name the sandbox was attached by, or "".
func (h *Handle) Name() string { return h.name }

// Workdir returns the sandbox's working directory. Relative paths given to
// the Handle's methods, and Cmd.Dir, resolve against it. A provider that
// learns it from the sandbox does so on first use; if that fails, Workdir
// returns "" and the methods that need it return the error.
func (h *Handle) Workdir() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, _ := h.workdir(ctx)
	return w
}

// onceWorkdir returns dir, or what lookup finds on its first success.
func onceWorkdir(dir string, lookup func(context.Context) (string, error)) func(context.Context) (string, error) {
	if dir != "" || lookup == nil {
		return func(context.Context) (string, error) { return dir, nil }
	}
	var mu sync.Mutex
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if dir != "" {
			return dir, nil
		}
		d, err := lookup(ctx)
		if err != nil {
			return "", err
		}
		dir = d
		return dir, nil
	}
}

// Volumes returns the volumes mounted in the sandbox.
func (h *Handle) Volumes() []Volume { return append([]Volume(nil), h.volumes...) }

// Outcome reports whether Attach created, reused, resumed or started the
// sandbox.
func (h *Handle) Outcome() Outcome { return h.outcome }

// Exec runs cmd to completion and returns its Result. A non-zero exit
// returns the Result and an *ExitError; a Cmd.Timeout that expires kills
// the command and returns an error matching ErrTimeout; a ctx that ends
// kills the command and returns ctx.Err().
//
// Every byte of output reaches Cmd.Stdout and Cmd.Stderr before Exec
// returns, however slow they are. A command ends when its output ends, as
// in os/exec and E2B's envd: a background child that keeps stdout open
// (`server &`) keeps Exec waiting until it exits, closes it, or the timeout
// ends it. Start, or a redirect (`server >log 2>&1 &`), leaves one running.
func (h *Handle) Exec(ctx context.Context, cmd *Cmd) (*Result, error) {
	p, err := h.Start(ctx, cmd)
	if errors.Is(err, ErrTimeout) { // killed before it started: a Result all the same
		return &Result{ExitCode: -1}, err
	}
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Start starts cmd and returns without waiting for it. The process is
// killed when ctx ends or Cmd.Timeout expires, so pass a long-lived ctx for
// a background process. Closing the Handle does not stop it.
func (h *Handle) Start(ctx context.Context, cmd *Cmd) (*Process, error) {
	return h.start(ctx, "exec", cmd, h.drv.Start)
}

// FileInfo describes a file or directory in a sandbox.
type FileInfo struct {
	Name    string      // base name
	Path    string      // absolute path in the sandbox
	Size    int64       // bytes, for regular files
	Mode    fs.FileMode // type bits and permissions
	ModTime time.Time   // zero when the provider does not report it
}

// IsDir reports whether the entry is a directory.
func (fi FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// File is one file for Upload.
type File struct {
	Path    string    // relative paths resolve against Workdir
	Content io.Reader // read to EOF
}

// ReadFile returns the contents of the file at name. A missing file is an
// error matching ErrNotFound (and fs.ErrNotExist).
func (h *Handle) ReadFile(ctx context.Context, name string) ([]byte, error) {
	r, err := h.NewReader(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, WrapError(h.provider, "read", err)
	}
	return b, nil
}

// NewReader opens the file at name for streaming reads. The caller must
// close it.
func (h *Handle) NewReader(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := h.resolve(ctx, "read", name)
	if err != nil {
		return nil, err
	}
	var r io.ReadCloser
	err = h.do(ctx, "read", func(ctx context.Context) (err error) {
		r, err = h.drv.Open(ctx, p)
		return err
	})
	return r, err
}

// WriteFile creates or replaces the file at name with data, creating parent
// directories.
func (h *Handle) WriteFile(ctx context.Context, name string, data []byte) error {
	return h.WriteFrom(ctx, name, bytes.NewReader(data))
}

// WriteFrom creates or replaces the file at name with everything r yields,
// streaming it, and creates parent directories.
func (h *Handle) WriteFrom(ctx context.Context, name string, r io.Reader) error {
	p, err := h.resolve(ctx, "write", name)
	if err != nil {
		return err
	}
	return h.do(ctx, "write", func(ctx context.Context) error { return h.drv.Write(ctx, p, r) })
}

// Upload writes many files, in as few round trips as the provider allows.
func (h *Handle) Upload(ctx context.Context, files ...File) error {
	df := make([]driver.File, len(files))
	for i, f := range files {
		p, err := h.resolve(ctx, "upload", f.Path)
		if err != nil {
			return err
		}
		if f.Content == nil {
			return WrapError(h.provider, "upload", Errorf(ErrInvalid, "file %q has no Content", f.Path))
		}
		df[i] = driver.File{Path: p, Content: f.Content}
	}
	return h.do(ctx, "upload", func(ctx context.Context) error {
		if u, ok := h.drv.(driver.Uploader); ok {
			return u.Upload(ctx, df)
		}
		for _, f := range df {
			if err := h.drv.Write(ctx, f.Path, f.Content); err != nil {
				return err
			}
		}
		return nil
	})
}

// Stat describes the file or directory at name.
func (h *Handle) Stat(ctx context.Context, name string) (FileInfo, error) {
	p, err := h.resolve(ctx, "stat", name)
	if err != nil {
		return FileInfo{}, err
	}
	var fi driver.FileInfo
	err = h.do(ctx, "stat", func(ctx context.Context) (err error) {
		fi, err = h.drv.Stat(ctx, p)
		return err
	})
	return FileInfo(fi), err
}

// ListDir lists the directory at name.
func (h *Handle) ListDir(ctx context.Context, name string) ([]FileInfo, error) {
	p, err := h.resolve(ctx, "list", name)
	if err != nil {
		return nil, err
	}
	var dfs []driver.FileInfo
	err = h.do(ctx, "list", func(ctx context.Context) (err error) {
		dfs, err = h.drv.ListDir(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, len(dfs))
	for i, fi := range dfs {
		out[i] = FileInfo(fi)
	}
	return out, nil
}

// MakeDir creates the directory at name and any missing parents. An
// existing directory is not an error.
func (h *Handle) MakeDir(ctx context.Context, name string) error {
	p, err := h.resolve(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	return h.do(ctx, "mkdir", func(ctx context.Context) error { return h.drv.MakeDir(ctx, p) })
}

// Remove removes the file or directory tree at name. A missing path is an
// error matching ErrNotFound.
func (h *Handle) Remove(ctx context.Context, name string) error {
	p, err := h.resolve(ctx, "remove", name)
	if err != nil {
		return err
	}
	return h.do(ctx, "remove", func(ctx context.Context) error { return h.drv.Remove(ctx, p) })
}

// State reports the sandbox's lifecycle state.
func (h *Handle) State(ctx context.Context) (State, error) {
	var s string
	err := h.do(ctx, "state", func(ctx context.Context) (err error) {
		s, err = h.drv.State(ctx)
		return err
	})
	return State(s), err
}

// SetTimeout makes the sandbox live for d from now before the provider
// stops or pauses it: the keep-alive of a long session.
func (h *Handle) SetTimeout(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return WrapError(h.provider, "set-timeout", Errorf(ErrInvalid, "timeout %s is not positive", d))
	}
	return h.do(ctx, "set-timeout", func(ctx context.Context) error {
		t, ok := h.drv.(driver.TimeoutSetter)
		if !ok {
			return h.unsupported("timeouts")
		}
		return t.SetTimeout(ctx, d)
	})
}

// Pause pauses the sandbox, keeping its memory and files; the next Attach
// resumes it (Outcome Resumed). The Handle stays open but its commands fail
// with ErrState until then.
func (h *Handle) Pause(ctx context.Context) error {
	return h.do(ctx, "pause", func(ctx context.Context) error {
		p, ok := h.drv.(driver.Pauser)
		if !ok {
			return h.unsupported("pause")
		}
		return p.Pause(ctx)
	})
}

// Stop stops the sandbox, keeping its files but not its processes; the next
// Attach starts it again (Outcome Started).
func (h *Handle) Stop(ctx context.Context) error {
	return h.do(ctx, "stop", func(ctx context.Context) error {
		s, ok := h.drv.(driver.Stopper)
		if !ok {
			return h.unsupported("stop")
		}
		return s.Stop(ctx)
	})
}

// Close detaches from the sandbox, which keeps running (until its timeout,
// where the provider has one). Closing twice is not an error.
func (h *Handle) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.log.Debug("sandagent close")
	return WrapError(h.provider, "close", h.drv.Close())
}

// Destroy deletes the sandbox for good and closes the Handle. Destroying
// twice is not an error, and a closed Handle can still destroy its
// sandbox.
func (h *Handle) Destroy(ctx context.Context) error {
	if h.destroyed.Load() {
		return nil
	}
	// Destroy works after Close (see Handle): no closed check.
	ctx, span := h.startSpan(ctx, "destroy")
	err := h.call(ctx, "destroy", func(ctx context.Context) error { return h.drv.Destroy(ctx) })
	endSpan(span, err)
	if err != nil {
		return err
	}
	h.destroyed.Store(true)
	if !h.closed.Swap(true) {
		_ = h.drv.Close()
	}
	return nil
}

// As sets target to a provider-native value, if the provider has one of
// target's type, and reports whether it did. Each provider documents what
// it offers.
func (h *Handle) As(target any) bool {
	a, ok := h.drv.(driver.Aser)
	return ok && a.As(target)
}

// do runs one driver operation in a span of its own: closed and ctx checks,
// timing, logging and error wrapping, the same for every provider. fn gets
// the span's ctx.
func (h *Handle) do(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, span := h.startSpan(ctx, op)
	err := h.run(ctx, op, fn)
	endSpan(span, err)
	return err
}

// run is do without the span, for operations whose span is longer.
func (h *Handle) run(ctx context.Context, op string, fn func(context.Context) error) error {
	if h.closed.Load() {
		return &Error{Provider: h.provider, Op: op, Kind: ErrClosed}
	}
	return h.call(ctx, op, fn)
}

// call is run without the closed check.
func (h *Handle) call(ctx context.Context, op string, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	err := WrapError(h.provider, op, fn(ctx))
	if h.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("op", op), slog.Duration("took", time.Since(start))}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		h.log.LogAttrs(ctx, slog.LevelDebug, "sandagent", attrs...)
	}
	return err
}

func (h *Handle) unsupported(what string) error {
	return Errorf(ErrUnsupported, "%s does not support %s", h.provider, what)
}

// resolve makes name absolute against the workdir and rejects what no
// provider accepts.
func (h *Handle) resolve(ctx context.Context, op, name string) (string, error) {
	switch {
	case name == "":
		return "", &Error{Provider: h.provider, Op: op, Kind: ErrInvalid, Message: "empty path"}
	case strings.ContainsRune(name, 0):
		return "", &Error{Provider: h.provider, Op: op, Kind: ErrInvalid, Message: fmt.Sprintf("path %q contains a NUL byte", name)}
	}
	if !path.IsAbs(name) {
		wd, err := h.workdir(ctx)
		if err != nil {
			return "", WrapError(h.provider, op, err)
		}
		return path.Join(wd, name), nil
	}
	return path.Clean(name), nil
}
