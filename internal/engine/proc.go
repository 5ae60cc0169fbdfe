//go:build unix

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
)

// Cmd is a command for Spawn.
type Cmd struct {
	Args   []string // argv; or
	Shell  string   // a command line for /bin/sh -c
	Dir    string   // absolute, inside the work tree; empty: the work tree
	Env    map[string]string
	Stdin  io.Reader // nil: /dev/null
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded
	TTY    *os.File  // a terminal: then stdin, stdout and stderr, and the controlling terminal of a new session
	// CleanEnv makes Env the whole environment (with the sandbox's marker):
	// neither the base variables nor the sandbox's are added.
	CleanEnv bool
	// NoGroup leaves the process in the caller's process group, as a
	// daemon's children are, instead of its own: ctx and Signal then reach
	// the process alone (the sandbox's Pause, Stop and Destroy still reach
	// it and its children: by the sandbox's cgroup when it has a root of its
	// own, else by the marker, where the system shows environments).
	NoGroup bool
}

// Proc is a running process group of a sandbox.
//
// A command ends when its output ends, as in os/exec: Wait returns once the
// process has exited and every process holding its stdout or stderr has
// closed them, with all output delivered to the writers. A background child
// that keeps the output open (`server &`) keeps the command running until
// it exits; one started with its output redirected (`server >log 2>&1 &`)
// does not. When the command is killed (its ctx ends), see cutAfter.
type Proc struct {
	cmd    *exec.Cmd
	pid    int
	done   chan struct{}
	code   int
	err    error
	stdin  io.WriteCloser
	remove func()
	out    []*output  // the copiers of stdout and stderr
	wends  []*os.File // their write ends, until given to the command
	// noGroup: the process leads no group; it alone is signalled.
	noGroup bool
}

// output copies one of the command's pipes to a writer until every holder
// of the pipe's write end has closed it.
type output struct {
	r    *os.File
	done chan error
}

// pipeTo returns the write end to give the command, for w; for nil w, nil
// (os/exec gives the command /dev/null); for a file, the file itself,
// which stays the caller's (it reads the other end of its own pipe).
func (p *Proc) pipeTo(w io.Writer) (io.Writer, error) {
	if w == nil {
		return nil, nil
	}
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	r, wf, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &output{r: r, done: make(chan error, 1)}
	p.out = append(p.out, o)
	p.wends = append(p.wends, wf)
	go func() {
		_, err := io.Copy(w, r)
		_ = r.Close() // a writer that failed: the command gets EPIPE
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil // cut on purpose: the command was killed
		}
		o.done <- err
	}()
	return wf, nil
}

