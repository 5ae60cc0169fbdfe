package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
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
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitTimeout  = 124 // as timeout(1)
	exitNotFound = 127 // the program does not exist, as in a shell
)

// stdio is a command's standard streams.
type stdio struct {
	in          io.Reader
	out, errOut io.Writer
}

// command is one subcommand: its line in the usage, and setup, which
// defines its flags on fs and returns what runs it with the arguments left
// after the flags. Add a command with one entry in commands.
type command struct {
	summary string
	args    string // after the flags, for its usage line
	setup   func(fs *flag.FlagSet, io stdio) func(ctx context.Context, args []string) int
	// own, instead of setup, runs a command that parses its own flags.
	own func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands are the subcommands, by name.
var commands = map[string]command{
	"attach": {"attach to (or create) the sandbox and print its id and outcome", "", setupAttach, nil},
	"exec":   {"run a command: sandagent exec [flags] -- program [args...]", "-- program [args...]", setupExec, nil},
	"cp":     {"copy a file in or out; the sandbox side starts with ':'", "SRC DST", setupCopy, nil},
	"pause":  {"pause the sandbox (memory kept; the next attach resumes it)", "", setupLifecycle("pause"), nil},
	"stop":   {"stop the sandbox (files kept; the next attach starts it)", "", setupLifecycle("stop"), nil},
	"kill":   {"destroy the sandbox for good", "", setupLifecycle("kill"), nil},
	"ls":     {"list the sandboxes this library created (--json for JSON lines)", "", setupList, nil},
	"reap":   {"destroy managed sandboxes: --older-than 24h, --label k=v; a dry run unless --apply", "", setupReap, nil},
	"emulate": {summary: "serve a provider's emulator: sandagent emulate e2b --addr 127.0.0.1:3000", args: "PROVIDER",
		own: func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
			return emulate(ctx, args, stdout, stderr)
		}},
	"url":  {summary: "print the URL that reaches a port of the sandbox: sandagent url 8000", own: urlCommand},
	"fork": {summary: "copy the sandbox into new ones and print their ids: sandagent fork -n 2", own: forkCommand},
	"mcp":  {summary: "serve the sandbox as MCP tools to an agent, over stdio or --http ADDR", own: serveMCP},
}

// usage is the whole program's help.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: sandagent <command> [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, commands[n].summary)
	}
	b.WriteString(`
Every command but emulate takes --url (default $SANDAGENT_URL), such as
local://my-project or, for ls and reap, the provider alone (e2b://).
pause, stop and kill only look the sandbox up (by name or ?id=): they never
create one. exec and cp on a URL without a name or id destroy the sandbox
they created when they end.
Run 'sandagent <command> -h' for its flags.

Examples:
  sandagent exec --url local://demo -- sh -c 'echo hi > note.txt'
  sandagent cp --url local://demo :note.txt ./note.txt
  sandagent ls --url e2b:// --json
  sandagent reap --url daytona:// --older-than 24h --apply

Exit status: exec and pty exit with the command's status (124 if --timeout
expired, 127 if the program does not exist); interrupted by SIGINT or
SIGTERM, the command is killed and sandagent exits 130 or 143; other
failures exit 1; bad usage exits 2.
`)
	return b.String()
}

