package sandagent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent/driver"
)

// MaxOutput is how many bytes of each of stdout and stderr a Result keeps.
// Output past it still reaches Cmd.Stdout and Cmd.Stderr; the Result keeps
// the first MaxOutput bytes and sets StdoutTruncated or StderrTruncated.
const MaxOutput = 8 << 20

// Cmd describes a command to run in a sandbox. Set exactly one of Args and
// Shell.
type Cmd struct {
	// Args is the program and its arguments, run without a shell: no
	// quoting, globbing or expansion happens. The program is looked up in
	// the sandbox's PATH.
	Args []string
	// Shell is a command line for the sandbox's shell (sh -c on Unix-like
	// sandboxes). Never build it by gluing untrusted strings: use Args.
	Shell string
	// Dir is the working directory. Relative paths resolve against
	// Handle.Workdir; empty means Workdir.
	Dir string
	// Env adds to (and overrides) the sandbox's environment.
	Env map[string]string
	// Stdin, when set, is copied to the process's standard input until it
	// returns EOF. A provider that cannot forward stdin fails with
	// ErrUnsupported rather than drop it.
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the output while the command
	// runs. If both are the same writer, at most one goroutine at a time
	// calls Write.
	Stdout io.Writer
	Stderr io.Writer
	// Timeout, when positive, kills the command after that long; Exec then
	// returns an error matching ErrTimeout.
	Timeout time.Duration
}

// String returns the command as a readable line, for logs.
func (c *Cmd) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Args, " ")
}

func (c *Cmd) validate() error {
	invalid := func(format string, args ...any) error {
		return &Error{Kind: ErrInvalid, Message: fmt.Sprintf(format, args...)} // the caller adds the op
	}
	switch {
	case c == nil:
		return invalid("nil Cmd")
	case len(c.Args) == 0 && c.Shell == "":
		return invalid("Cmd needs Args or Shell")
	case len(c.Args) > 0 && c.Shell != "":
		return invalid("Cmd sets both Args and Shell; set one")
	case len(c.Args) > 0 && c.Args[0] == "":
		return invalid("Cmd.Args[0] (the program) is empty")
	case c.Timeout < 0:
		return invalid("negative Cmd.Timeout %s", c.Timeout)
	case strings.ContainsRune(c.Shell, 0) || strings.ContainsRune(c.Dir, 0):
		return invalid("Cmd contains a NUL byte")
	}
	for i, a := range c.Args {
		if strings.ContainsRune(a, 0) {
			return invalid("Cmd.Args[%d] contains a NUL byte", i)
		}
	}
	return CheckEnv(c.Env)
}

// AddEnv checks env with CheckEnv and adds it to dst, which it allocates
// if nil. Providers use it for their WithEnv options.
func AddEnv(dst, env map[string]string) (map[string]string, error) {
	if err := CheckEnv(env); err != nil {
		return dst, err
	}
	if dst == nil {
		dst = make(map[string]string, len(env))
	}
	maps.Copy(dst, env)
	return dst, nil
}

// CheckEnv reports, as an ErrInvalid error, the first variable of env that
// no sandbox can take: an empty name, or one with '=' or NUL or invalid
// UTF-8, or a value with NUL. Providers use it for their WithEnv options.
func CheckEnv(env map[string]string) error {
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || !utf8.ValidString(k) {
			return Errorf(ErrInvalid, "environment variable name %q: names cannot be empty or hold '=', NUL or invalid UTF-8", k)
		}
		if strings.ContainsRune(v, 0) {
			return Errorf(ErrInvalid, "environment variable %s: values cannot hold NUL", k)
		}
	}
	return nil
}

// Result is the outcome of a command that ran to completion.
type Result struct {
	ExitCode        int           // the exit status; -1 if the process was killed by a signal
	Stdout          []byte        // the first MaxOutput bytes of standard output
	Stderr          []byte        // the first MaxOutput bytes of standard error
	StdoutTruncated bool          // stdout was longer than MaxOutput
	StderrTruncated bool          // stderr was longer than MaxOutput
	Duration        time.Duration // from start to exit
}

// ExitError is returned, with the Result, by Exec and Process.Wait when a
// command exits with a non-zero status.
//
// A program that does not exist is, on every provider, an ExitError with
// the shell's code for it, 127, and a message on stderr: the command is
// started (often through a shell, which reports it that way), so Start
// succeeds and Wait fails. An ExitError with code 127 also matches
// ErrNotFound (and fs.ErrNotExist) with errors.Is.
type ExitError struct {
	*Result
}

