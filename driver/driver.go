// Package driver defines the seam between the portable sandagent API and a
// provider. Provider packages implement [Handle] (and, where they can, the
// optional capability interfaces) and wrap it with sandagent.NewHandle.
//
// The root package checks arguments, resolves paths against the workdir,
// tracks the closed state, applies Cmd timeouts, wraps errors and logs, once
// for every provider; a driver only does the primitive operation. Paths a
// driver receives are absolute and clean (slash-separated), commands are
// validated, and Stdout/Stderr are never nil.
//
// Drivers report failures with sandagent's sentinel errors (usually through
// *sandagent.Error), so the caller can classify them with errors.Is.
package driver

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// Handle is an attached sandbox, as a provider implements it. Its methods
// must be safe for concurrent use.
type Handle interface {
	// Start starts cmd. The process must be killed when ctx is done. Output
	// is written to cmd.Stdout and cmd.Stderr as it arrives, each by at most
	// one goroutine at a time.
	Start(ctx context.Context, cmd *Cmd) (Process, error)

	// Open opens the file at path for reading.
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	// Write creates or replaces the file at path with the contents of r,
	// creating parent directories.
	Write(ctx context.Context, path string, r io.Reader) error
	// Stat describes the file or directory at path.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// ListDir lists the entries of the directory at path.
	ListDir(ctx context.Context, path string) ([]FileInfo, error)
	// MakeDir creates the directory at path and any missing parents. An
	// existing directory is not an error.
	MakeDir(ctx context.Context, path string) error
	// Remove removes the file or the directory tree at path.
	Remove(ctx context.Context, path string) error

	// State reports the sandbox's lifecycle state as one of the values of
	// sandagent.State.
	State(ctx context.Context) (string, error)
	// Destroy deletes the sandbox for good. Destroying a sandbox that is
	// already gone is not an error.
	Destroy(ctx context.Context) error
	// Close releases local resources. The remote sandbox keeps running.
	Close() error
}

// Cmd is a validated command.
type Cmd struct {
	Args    []string          // argv, run without a shell; empty when Shell is set
	Shell   string            // a shell command line; empty when Args is set
	Dir     string            // absolute working directory; "": the sandbox's workdir
	Env     map[string]string // variables added to the sandbox's environment
	Stdin   io.Reader         // nil: no input (the process reads EOF)
	Stdout  io.Writer         // never nil
	Stderr  io.Writer         // never nil
	Timeout time.Duration     // 0: none; ctx also expires then, this is for server-side limits
}

// ErrProgramNotFound is matched by the error a driver's Start returns when
// the program of Cmd.Args does not exist and the provider reports that as
// a failure to start. The Handle turns it into what a shell gives everywhere
// else: the command wrote a "not found" line to stderr and exited with 127.
// A sandbox that starts every command through a shell reports exit 127
// itself and never needs it.
var ErrProgramNotFound = errors.New("program not found")

// Process is a started command.
type Process interface {
	// PID is the process id inside the sandbox, or 0 when the provider has none.
	PID() int
	// Wait waits for the process to end and for all of its output to be
	// written. It returns the exit code (-1 when the process was killed by a
	// signal), or an error when the outcome could not be learned.
	Wait() (exitCode int, err error)
}

// Signaler is implemented by a Process that can be sent signals.
type Signaler interface {
	Signal(ctx context.Context, sig os.Signal) error
}

// Pauser is implemented by a Handle that can pause its sandbox, keeping
// memory and files, so that the next Attach resumes it.
type Pauser interface {
	Pause(ctx context.Context) error
}

// Stopper is implemented by a Handle that can stop its sandbox, keeping
// files (where the provider keeps them: Sandock keeps only its volumes')
// but not memory, so that the next Attach starts it again.
type Stopper interface {
	Stop(ctx context.Context) error
}

// TimeoutSetter is implemented by a Handle whose sandbox ends after a
// timeout that can be moved: the sandbox then lives for d from now.
type TimeoutSetter interface {
	SetTimeout(ctx context.Context, d time.Duration) error
}

// Uploader is implemented by a Handle that can write many files in fewer
// round trips than one Write each.
type Uploader interface {
	Upload(ctx context.Context, files []File) error
}

// Aser is implemented by a Handle that exposes provider-native values.
type Aser interface {
	As(target any) bool
}

// File is one file of an upload.
type File struct {
	Path    string // absolute
	Content io.Reader
}

// FileInfo describes a file or directory.
type FileInfo struct {
	Name    string
	Path    string
	Size    int64
	Mode    fs.FileMode // type bits (fs.ModeDir, fs.ModeSymlink) and permissions
	ModTime time.Time
}
