package daytonatest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killMembers kills every process of the process group pgid but its
// leader, so that the leader, a shell, reaps them: killed all at once, the
// orphans would wait for an init that may not reap them.
func killMembers(pgid int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pgid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
