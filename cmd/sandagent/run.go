package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	// Each provider registers its URL scheme.
	_ "github.com/sandagent/sandagent/daytona"
	_ "github.com/sandagent/sandagent/e2b"
	_ "github.com/sandagent/sandagent/local"
	_ "github.com/sandagent/sandagent/sandbase"
	_ "github.com/sandagent/sandagent/sandock"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitTimeout = 124 // as timeout(1)
)

const usage = `usage: sandagent <command> [flags] [args]

Commands:
  attach   attach to (or create) the sandbox and print its id and outcome
  exec     run a command: sandagent exec [flags] -- program [args...]
  cp       copy a file in or out; the sandbox side starts with ':'
  pause    pause the sandbox (memory kept; the next attach resumes it)
  stop     stop the sandbox (files kept; the next attach starts it)
  kill     destroy the sandbox for good
  ls       list the sandboxes this library created (--json for JSON lines)
  reap     destroy managed sandboxes: --older-than 24h, --label k=v;
           a dry run unless --apply
  emulate  serve a provider's emulator: sandagent emulate e2b --addr 127.0.0.1:3000
  url      print the URL that reaches a port of the sandbox: sandagent url 8000
  pty      open a terminal in the sandbox: sandagent pty [-- program [args...]]
  fork     copy the sandbox into new ones and print their ids: sandagent fork -n 2
  mcp      serve the sandbox as MCP tools to an agent, over stdio or --http ADDR

Every command but emulate takes --url (default $SANDAGENT_URL), such as
local://my-project or, for ls and reap, the provider alone (e2b://).
Run 'sandagent <command> -h' for its flags.

Examples:
  sandagent exec --url local://demo -- sh -c 'echo hi > note.txt'
  sandagent cp --url local://demo :note.txt ./note.txt
  sandagent ls --url e2b:// --json
  sandagent reap --url daytona:// --older-than 24h --apply

Exit status: exec and pty exit with the command's status (124 if --timeout
expired); other failures exit 1; bad usage exits 2.
`

