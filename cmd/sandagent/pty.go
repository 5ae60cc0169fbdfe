//go:build unix

package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/sandagent/sandagent"
)

func init() {
	commands["pty"] = ptyCommand
}

// defaultShell is what pty runs when given no program.
const defaultShell = "command -v bash >/dev/null 2>&1 && exec bash; exec sh"

// ptyCommand runs a program (default: the sandbox's bash, else sh) on a
// terminal in the sandbox, connected to this one: the local terminal is in
// raw mode meanwhile (restored on exit), so every key, Ctrl-C included,
// goes to the sandbox, and a resize of the window resizes the sandbox's
// terminal. It exits with the program's exit status. When standard input
// is not a terminal, its end is typed as Ctrl-D.
func ptyCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandagent pty", flag.ContinueOnError)
	dir := fs.String("dir", "", "working directory in the sandbox")
	h, rest, code := attachWith(ctx, fs, args, stderr)
	if h == nil {
		return code
	}
	defer h.Close()
	cmd := &sandagent.Cmd{Args: rest, Dir: *dir, Env: map[string]string{"TERM": cmp.Or(os.Getenv("TERM"), "xterm-256color")}}
	if len(rest) == 0 {
		cmd.Shell = defaultShell
	}

	in, inTerm := terminalFd(stdin)
	out, outTerm := terminalFd(stdout)
	size := sandagent.TermSize{Rows: 24, Cols: 80}
	if outTerm {
		size = termSize(out, size)
	}
	p, err := h.StartPTY(ctx, cmd, size)
	if err != nil {
		return report(err, stderr)
	}
	defer p.Close()
	if inTerm {
		old, err := term.MakeRaw(in)
		if err != nil {
			return report(fmt.Errorf("raw mode: %w", err), stderr)
		}
		defer func() { _ = term.Restore(in, old) }()
	}
	if outTerm {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for {
				select {
				case <-winch:
					_ = p.Resize(ctx, termSize(out, size))
				case <-p.Done():
					return
				}
			}
		}()
	}
	go func() {
		_, _ = io.Copy(p, stdin)
		if !inTerm {
			_, _ = p.Write([]byte{4}) // Ctrl-D: end of input
		}
	}()
	_, copyErr := io.Copy(stdout, p)
	res, err := p.Wait()
	if err == nil && copyErr != nil {
		err = copyErr
	}
	return status(res, err, stderr)
}

// terminalFd returns f's descriptor and whether it is a terminal.
func terminalFd(f any) (int, bool) {
	file, ok := f.(*os.File)
	if !ok {
		return -1, false
	}
	fd := int(file.Fd())
	return fd, term.IsTerminal(fd)
}

// termSize returns the size of the terminal fd, or def.
func termSize(fd int, def sandagent.TermSize) sandagent.TermSize {
	cols, rows, err := term.GetSize(fd)
	if err != nil || rows <= 0 || cols <= 0 || rows > 0xffff || cols > 0xffff {
		return def
	}
	return sandagent.TermSize{Rows: uint16(rows), Cols: uint16(cols)}
}