// run is the whole program, testable in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 { // help <command>
			if _, ok := commands[args[1]]; ok {
				return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
			}
		}
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	name, args := args[0], args[1:]
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "sandagent: unknown command %q\n\n%s", name, usage())
		return exitUsage
	}
	if c.own != nil { // it parses its own flags (emulate: its provider comes first)
		return c.own(ctx, args, stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("sandagent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	do := c.setup(fs, stdio{stdin, stdout, stderr})
	// The usage goes to stdout when asked for (-h), else to stderr after
	// the error.
	var help bytes.Buffer
	fs.Usage = func() {
		fmt.Fprintf(&help, "usage: sandagent %s [flags] %s\n\n%s\n\nFlags:\n", name, c.args, c.summary)
		out := fs.Output()
		fs.SetOutput(&help)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = help.WriteTo(stdout)
			return exitOK
		}
		_, _ = help.WriteTo(stderr)
		return exitUsage
	}
	return do(ctx, fs.Args())
}

// urlFlag defines --url.
func urlFlag(fs *flag.FlagSet) *string {
	return fs.String("url", os.Getenv("SANDAGENT_URL"), "the sandbox `URL`, such as local://my-project (default $SANDAGENT_URL)")
}

// needURL reports a missing --url as bad usage.
func needURL(u string, io stdio) bool {
	if u == "" {
		fmt.Fprintln(io.errOut, "sandagent: no sandbox: give --url or set SANDAGENT_URL")
		return false
	}
	return true
}

func setupAttach(fs *flag.FlagSet, io stdio) func(context.Context, []string) int {
	u := urlFlag(fs)
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	return func(ctx context.Context, _ []string) int {
		if !needURL(*u, io) {
			return exitUsage
		}
		return withHandle(ctx, *u, false, io, func(h *sandagent.Handle) int { return printAttach(h, *jsonOut, io.out) })
	}
}

func setupExec(fs *flag.FlagSet, io stdio) func(context.Context, []string) int {
	u := urlFlag(fs)
	timeout := fs.Duration("timeout", 0, "kill the command after this long")
	dir := fs.String("dir", "", "working directory in the sandbox")
	interactive := fs.Bool("i", false, "forward standard input to the command")
	var env mapFlag
	fs.Var(&env, "e", "set an environment variable `NAME=VALUE` (repeatable)")
	return func(ctx context.Context, args []string) int {
		if !needURL(*u, io) {
			return exitUsage
		}
		if len(args) == 0 {
			fmt.Fprintln(io.errOut, "sandagent exec: no command: sandagent exec --url URL -- program [args...]")
			return exitUsage
		}
		return withHandle(ctx, *u, true, io, func(h *sandagent.Handle) int {
			return execute(ctx, h, &sandagent.Cmd{Args: args, Dir: *dir, Env: env.m, Timeout: *timeout, Stdin: stdinIf(*interactive, io.in), Stdout: io.out, Stderr: io.errOut}, io.errOut)
		})
	}
}

func setupCopy(fs *flag.FlagSet, io stdio) func(context.Context, []string) int {
	u := urlFlag(fs)
	return func(ctx context.Context, args []string) int {
		if !needURL(*u, io) {
			return exitUsage
		}
		if len(args) != 2 || strings.HasPrefix(args[0], ":") == strings.HasPrefix(args[1], ":") {
			fmt.Fprintln(io.errOut, "sandagent cp: want SRC DST with exactly one of them in the sandbox, written :path")
			return exitUsage
		}
		return withHandle(ctx, *u, true, io, func(h *sandagent.Handle) int { return report(copyFile(ctx, h, args[0], args[1]), io.errOut) })
	}
}

// setupLifecycle is pause, stop and kill: they look the sandbox up and
// never create one.
func setupLifecycle(op string) func(*flag.FlagSet, stdio) func(context.Context, []string) int {
	return func(fs *flag.FlagSet, io stdio) func(context.Context, []string) int {
		u := urlFlag(fs)
		return func(ctx context.Context, _ []string) int {
			if !needURL(*u, io) {
				return exitUsage
			}
			return report(lifecycle(ctx, op, *u), io.errOut)
		}
	}
}

func setupList(fs *flag.FlagSet, io stdio) func(context.Context, []string) int {
	u := urlFlag(fs)
	jsonOut := fs.Bool("json", false, "print JSON lines")
	return func(ctx context.Context, _ []string) int {
		if !needURL(*u, io) {
			return exitUsage
		}
		m, err := manager(*u)
		if err != nil {
			return report(err, io.errOut)
		}
		return report(list(ctx, m, *jsonOut, io.out), io.errOut)
	}
}

func setupReap(fs *flag.FlagSet, io stdio) func(context.Context, []string) int {
	u := urlFlag(fs)
	jsonOut := fs.Bool("json", false, "print JSON lines")
	var labels mapFlag
	fs.Var(&labels, "label", "only sandboxes with the label `KEY=VALUE` (repeatable)")
	olderThan := fs.Duration("older-than", 0, "only sandboxes created longer ago than this")
	apply := fs.Bool("apply", false, "really destroy (default: a dry run)")
	return func(ctx context.Context, _ []string) int {
		if !needURL(*u, io) {
			return exitUsage
		}
		m, err := manager(*u)
		if err != nil {
			return report(err, io.errOut)
		}
		return report(reap(ctx, m, sandagent.ReapOptions{OlderThan: *olderThan, Labels: labels.m, Apply: *apply}, *jsonOut, io), io.errOut)
	}
}

// withHandle attaches with the URL and runs do. With unnamed, a sandbox
// the URL does not name (no name, no id) that the attach created is
// destroyed when do returns: no one could find it again.
func withHandle(ctx context.Context, rawURL string, unnamed bool, io stdio, do func(*sandagent.Handle) int) int {
	stopProgress := progress(io.errOut, "attaching")
	h, err := sandagent.Open(ctx, rawURL)
	stopProgress()
	if err != nil {
		return report(err, io.errOut)
	}
	defer h.Close()
	if unnamed && h.Outcome() == sandagent.Created {
		if name, id := target(rawURL); name == "" && id == "" {
			defer func() {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if err := h.Destroy(dctx); err != nil {
					report(err, io.errOut)
				}
			}()
		}
	}
	return do(h)
}

// target returns the name (the host) and the id a sandbox URL gives.
func target(rawURL string) (name, id string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", ""
	}
	name, _ = url.PathUnescape(u.Host)
	return name, u.Query().Get("id")
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
	return status(ctx, res, err, stderr)
}

// status is the exit status for a command's outcome: its own, 128+9 when
// killed, 124 when its timeout expired, 127 when the program does not
// exist, the report of an interruption when ctx ended, else 1 with the
// error reported.
func status(ctx context.Context, res *sandagent.Result, err error, stderr io.Writer) int {
	var ee *sandagent.ExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		if res.ExitCode < 0 {
			return 128 + 9
		}
		return res.ExitCode
	case ctx.Err() != nil:
		return report(context.Cause(ctx), stderr) // interrupted: main exits 130 or 143
	case errors.Is(err, sandagent.ErrTimeout):
		report(err, stderr)
		return exitTimeout
	case errors.Is(err, sandagent.ErrNotFound):
		report(err, stderr)
		return exitNotFound
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

// report prints err, once prefixed with "sandagent: ", and returns the
// failure status (or exitOK for a nil err).
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "sandagent") {
		msg = "sandagent: " + msg
	}
	fmt.Fprintln(stderr, msg)
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
