//go:build !unix

package sandock

import (
	"os"
	"syscall"
)

// signalName returns sig's POSIX name and its number on Linux, where the
// sandboxes run.
func signalName(sig os.Signal) (name string, linux int, ok bool) {
	switch sig {
	case os.Interrupt:
		return "INT", 2, true
	case os.Kill:
		return "KILL", 9, true
	case syscall.SIGTERM:
		return "TERM", 15, true
	case syscall.SIGHUP:
		return "HUP", 1, true
	}
	return "", 0, false
}
