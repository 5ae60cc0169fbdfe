//go:build unix

package sandock

import (
	"os"
	"syscall"
)

// signalName returns sig's POSIX name and its number on Linux, where the
// sandboxes run.
func signalName(sig os.Signal) (name string, linux int, ok bool) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return "", 0, false
	}
	switch s {
	case syscall.SIGHUP:
		return "HUP", 1, true
	case syscall.SIGINT:
		return "INT", 2, true
	case syscall.SIGQUIT:
		return "QUIT", 3, true
	case syscall.SIGKILL:
		return "KILL", 9, true
	case syscall.SIGUSR1:
		return "USR1", 10, true
	case syscall.SIGUSR2:
		return "USR2", 12, true
	case syscall.SIGPIPE:
		return "PIPE", 13, true
	case syscall.SIGALRM:
		return "ALRM", 14, true
	case syscall.SIGTERM:
		return "TERM", 15, true
	case syscall.SIGCONT:
		return "CONT", 18, true
	case syscall.SIGSTOP:
		return "STOP", 19, true
	case syscall.SIGTSTP:
		return "TSTP", 20, true
	case syscall.SIGWINCH:
		return "WINCH", 28, true
	}
	return "", 0, false
}
