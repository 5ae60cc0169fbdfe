// Package mcpserver exposes one sandbox to AI agents as Model Context
// Protocol tools, on the official Go MCP SDK
// (github.com/modelcontextprotocol/go-sdk). The command `sandagent mcp`
// serves it over stdio or streamable HTTP; a Go program can serve it over any
// transport of the SDK, or add its own tools to it:
//
//	sb, err := sandagent.FromURL("e2b://my-project")
//	...
//	s := mcpserver.New(sb)
//	defer s.Close() // detaches; the sandbox keeps running
//	err = s.MCP().Run(ctx, &mcp.StdioTransport{})
//
// # Tools
//
//   - exec: runs a shell command line (command), with an optional working
//     directory (cwd), environment (env) and timeout in seconds (timeout).
//     It returns stdout, stderr and the exit code; a non-zero exit or a
//     timeout is a result, not an error. While the command runs, a client
//     that sent a progress token gets progress notifications whose message
//     is the output as it arrives (progress counts its bytes).
//   - read_file: a file's content, as text when it is UTF-8, else as base64,
//     from an optional byte offset.
//   - write_file: creates or replaces a file (creating parent directories)
//     from text or base64.
//   - list_dir, stat, remove: a directory's entries, a path's description,
//     and removal of a file or directory tree.
//   - url: the URL that reaches a server listening on a port in the sandbox
//     (Handle.URL, its preview URL), with the headers a request must carry.
//   - pause: pauses the sandbox, memory and files kept. The server detaches,
//     and the next call attaches again, which resumes it.
//
// url and pause are optional capabilities. Which ones a provider has is
// known once the sandbox is attached: where it lacks one (see the
// provider's package documentation), its tool answers with an error saying
// so and is withdrawn from the tool list (clients are notified that the
// list changed).
//
// # Decisions
//
//   - The sandbox is attached lazily, on the first tool call, following its
//     provider's reuse rule (the same name finds the same sandbox), and
//     attached again after a failed attach or a pause. Close detaches and
//     never destroys it.
//   - Relative paths, and cwd, resolve against the sandbox's workdir.
//   - Bad arguments (a wrong type, a missing command, a negative timeout,
//     malformed base64, a path with NUL) are tool errors (isError) with a
//     message naming the problem, as are the sandbox's own failures; only an
//     unknown tool is a protocol error.
//   - Nothing is lost: a result holds at most WithMaxOutput bytes (default
//     64 KiB) of each of stdout, stderr, a file read and a listing. Output
//     cut there, or output that is not UTF-8 (which JSON text cannot carry
//     byte for byte), is written whole to a file under .sandagent/output in
//     the workdir, and the result names that file (stdout_file, stderr_file,
//     listing_file) with a note. A file read that is cut says from which
//     offset to go on.
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sandagent/sandagent"
)

// DefaultMaxOutput is how many bytes of each output a tool result holds
// unless WithMaxOutput says otherwise.
const DefaultMaxOutput = 64 << 10

// outputDir is where output too long for a result is written, relative to
// the sandbox's workdir (absolute paths outside it are not writable on
// every provider).
const outputDir = ".sandagent/output"

// Server serves one sandbox as MCP tools. It is safe for concurrent use.
type Server struct {
	sb        sandagent.Sandbox
	srv       *mcp.Server
	maxOutput int

	mu     sync.Mutex
	h      *sandagent.Handle
	closed bool
	seq    atomic.Int64 // numbers the output files
}

// Option configures a Server.
type Option func(*Server)

// WithMaxOutput sets how many bytes of each of stdout, stderr, a file read
// and a listing a tool result holds (default DefaultMaxOutput); the rest is
// written to a file in the sandbox. n below 1 means the default.
func WithMaxOutput(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxOutput = n
		}
	}
}

// New returns a Server for sb. It does no I/O: the sandbox is attached on
// the first tool call.
func New(sb sandagent.Sandbox, opts ...Option) *Server {
	s := &Server{sb: sb, maxOutput: DefaultMaxOutput}
	for _, o := range opts {
		o(s)
	}
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "sandagent", Title: "sandagent sandbox", Version: "v1"}, &mcp.ServerOptions{
		Instructions: "Tools that run commands and manage files in one sandbox. Relative paths resolve against the sandbox's working directory.",
	})
	s.addTools()
	return s
}

// MCP returns the SDK's server, with the sandbox's tools: run it over a
// transport (Run, Connect), serve it with mcp.NewStreamableHTTPHandler, or
// add tools of your own to it.
func (s *Server) MCP() *mcp.Server { return s.srv }

// Close detaches from the sandbox, which keeps running (until its
// provider's timeout). Tool calls after Close fail.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	h := s.h
	s.h = nil
	if h == nil {
		return nil
	}
	return h.Close()
}

// handle returns the attached sandbox, attaching it on first need.
func (s *Server) handle(ctx context.Context) (*sandagent.Handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &sandagent.Error{Op: "mcp", Kind: sandagent.ErrClosed, Message: "the MCP server is closed"}
	}
	if s.h != nil {
		return s.h, nil
	}
	h, err := s.sb.Attach(ctx)
	if err != nil {
		return nil, err
	}
	s.h = h
	return h, nil
}

// detach closes h if it is still the attached handle, so that the next call
// attaches again.
func (s *Server) detach(h *sandagent.Handle) {
	s.mu.Lock()
	if s.h == h {
		s.h = nil
	}
	s.mu.Unlock()
	_ = h.Close()
}

// outputPath returns a fresh path for output that did not fit a result,
// relative to the workdir, and its absolute form for the agent.
func (s *Server) outputPath(h *sandagent.Handle, what string) (rel, abs string) {
	rel = fmt.Sprintf("%s/%s-%d-%s", outputDir, time.Now().UTC().Format("20060102T150405.000000000"), s.seq.Add(1), what)
	return rel, path.Join(h.Workdir(), rel)
}

// toolErr makes err a tool error whose text an agent can act on. Errors of
// the library name the provider, the operation and the cause; the kind of
// failure ("not found", "invalid state", ...) is added where the text lacks
// it.
func toolErr(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the call's deadline expired: %w", err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("the call was cancelled: %w", err)
	}
	var e *sandagent.Error
	if errors.As(err, &e) && e.Kind != nil {
		if kind := strings.TrimPrefix(e.Kind.Error(), "sandagent: "); !strings.Contains(err.Error(), kind) {
			return fmt.Errorf("%w (%s)", err, kind)
		}
	}
	return err
}
