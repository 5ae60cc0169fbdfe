package engine

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
)

// procStart returns the start time of pid (in clock ticks since boot), or
// "" if there is no such process.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces: fields count from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" { // a zombie is gone for our purposes
		return ""
	}
	return f[19] // field 22 overall
}

func isolate(a *syscall.SysProcAttr) {
	a.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET
	if os.Geteuid() != 0 {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
	}
}

var isolation = sync.OnceValue(func() error {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	isolate(cmd.SysProcAttr)
	if err := cmd.Run(); err != nil {
		return sandagent.Errorf(sandagent.ErrUnsupported, "isolation: this system does not let us create PID, mount and network namespaces: %v", err)
	}
	return nil
})

// isolationSupported reports, once per process, whether namespaces can be
// created here.
func isolationSupported() error { return isolation() }

// waitStopped waits, briefly, until process pid has taken a SIGSTOP, so
// that Pause returns with the sandbox really paused.
func waitStopped(pid int) {
	delay := 50 * time.Microsecond
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); delay = min(2*delay, 10*time.Millisecond) {
		if procState(pid) != "R" && procState(pid) != "S" && procState(pid) != "D" {
			return // stopped (T), or gone
		}
		time.Sleep(delay)
	}
}

func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+3 > len(b) {
		return ""
	}
	return string(b[i+2])
}
