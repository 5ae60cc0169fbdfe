//go:build unix && !linux

package engine

import (
	"runtime"
	"syscall"

	"github.com/sandagent/sandagent"
)

// procStart cannot tell a reused pid here: a live pid is taken as ours.
func procStart(pid int) string {
	if syscall.Kill(pid, 0) != nil {
		return ""
	}
	return "0"
}

func isolate(*syscall.SysProcAttr) {}

func isolationSupported() error {
	return sandagent.Errorf(sandagent.ErrUnsupported, "isolation needs Linux namespaces; this is %s", runtime.GOOS)
}

func waitStopped(_, _ []int) {}

// groupCarries cannot look at other processes' environments here: a live
// group is taken as ours.
func groupCarries(int, string) bool { return true }

// marked cannot look at other processes' environments here: the records
// of the process groups are all there is.
func marked(string) []int { return nil }
