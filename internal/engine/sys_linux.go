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
func waitStopped(groups, pids []int) {
	delay := 50 * time.Microsecond
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); delay = min(2*delay, 10*time.Millisecond) {
		if !anyRunning(groups, pids) {
			return
		}
		time.Sleep(delay)
	}
}

// anyRunning reports whether a process of one of the groups, or one of
// pids, is still running or sleeping. A stopped one (T), a zombie and one
// in uninterruptible sleep (D: in the kernel, with the stop pending, or a
// shell waiting on a vforked child that the stop has stopped) run no more
// code of their own.
func anyRunning(groups, pids []int) bool {
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
		if (slices.Contains(groups, pgrp) || slices.Contains(pids, pid)) && (state == "R" || state == "S") {
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
	found := false
	eachLive(func(pid, pgrp int) bool {
		found = pgrp == pgid && environHas(pid, marker)
		return !found
	})
	return found
}

// marked returns the live processes whose environment holds marker
// ("NAME=value"): the sandbox's, whatever process group they are in now.
func marked(marker string) []int {
	var pids []int
	eachLive(func(pid, _ int) bool {
		if environHas(pid, marker) {
			pids = append(pids, pid)
		}
		return true
	})
	return pids
}

// eachLive calls f with every live process and its group until f says stop.
func eachLive(f func(pid, pgrp int) bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if state, pgrp := procStateGroup(pid); state != "" && state != "Z" && !f(pid, pgrp) {
			return
		}
	}
}

// environHas reports whether marker is one of pid's environment entries.
func environHas(pid int, marker string) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if string(kv) == marker {
			return true
		}
	}
	return false
}