// Spawn starts cmd in the sandbox, in its own process group. The group is
// killed when ctx ends. The sandbox must be running.
func (sb *Sandbox) Spawn(ctx context.Context, c Cmd) (*Proc, error) {
	m, err := sb.Meta() // applies an expired timeout first
	if err != nil {
		return nil, err
	}
	dir := sb.work
	initPID := 0
	switch {
	case m.Rooted:
		if err := requireRunning(m, "run a command in"); err != nil {
			return nil, err
		}
		if c.Dir != "" {
			dir = filepath.Join(sb.work, c.Dir) // kept as is when absolute
			if filepath.IsAbs(c.Dir) {
				dir = filepath.Clean(c.Dir)
			}
		}
		if initPID, err = sb.ensureRoot(); err != nil {
			return nil, err
		}
	case c.Dir != "":
		if dir, err = sb.Resolve(c.Dir, false); err != nil {
			return nil, err
		}
	}
	unlock, err := sb.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if m, err = sb.readMeta(); err != nil {
		return nil, err
	}
	if err := requireRunning(m, "run a command in"); err != nil {
		return nil, err
	}
	p := &Proc{done: make(chan struct{}), remove: func() {}, noGroup: c.NoGroup}
	if !m.Rooted {
		err = sb.start(p, m, c, dir, nil)
	} else if sb.initPID() != initPID {
		err = sandagent.Errorf(sandagent.ErrState, "sandbox %s was stopped while the command was starting", sb.id)
	} else {
		var cg *os.File
		if cg, err = os.Open(m.Cgroup); err == nil {
			// Paths are looked up, and the command started, in the sandbox.
			err = sb.inSandbox(initPID, func() error { return sb.start(p, m, c, dir, cg) })
			cg.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	if !m.Rooted { // a rooted sandbox's cgroup knows its processes
		if p.remove, err = sb.record(p.pid); err != nil {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			_ = p.cmd.Wait()
			p.closeOutput()
			return nil, err
		}
	}
	if c.Stdin != nil {
		go func() {
			_, _ = io.Copy(p.stdin, c.Stdin)
			_ = p.stdin.Close()
		}()
	}
	go p.wait(ctx)
	return p, nil
}

// cutAfter is how long, once a command is killed, its output is still
// read: what its processes wrote before they died is delivered, and a
// process that left its group but holds the output does not keep Wait
// waiting. It applies to killed commands only; one that exits on its own is
// waited for until its output ends.
const cutAfter = 100 * time.Millisecond

// start starts c as p, in dir, in cgroup cg if not nil.
func (sb *Sandbox) start(p *Proc, m Meta, c Cmd, dir string, cg *os.File) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return sandagent.Errorf(sandagent.ErrInvalid, "working directory %q does not exist in the sandbox", dir)
	}
	env := sb.environ(m, c)
	var cmd *exec.Cmd
	if c.Shell != "" {
		cmd = exec.Command("/bin/sh", "-c", c.Shell)
	} else {
		path, err := lookPath(c.Args[0], env, dir)
		if err != nil {
			return err
		}
		cmd = exec.Command(path, c.Args[1:]...)
		cmd.Args[0] = c.Args[0]
	}
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !c.NoGroup}
	if cg != nil {
		intoCgroup(cmd.SysProcAttr, int(cg.Fd()))
	}
	if m.Isolate {
		isolate(cmd.SysProcAttr)
	}
	p.cmd = cmd
	var err error
	switch {
	case c.TTY != nil:
		onTerminal(cmd, c.TTY)
	// The pipes are ours, not os/exec's, so that Wait waits for the output
	// to end however long it takes (see Proc).
	case c.Stdout != nil && c.Stdout == c.Stderr:
		cmd.Stdout, err = p.pipeTo(c.Stdout)
		cmd.Stderr = cmd.Stdout
	default:
		if cmd.Stdout, err = p.pipeTo(c.Stdout); err == nil {
			cmd.Stderr, err = p.pipeTo(c.Stderr)
		}
	}
	if err != nil {
		p.closeOutput()
		return err
	}
	if c.Stdin != nil && c.TTY == nil {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			p.closeOutput()
			return err
		}
	}
	err = cmd.Start()
	p.closeWriteEnds() // the command's now, and its children's
	if err != nil {
		p.closeOutput()
		if m.Isolate && errors.Is(err, syscall.EPERM) {
			return sandagent.Errorf(sandagent.ErrUnsupported, "isolation: creating namespaces is not permitted here: %v", err)
		}
		return err
	}
	p.pid = cmd.Process.Pid
	return nil
}

func (p *Proc) wait(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		if p.noGroup {
			_ = p.cmd.Process.Kill()
		} else {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			_ = syscall.Kill(-p.pid, syscall.SIGCONT)
		}
		for _, o := range p.out {
			_ = o.r.SetReadDeadline(time.Now().Add(cutAfter))
		}
	})
	err := p.cmd.Wait()
	for _, o := range p.out {
		if cerr := <-o.done; cerr != nil && (err == nil || errors.As(err, new(*exec.ExitError))) {
			err = cerr // the writer failed
		}
	}
	stop()
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	// The group may outlive its leader: take the rest down with it only when
	// the command was killed, so `cmd >log &` survives a normal exit.
	if ctx.Err() != nil && !p.noGroup {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
	if syscall.Kill(-p.pid, 0) != nil { // else Stop and Pause still need the record
		p.remove()
	}
	p.code = -1
	if st := p.cmd.ProcessState; st != nil {
		p.code = st.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.err = err
	}
	close(p.done)
}

