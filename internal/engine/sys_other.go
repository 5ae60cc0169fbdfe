//go:build unix && !linux

package engine

import (
	"fmt"
	"io"
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

// A sandbox has a root of its own on Linux only.

func (e *Engine) probeRoot() error { return fmt.Errorf("this is %s, not Linux", runtime.GOOS) }

func rootErr(err error) error {
	return sandagent.Errorf(sandagent.ErrUnsupported, "no filesystem root of its own for the sandbox (confined-directory mode): %v", err)
}

var errNotLinux = sandagent.Errorf(sandagent.ErrUnsupported, "rooted sandboxes need Linux")

func cgroupFor(string, string) (string, error)                 { return "", errNotLinux }
func cgroupWrite(string, string, string) error                 { return errNotLinux }
func cgroupWait(string, string) bool                           { return false }
func cgroupKill(string) error                                  { return errNotLinux }
func cgroupRemove(string) error                                { return errNotLinux }
func (sb *Sandbox) initPID() int                               { return 0 }
func (sb *Sandbox) ensureRoot() (int, error)                   { return 0, errNotLinux }
func (sb *Sandbox) startInit(Meta) (int, error)                { return 0, errNotLinux }
func (sb *Sandbox) inSandbox(int, func() error) error          { return errNotLinux }
func (sb *Sandbox) rootedResolve(string, bool) (string, error) { return "", errNotLinux }
func (sb *Sandbox) rootedOpen(string) (io.ReadCloser, error)   { return nil, errNotLinux }
func (sb *Sandbox) rootedWrite(string, io.Reader) error        { return errNotLinux }
func (sb *Sandbox) rootedStat(string) (FileInfo, error)        { return FileInfo{}, errNotLinux }
func (sb *Sandbox) rootedListDir(string) ([]FileInfo, error)   { return nil, errNotLinux }
func (sb *Sandbox) rootedMakeDir(string) error                 { return errNotLinux }
func (sb *Sandbox) rootedRemove(string) error                  { return errNotLinux }

func intoCgroup(*syscall.SysProcAttr, int) {}

func (sb *Sandbox) inRootPath(_ Meta, p string) string { return p }
func reapInit(int)                                     {}

func (sb *Sandbox) rootedRealPath(string, bool) (string, error) { return "", errNotLinux }

// copyOpaque has no overlays to copy the marks of here.
func copyOpaque(_, _ string) error { return nil }
