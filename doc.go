// Package sandagent is one API for AI-agent sandboxes, whatever provider
// runs them: E2B, SandBase, Sandock, Daytona, or the local provider, which
// needs no account.
//
// # Attach
//
// A caller names the sandbox it wants with a provider package's New and
// calls Attach:
//
//	sb, err := local.New(local.WithName("my-project"))
//	...
//	h, err := sb.Attach(ctx)
//
// Attach follows the provider's reuse rule: it finds the sandbox by name (or
// by a stored id), resumes it if paused, starts it if stopped, or creates it.
// Handle.Outcome says which: Created, Reused, Resumed or Started. Every
// provider fails closed (only a confirmed not-found leads to a create),
// converges when many callers attach one name at once, and destroys only
// what its own Attach created when that Attach fails.
//
// Handle.ID is the provider's id: store it to reattach later, from another
// process, with the provider's WithID option. Close detaches and leaves the
// sandbox running (until its provider-side timeout); Destroy deletes it.
//
// # Commands
//
// Exec runs a Cmd to completion; Start runs it in the background and
// returns a Process to Wait on or Signal. Set Cmd.Args to run a program
// with its arguments as they are, or Cmd.Shell for a shell command line.
// Output reaches Cmd.Stdout and Cmd.Stderr while the command runs, and the
// Result keeps the first MaxOutput bytes of each. A non-zero exit is an
// *ExitError carrying the Result; a program that does not exist is, on every
// provider, the shell's exit 127 (an *ExitError that also matches
// ErrNotFound). Cmd.Timeout and the ctx kill the remote
// process when they end. Cmd.Stdin is forwarded where the provider can, and
// is ErrUnsupported where it cannot: input is never dropped silently.
//
// # Files
//
// ReadFile, WriteFile and the streaming NewReader and WriteFrom move bytes
// unchanged. Relative paths resolve against Handle.Workdir, which is also
// the default directory of commands, so a path names the same file for
// both. WriteFile creates parent directories; Upload writes many files in
// as few round trips as the provider allows.
//
// # Errors
//
// Errors match the sentinels with errors.Is: ErrNotFound (also
// fs.ErrNotExist), ErrAuth, ErrRateLimited, ErrConflict, ErrState,
// ErrTimeout, ErrClosed, ErrInvalid (bad input, caught before any request)
// and ErrUnsupported (also errors.ErrUnsupported). Provider failures are
// *Error values with the provider, the operation, the HTTP status and the
// provider's message. No error or log line contains an API key or token.
//
// # Tracing
//
// Attach, Exec and every file and lifecycle call of a Handle is an
// OpenTelemetry span (sandagent.attach, sandagent.exec, sandagent.read,
// ...), and each HTTP request a provider makes is a client span beneath it.
// The attach span carries the provider, the outcome, the sandbox id and the
// number of requests made; the exec span the exit code and the bytes of
// output; a failed call's span its error and, in error.type, the sentinel
// it matches. Only the OpenTelemetry API is used: spans are no-ops until
// the program installs a TracerProvider, globally or with a provider's
// WithTracerProvider option. No span holds a key, a token, a URL query, a
// command line, an environment or file contents.
//
// # Providers
//
// Each provider lives in its own package and registers a URL scheme, so
// Open can attach from a URL such as "local://my-project?timeout=10m".
// Providers implement the small interface in package driver; the Handle
// adds argument checks, path resolution, timeouts, error wrapping and
// logging the same way for all of them. Package sandboxtest is the
// conformance suite they all pass.
package sandagent
