package sandagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/sandagent/sandagent/driver"
)

// Endpoint is where a client reaches a server listening on a port of a
// sandbox: a base URL, and the headers every request to it must carry
// (a provider's access token, for one). Its String and LogValue show the
// header names only, never their values.
type Endpoint struct {
	// URL is the absolute http or https URL of the port, with no trailing
	// slash: "http://127.0.0.1:8000", "https://8000-<id>.<domain>".
	// Replace its scheme with ws or wss for a websocket.
	URL string
	// Header holds the headers every request must carry; nil when none.
	Header http.Header
}

// NewRequest returns a request for path (such as "/" or "/api/items?x=1")
// under e.URL, carrying e.Header.
func (e Endpoint) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range e.Header {
		req.Header[k] = slices.Clone(vs)
	}
	return req, nil
}

// String returns the URL and the names of the headers to send.
func (e Endpoint) String() string {
	if len(e.Header) == 0 {
		return e.URL
	}
	names := make([]string, 0, len(e.Header))
	for k := range e.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	return fmt.Sprintf("%s (with headers %s)", e.URL, strings.Join(names, ", "))
}

// LogValue logs e as String does, without the header values.
func (e Endpoint) LogValue() slog.Value { return slog.StringValue(e.String()) }

// URL returns where a client reaches the server listening on port (1 to
// 65535) in the sandbox: its preview URL, with the token the provider
// requires, if any. It does not check that anything listens there yet. A
// provider whose sandboxes' ports cannot be reached fails with
// ErrUnsupported and the reason.
func (h *Handle) URL(ctx context.Context, port int) (Endpoint, error) {
	if port < 1 || port > 65535 {
		return Endpoint{}, WrapError(h.provider, "url", Errorf(ErrInvalid, "port %d is not between 1 and 65535", port))
	}
	var e driver.Endpoint
	err := h.do(ctx, "url", func(ctx context.Context) (err error) {
		u, ok := h.drv.(driver.URLer)
		if !ok {
			return h.unsupported("preview URLs")
		}
		e, err = u.URL(ctx, port)
		return err
	})
	return Endpoint(e), err
}

// TermSize is a terminal's size in character cells.
type TermSize struct {
	Rows, Cols uint16
}

// PTY is a command running on a terminal in the sandbox, as StartPTY
// starts it. Read returns what the terminal shows: the command's output
// (stdout and stderr are one stream on a terminal) and the echo of what is
// typed; it returns io.EOF once the command has ended (and anything it
// left running on the terminal) and its output has been read, or once the
// PTY is closed. Write types input: "\x03" is Ctrl-C, "\x04" Ctrl-D. Its
// methods are safe for concurrent use, but Read, like Write, by one
// goroutine at a time.
type PTY struct {
	p *Process
	t driver.PTY
}

// StartPTY starts cmd on a new terminal of the given size and returns
// without waiting for it, as Start does. Cmd.Args or Cmd.Shell, Dir, Env
// and Timeout apply; Stdin, Stdout and Stderr must be nil, as the terminal
// is the command's input and output. The command is killed when ctx ends or
// Cmd.Timeout expires. A provider with no terminals fails with
// ErrUnsupported.
func (h *Handle) StartPTY(ctx context.Context, cmd *Cmd, size TermSize) (*PTY, error) {
	invalid := func(format string, args ...any) (*PTY, error) {
		return nil, WrapError(h.provider, "pty", Errorf(ErrInvalid, format, args...))
	}
	if cmd != nil && (cmd.Stdin != nil || cmd.Stdout != nil || cmd.Stderr != nil) {
		return invalid("a PTY's input and output are the terminal: leave Cmd.Stdin, Stdout and Stderr nil")
	}
	if size.Rows == 0 || size.Cols == 0 {
		return invalid("terminal size %dx%d: rows and columns must be positive", size.Rows, size.Cols)
	}
	pty := &PTY{}
	p, err := h.start(ctx, "pty", cmd, func(ctx context.Context, dc *driver.Cmd) (driver.Process, error) {
		s, ok := h.drv.(driver.PTYStarter)
		if !ok {
			return nil, h.unsupported("terminals (PTY)")
		}
		dc.Stdout, dc.Stderr = nil, nil
		t, err := s.StartPTY(ctx, dc, driver.TermSize(size))
		pty.t = t
		return t, err
	})
	if err != nil {
		return nil, err
	}
	pty.p = p
	return pty, nil
}

