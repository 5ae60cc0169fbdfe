package driver

import (
	"context"
	"io"
	"net/http"
)

// URLer is implemented by a Handle whose sandbox's ports can be reached
// from outside: a server listening on a port in the sandbox answers at the
// returned Endpoint.
type URLer interface {
	// URL returns where a client reaches port (1 to 65535, checked by the
	// caller). It does not check that anything listens there.
	URL(ctx context.Context, port int) (Endpoint, error)
}

// Endpoint is how a client reaches a port of a sandbox.
type Endpoint struct {
	URL    string      // absolute http or https URL, with no trailing slash
	Header http.Header // headers every request must carry; nil when none
}

// PTYStarter is implemented by a Handle that can run a command on a
// terminal.
type PTYStarter interface {
	// StartPTY starts cmd on a new terminal of the given size. The command
	// is the terminal's session leader; its standard input, output and
	// error are the terminal, so cmd.Stdin, cmd.Stdout and cmd.Stderr are
	// nil. The process must be killed when ctx is done.
	StartPTY(ctx context.Context, cmd *Cmd, size TermSize) (PTY, error)
}

// TermSize is a terminal's size in character cells.
type TermSize struct {
	Rows, Cols uint16
}

// PTY is a command running on a terminal. Read returns what the terminal
// shows (the command's output and the echo of its input), then io.EOF once
// no process has the terminal open any more (the command has ended, and so
// has anything it left running on the terminal) and everything written to
// it has been read, or once Close was called; Write types input. Close
// kills the command if it still runs and hangs up the terminal. Wait (of Process) returns once the
// command has ended; it does not wait for the output to be read.
type PTY interface {
	Process
	io.ReadWriteCloser
	// Resize changes the terminal's size; the command gets SIGWINCH.
	Resize(ctx context.Context, size TermSize) error
}

// Forker is implemented by a Handle that can branch its sandbox.
type Forker interface {
	// Fork creates n (at least 1) new running sandboxes, each starting
	// from this sandbox's current state, and attaches them. A child never
	// takes the parent's name (so attaching by name stays unambiguous) and
	// carries the labels every created sandbox carries. On failure the
	// driver destroys the children it made.
	Fork(ctx context.Context, n int) ([]Child, error)
}

// Child is a sandbox a Forker made, attached.
type Child struct {
	Handle  Handle
	ID      string
	Name    string // "" when unnamed
	Workdir string // absolute
}

// Snapshotter is implemented by a Handle that can save its sandbox as a
// snapshot that the provider's New can create sandboxes from.
type Snapshotter interface {
	// Snapshot saves the sandbox's current state under name (which may be
	// empty, when the provider allows it) and returns the snapshot's id.
	Snapshot(ctx context.Context, name string) (id string, err error)
}
