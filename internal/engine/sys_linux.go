package engine

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
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

// waitStopped waits, briefly, until every process of the groups has taken
// a SIGSTOP, so that Pause returns with the sandbox really paused. A group
// may have outlived its leader (`nohup cmd &`), so members are found by
// their process group in /proc.
func waitStopped(groups []int) {
	delay := 50 * time.Microsecond
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); delay = min(2*delay, 10*time.Millisecond) {
		if !anyRunning(groups) {
			return
		}
		time.Sleep(delay)
	}
}

// anyRunning reports whether a process of one of the groups is not yet
// stopped (or a zombie).
func anyRunning(groups []int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		state, pgrp := procStateGroup(pid)
		if slices.Contains(groups, pgrp) && (state == "R" || state == "S" || state == "D") {
			return true
		}
	}
	return false
}

// procStateGroup returns the state letter and process group of pid.
func procStateGroup(pid int) (string, int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0
	}
	f := strings.Fields(string(b[i+1:])) // state, ppid, pgrp, ...
	if len(f) < 3 {
		return "", 0
	}
	pgrp, _ := strconv.Atoi(f[2])
	return f[0], pgrp
}

// groupCarries reports whether a live member of process group pgid has
// marker ("NAME=value") in its environment.
func groupCarries(pgid int, marker string) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: keep the group, as without the check
	}
	want := []byte(marker)
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if state, pgrp := procStateGroup(pid); pgrp != pgid || state == "Z" || state == "" {
			continue
		}
		env, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				return true
			}
		}
	}
	return false
}