// closeWriteEnds closes the parent's copies of the pipes' write ends given
// to the command, so that a copier sees the end of output when the
// command's processes have closed theirs. A terminal (Cmd.TTY) stays the
// caller's.
func (p *Proc) closeWriteEnds() {
	for _, f := range p.wends {
		_ = f.Close()
	}
	p.wends = nil
}

// closeOutput ends the copiers of a command that did not start.
func (p *Proc) closeOutput() {
	p.closeWriteEnds()
	for _, o := range p.out {
		<-o.done
	}
}

// PID returns the process id (on the host; it leads its process group).
func (p *Proc) PID() int { return p.pid }

// Done is closed when the process has exited and its output is delivered.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process and returns its exit code, -1 if a signal
// killed it.
func (p *Proc) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

// ProcessState describes the exited process (as os/exec does: "exit
// status 1", "signal: killed"), or is nil before Done is closed.
func (p *Proc) ProcessState() *os.ProcessState {
	select {
	case <-p.done:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

// Signal sends sig to the process group (to the process alone with
// Cmd.NoGroup).
func (p *Proc) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return sandagent.Errorf(sandagent.ErrUnsupported, "signal %v", sig)
	}
	select {
	case <-p.done:
		return sandagent.Errorf(sandagent.ErrNotFound, "process %d has exited", p.pid)
	default:
	}
	if p.noGroup {
		if err := p.cmd.Process.Signal(s); err != nil {
			return sandagent.Errorf(sandagent.ErrNotFound, "process %d has exited", p.pid)
		}
		return nil
	}
	err := syscall.Kill(-p.pid, s)
	if errors.Is(err, syscall.ESRCH) {
		return sandagent.Errorf(sandagent.ErrNotFound, "process %d has exited", p.pid)
	}
	return err
}

// MarkerVar names the environment variable every process of a sandbox
// carries: the sandbox's id.
const MarkerVar = "SANDAGENT_SANDBOX_ID"

// environ is the base environment, then the sandbox's, then the command's.
// The host's environment is not inherited (it may hold secrets), only PATH.
// With Cmd.CleanEnv, only the command's.
func (sb *Sandbox) environ(m Meta, c Cmd) []string {
	vars := map[string]string{}
	if !c.CleanEnv {
		vars = map[string]string{
			"PATH":  cmpOr(os.Getenv("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
			"HOME":  sb.work,
			"SHELL": "/bin/sh",
			"LANG":  "C.UTF-8",
		}
		for k, v := range m.Env {
			vars[k] = v
		}
	}
	for k, v := range c.Env {
		vars[k] = v
	}
	// The marker by which a group whose leader has exited is known as this
	// sandbox's, whatever pid reuse did meanwhile (see groups).
	vars[cmpOr(m.MarkerVar, MarkerVar)] = sb.id
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// lookPath finds prog in the PATH of env, as the sandbox sees it.
func lookPath(prog string, env []string, dir string) (string, error) {
	if strings.Contains(prog, "/") {
		if !filepath.IsAbs(prog) {
			prog = filepath.Join(dir, prog)
		}
		if fi, err := os.Stat(prog); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return prog, nil
		}
		return "", notFound("program %q not found", prog)
	}
	var pathVar string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", notFound("program %q not found in the sandbox's PATH", prog)
}

// notFound is the error of a missing program: ErrNotFound, and
// driver.ErrProgramNotFound for the Handle, which makes it an exit 127.
func notFound(format string, args ...any) error {
	return &sandagent.Error{Kind: sandagent.ErrNotFound, Message: fmt.Sprintf(format, args...), Err: driver.ErrProgramNotFound}
}