// Read reads what the terminal shows.
func (t *PTY) Read(b []byte) (int, error) {
	n, err := t.t.Read(b)
	if err != nil && err != io.EOF {
		err = WrapError(t.p.h.provider, "pty", err)
	}
	return n, err
}

// Write types b into the terminal.
func (t *PTY) Write(b []byte) (int, error) {
	n, err := t.t.Write(b)
	return n, WrapError(t.p.h.provider, "pty", err)
}

// Resize changes the terminal's size; the command gets SIGWINCH.
func (t *PTY) Resize(ctx context.Context, size TermSize) error {
	if size.Rows == 0 || size.Cols == 0 {
		return WrapError(t.p.h.provider, "pty", Errorf(ErrInvalid, "terminal size %dx%d: rows and columns must be positive", size.Rows, size.Cols))
	}
	return t.p.h.do(ctx, "pty", func(ctx context.Context) error { return t.t.Resize(ctx, driver.TermSize(size)) })
}

// Close kills the command if it is still running and hangs up the
// terminal. Closing twice is not an error.
func (t *PTY) Close() error { return WrapError(t.p.h.provider, "pty", t.t.Close()) }

// PID returns the command's process id inside the sandbox, or 0 if the
// provider has none.
func (t *PTY) PID() int { return t.p.PID() }

// Done is closed when the command has ended.
func (t *PTY) Done() <-chan struct{} { return t.p.Done() }

// Wait waits for the command to end, as Process.Wait does. The Result has
// the exit code and duration; its Stdout and Stderr are empty, as the
// output is read from the PTY.
func (t *PTY) Wait() (*Result, error) { return t.p.Wait() }

// Signal sends sig to the command, as Process.Signal does.
func (t *PTY) Signal(ctx context.Context, sig os.Signal) error { return t.p.Signal(ctx, sig) }

// Fork creates n new sandboxes, each starting from this one's current
// state, and returns them attached (Outcome Created). What a child keeps
// depends on the provider, which documents it: files always; running
// processes and memory only where the provider forks them (local sandboxes
// copy files, not processes). A child never takes the parent's name, so
// attaching by name stays unambiguous, and it is labelled as managed, like
// every sandbox this library creates. The caller owns the children: Close
// or Destroy each. If Fork fails, it leaves no child behind.
func (h *Handle) Fork(ctx context.Context, n int) ([]*Handle, error) {
	if n < 1 {
		return nil, WrapError(h.provider, "fork", Errorf(ErrInvalid, "fork count %d: want at least 1", n))
	}
	var kids []driver.Child
	err := h.do(ctx, "fork", func(ctx context.Context) (err error) {
		f, ok := h.drv.(driver.Forker)
		if !ok {
			return h.unsupported("fork")
		}
		kids, err = f.Fork(ctx, n)
		if err == nil && len(kids) != n {
			for _, c := range kids {
				_ = c.Handle.Destroy(context.WithoutCancel(ctx))
			}
			err = fmt.Errorf("asked for %d children, got %d", n, len(kids))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Handle, n)
	for i, c := range kids {
		out[i] = NewHandle(c.Handle, Attachment{
			Provider: h.provider,
			ID:       c.ID,
			Name:     c.Name,
			Workdir:  c.Workdir,
			// A child is a copy of the parent: its workdir is the same.
			LookupWorkdir: h.workdir,
			Volumes:       h.volumes,
			Outcome:       Created,
			Logger:        h.logger,
		})
		out[i].tp = h.tp // traced as the parent is
	}
	return out, nil
}

// Snapshot saves the sandbox's current state as a snapshot named name
// (empty: the provider's default, where it has one) and returns the
// snapshot's id, from which the provider's New creates sandboxes (for
// local: local.WithSnapshot). What a snapshot keeps depends on the
// provider, which documents it.
func (h *Handle) Snapshot(ctx context.Context, name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", WrapError(h.provider, "snapshot", Errorf(ErrInvalid, "snapshot name %q contains a NUL byte", name))
	}
	var id string
	err := h.do(ctx, "snapshot", func(ctx context.Context) (err error) {
		s, ok := h.drv.(driver.Snapshotter)
		if !ok {
			return h.unsupported("snapshots")
		}
		id, err = s.Snapshot(ctx, name)
		if err == nil && id == "" {
			err = errors.New("the provider returned no snapshot id")
		}
		return err
	})
	return id, err
}
