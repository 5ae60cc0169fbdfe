//go:build unix && !linux

package daytonatest

import (
	"syscall"
	"time"
)

// signalTree sends sig to root's process group and waits until the group
// is gone, or stop says to give up (false).
func signalTree(root int, sig syscall.Signal, stop func() bool) bool {
	_ = syscall.Kill(-root, sig)
	for syscall.Kill(-root, 0) == nil {
		if stop() {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