// exitNotFound is the exit status of a program that was not found.
const exitNotFound = 127

// Is reports whether the exit status means "command not found" and target
// is ErrNotFound or fs.ErrNotExist.
func (e *ExitError) Is(target error) bool {
	return e.Result != nil && e.ExitCode == exitNotFound && (target == ErrNotFound || target == fs.ErrNotExist)
}

// missingProgram is the process of a command whose program the provider
// reported missing at start: it wrote the shell's kind of message to stderr
// and exited with 127, as it would have through a shell.
func missingProgram(c *driver.Cmd) driver.Process {
	writeNotFound(c.Stderr, c.Args[0])
	return exitedProcess(exitNotFound)
}

// writeNotFound writes the line a shell writes for a missing program.
func writeNotFound(stderr io.Writer, prog string) {
	_, _ = fmt.Fprintf(stderr, "%s: not found\n", prog)
}

// exitedProcess is a process that has already exited with its code.
type exitedProcess int

func (p exitedProcess) PID() int           { return 0 }
func (p exitedProcess) Wait() (int, error) { return int(p), nil }

func (p exitedProcess) Signal(context.Context, os.Signal) error {
	return Errorf(ErrNotFound, "the process has exited")
}

// Error implements the error interface.
func (e *ExitError) Error() string {
	if e.ExitCode < 0 {
		return "command killed by a signal"
	}
	return fmt.Sprintf("exit status %d", e.ExitCode)
}

// start starts cmd with the driver's start (Start, or StartPTY): the
// checks, the workdir, the timeout, the output captures and the span (which
// Process.wait ends), once.
func (h *Handle) start(ctx context.Context, op string, cmd *Cmd, start func(context.Context, *driver.Cmd) (driver.Process, error)) (_ *Process, err error) {
	ctx, span := h.startSpan(ctx, op)
	defer func() {
		if err != nil {
			endSpan(span, err)
		}
	}()
	if err := cmd.validate(); err != nil {
		return nil, WrapError(h.provider, op, err)
	}
	dir := "" // the sandbox's default, its workdir
	if cmd.Dir != "" {
		d, err := h.resolve(ctx, op, cmd.Dir)
		if err != nil {
			return nil, err
		}
		dir = d
	}
	var tctx context.Context
	var cancel context.CancelFunc
	if cmd.Timeout > 0 {
		tctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
	} else {
		tctx, cancel = context.WithCancel(ctx)
	}
	stdout, stderr := newCaptures(cmd.Stdout, cmd.Stderr)
	dc := &driver.Cmd{
		Args:    append([]string(nil), cmd.Args...),
		Shell:   cmd.Shell,
		Dir:     dir,
		Env:     cmd.Env,
		Stdin:   cmd.Stdin,
		Stdout:  stdout,
		Stderr:  stderr,
		Timeout: cmd.Timeout,
	}
	var dp driver.Process
	err = h.run(ctx, op, func(context.Context) (err error) {
		dp, err = start(tctx, dc)
		return err
	})
	if errors.Is(err, driver.ErrProgramNotFound) && len(dc.Args) > 0 {
		dp, err = missingProgram(dc), nil
	}
	if err != nil {
		if ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) { // Cmd.Timeout expired while starting
			err = timedOut(h.provider, cmd.Timeout)
		}
		cancel()
		return nil, err
	}
	p := &Process{
		h: h, p: dp, timeout: cmd.Timeout, started: time.Now(),
		cancel: cancel, tctx: tctx, ctx: ctx,
		stdout: stdout, stderr: stderr, span: span,
		done: make(chan struct{}),
	}
	if len(dc.Args) > 0 {
		p.prog = dc.Args[0]
	}
	go p.wait()
	return p, nil
}

// Process is a command started with Handle.Start. Its methods are safe for
// concurrent use.
type Process struct {
	h       *Handle
	p       driver.Process
	prog    string        // Cmd.Args[0]; "" for a Shell command
	timeout time.Duration // Cmd.Timeout
	started time.Time
	cancel  context.CancelFunc
	tctx    context.Context // expires at Cmd.Timeout
	ctx     context.Context // the caller's
	stdout  *capture
	stderr  *capture
	span    trace.Span // the exec span, ended by wait

	done chan struct{}
	res  *Result
	err  error
}

