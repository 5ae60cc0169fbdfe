//go:build unix

package engine

import (
	"os"
	"os/exec"
)

// onTerminal makes tty cmd's standard input, output and error and its
// controlling terminal. cmd then leads a new session, and so its own
// process group, as every command of a sandbox does.
func onTerminal(cmd *exec.Cmd, tty *os.File) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	a := cmd.SysProcAttr
	a.Setpgid = false // setsid makes the group; setpgid after it would fail
	a.Setsid = true
	a.Setctty = true
	a.Ctty = 0 // stdin, in the child
}