// run is the whole program, testable in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := args[0], args[1:]
	if cmd == "emulate" {
		return emulate(ctx, args, stdout, stderr)
	}
	if c, ok := commands[cmd]; ok {
		return c(ctx, args, stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("sandagent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", os.Getenv("SANDAGENT_URL"), "the sandbox `URL`, such as local://my-project")
	jsonOut := fs.Bool("json", false, "print the result as JSON (attach)")
	timeout := fs.Duration("timeout", 0, "kill the command after this long (exec)")
	dir := fs.String("dir", "", "working directory in the sandbox (exec)")
	interactive := fs.Bool("i", false, "forward standard input to the command (exec)")
	var env, labels mapFlag
	fs.Var(&env, "e", "set an environment variable `NAME=VALUE` (exec; repeatable)")
	fs.Var(&labels, "label", "only sandboxes with the label `KEY=VALUE` (reap; repeatable)")
	olderThan := fs.Duration("older-than", 0, "only sandboxes created longer ago than this (reap)")
	apply := fs.Bool("apply", false, "really destroy (reap; default: a dry run)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *url == "" {
		fmt.Fprintln(stderr, "sandagent: no sandbox: give --url or set SANDAGENT_URL")
		return exitUsage
	}
	rest := fs.Args()
	switch cmd {
	case "ls", "reap":
		m, err := manager(*url)
		if err != nil {
			return report(err, stderr)
		}
		if cmd == "ls" {
			return report(list(ctx, m, *jsonOut, stdout), stderr)
		}
		picked, err := sandagent.Reap(ctx, m, sandagent.ReapOptions{OlderThan: *olderThan, Labels: labels.m, Apply: *apply})
		if perr := printInfos(picked, *jsonOut, stdout); err == nil {
			err = perr
		}
		if err == nil && !*apply && len(picked) > 0 {
			fmt.Fprintln(stderr, "dry run: nothing destroyed; add --apply to destroy these")
		}
		return report(err, stderr)
	}

	var do func(*sandagent.Handle) int
	switch cmd {
	case "attach":
		do = func(h *sandagent.Handle) int { return printAttach(h, *jsonOut, stdout) }
	case "exec":
		if len(rest) == 0 {
			fmt.Fprintln(stderr, "sandagent exec: no command: sandagent exec --url URL -- program [args...]")
			return exitUsage
		}
		do = func(h *sandagent.Handle) int {
			return execute(ctx, h, &sandagent.Cmd{Args: rest, Dir: *dir, Env: env.m, Timeout: *timeout, Stdin: stdinIf(*interactive, stdin), Stdout: stdout, Stderr: stderr}, stderr)
		}
	case "cp":
		if len(rest) != 2 || strings.HasPrefix(rest[0], ":") == strings.HasPrefix(rest[1], ":") {
			fmt.Fprintln(stderr, "sandagent cp: want SRC DST with exactly one of them in the sandbox, written :path")
			return exitUsage
		}
		do = func(h *sandagent.Handle) int { return report(copyFile(ctx, h, rest[0], rest[1]), stderr) }
	case "pause":
		do = func(h *sandagent.Handle) int { return report(h.Pause(ctx), stderr) }
	case "stop":
		do = func(h *sandagent.Handle) int { return report(h.Stop(ctx), stderr) }
	case "kill":
		do = func(h *sandagent.Handle) int { return report(h.Destroy(ctx), stderr) }
	default:
		fmt.Fprintf(stderr, "sandagent: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}

	stopProgress := progress(stderr, "attaching")
	h, err := sandagent.Open(ctx, *url)
	stopProgress()
	if err != nil {
		return report(err, stderr)
	}
	defer h.Close()
	return do(h)
}

func printAttach(h *sandagent.Handle, asJSON bool, w io.Writer) int {
	if asJSON {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"provider": h.Provider(), "id": h.ID(), "name": h.Name(),
			"outcome": h.Outcome().String(), "workdir": h.Workdir(),
		})
		return exitOK
	}
	fmt.Fprintf(w, "%s\t%s\t%s\n", h.ID(), h.Outcome(), h.Workdir())
	return exitOK
}

func execute(ctx context.Context, h *sandagent.Handle, c *sandagent.Cmd, stderr io.Writer) int {
	res, err := h.Exec(ctx, c)
	return status(res, err, stderr)
}

// status is the exit status for a command's outcome: its own, 128+9 when
// killed, 124 when its timeout expired, else 1 with the error reported.
func status(res *sandagent.Result, err error, stderr io.Writer) int {
	var ee *sandagent.ExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		if res.ExitCode < 0 {
			return 128 + 9
		}
		return res.ExitCode
	case errors.Is(err, sandagent.ErrTimeout):
		fmt.Fprintln(stderr, "sandagent:", err)
		return exitTimeout
	}
	return report(err, stderr)
}

func copyFile(ctx context.Context, h *sandagent.Handle, src, dst string) error {
	if remote, ok := strings.CutPrefix(src, ":"); ok {
		r, err := h.NewReader(ctx, remote)
		if err != nil {
			return err
		}
		defer r.Close()
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return h.WriteFrom(ctx, strings.TrimPrefix(dst, ":"), f)
}

func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, err)
	return exitFailure
}

// stdinIf returns stdin when asked to forward it (exec -i), as docker exec
// does: not every provider can forward input, and a command that does not
// read it should not need it.
func stdinIf(forward bool, stdin io.Reader) io.Reader {
	if !forward {
		return nil
	}
	return stdin
}

// progress shows a spinner on w after a second, if w is a terminal, until
// the returned function is called.
func progress(w io.Writer, what string) func() {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTimer(time.Second)
		defer t.Stop()
		frames, i, shown := `|/-\`, 0, false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprint(f, "\r\033[K")
				}
				return
			case <-t.C:
				shown = true
				fmt.Fprintf(f, "\r%c %s…", frames[i%len(frames)], what)
				i++
				t.Reset(100 * time.Millisecond)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// mapFlag collects repeated KEY=VALUE flags.
type mapFlag struct{ m map[string]string }

func (e *mapFlag) String() string { return "" }

func (e *mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	if e.m == nil {
		e.m = map[string]string{}
	}
	e.m[k] = v
	return nil
}