// PID returns the process id inside the sandbox, or 0 if the provider has none.
func (p *Process) PID() int { return p.p.PID() }

// Done is closed when the process has ended and its output is delivered.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to end and returns its Result. A non-zero exit
// is an *ExitError (returned with the Result); a Cmd.Timeout that expired is
// an error matching ErrTimeout; a cancelled ctx is its ctx.Err().
func (p *Process) Wait() (*Result, error) {
	<-p.done
	return p.res, p.err
}

// Signal sends sig (os.Interrupt, os.Kill, syscall.SIGTERM, ...) to the
// process. It fails with ErrUnsupported where the provider cannot signal.
func (p *Process) Signal(ctx context.Context, sig os.Signal) error {
	s, ok := p.p.(driver.Signaler)
	if !ok {
		return WrapError(p.h.provider, "signal", Errorf(ErrUnsupported, "%s cannot signal processes", p.h.provider))
	}
	return p.h.do(ctx, "signal", func(ctx context.Context) error { return s.Signal(ctx, sig) })
}

func (p *Process) wait() {
	defer close(p.done)
	defer p.cancel()
	code, err := p.p.Wait()
	if errors.Is(err, driver.ErrProgramNotFound) && p.prog != "" { // learnt only at the end
		writeNotFound(p.stderr, p.prog)
		code, err = exitNotFound, nil
	}
	p.res = &Result{
		ExitCode:        code,
		Stdout:          p.stdout.buf,
		Stderr:          p.stderr.buf,
		StdoutTruncated: p.stdout.truncated,
		StderrTruncated: p.stderr.truncated,
		Duration:        time.Since(p.started),
	}
	switch {
	case err == nil && code == 0:
		// Success, even if the ctx ended just after.
		if p.stdout.err != nil || p.stderr.err != nil {
			p.err = &Error{Provider: p.h.provider, Op: "exec", Message: "writing the command's output failed", Err: cmp.Or(p.stdout.err, p.stderr.err)}
		}
	case p.ctx.Err() != nil:
		p.res.ExitCode = -1
		p.err = p.ctx.Err()
	case p.tctx.Err() != nil:
		p.res.ExitCode = -1
		p.err = timedOut(p.h.provider, p.timeout)
	case err != nil:
		p.err = WrapError(p.h.provider, "exec", err)
	default:
		p.err = &ExitError{Result: p.res}
	}
	p.span.SetAttributes(semconv.ProcessExitCode(p.res.ExitCode), attrStdout.Int64(p.stdout.n), attrStderr.Int64(p.stderr.n))
	var ee *ExitError
	if errors.As(p.err, &ee) { // a command's failure, not the operation's
		endSpan(p.span, nil)
	} else {
		endSpan(p.span, p.err)
	}
}

// timedOut is the error of a command whose Cmd.Timeout expired. It does not
// quote the command, which may hold a secret.
func timedOut(provider string, d time.Duration) error {
	return &Error{Provider: provider, Op: "exec", Kind: ErrTimeout, Message: fmt.Sprintf("command timed out after %s", d)}
}

// capture tees a stream to the caller's writer and keeps its first
// MaxOutput bytes. After the caller's writer fails it is skipped, so the
// command is never blocked on it, and Wait reports the failure.
type capture struct {
	w         io.Writer
	mu        *sync.Mutex // shared when Stdout and Stderr are the same writer
	buf       []byte
	n         int64 // bytes written
	truncated bool
	err       error // the caller's writer's first error
}

func (c *capture) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	if room := MaxOutput - len(c.buf); room > 0 {
		n := min(room, len(b))
		c.buf = append(c.buf, b[:n]...)
		c.truncated = c.truncated || n < len(b)
	} else if len(b) > 0 {
		c.truncated = true
	}
	if c.w != nil {
		if c.mu != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
		}
		if _, err := c.w.Write(b); err != nil {
			c.w, c.err = nil, err
		}
	}
	return len(b), nil
}

func newCaptures(stdout, stderr io.Writer) (*capture, *capture) {
	o, e := &capture{w: stdout}, &capture{w: stderr}
	if stdout != nil && sameWriter(stdout, stderr) {
		mu := new(sync.Mutex)
		o.mu, e.mu = mu, mu
	}
	return o, e
}

func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil { // incomparable dynamic types
			same = false
		}
	}()
	return a == b
}
