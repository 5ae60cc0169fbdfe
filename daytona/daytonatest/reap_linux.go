package daytonatest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procTree reads /proc: each process's children, and which processes are
// zombies.
func procTree() (children map[int][]int, zombie map[int]bool) {
	children, zombie = map[int][]int{}, map[int]bool{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return children, zombie
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
		zombie[pid] = fields[0] == "Z"
	}
	return children, zombie
}

// signalTree sends sig to root and all its descendants, each process once
// its own children are gone, so that every parent is alive to reap its
// children (an orphan would wait for an init that may never reap it). It
// reports true once the tree is gone (root a zombie at most), false when
// stop says to give up first.
func signalTree(root int, sig syscall.Signal, stop func() bool) bool {
	signalled := map[int]bool{}
	for {
		children, zombie := procTree()
		live := 0
		var walk func(pid int)
		walk = func(pid int) {
			if zombie[pid] {
				return
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				return
			}
			live++
			for _, c := range children[pid] {
				walk(c)
			}
			if len(children[pid]) == 0 && !signalled[pid] {
				signalled[pid] = true
				_ = syscall.Kill(pid, sig)
			}
		}
		walk(root)
		if live == 0 {
			return true
		}
		if stop() {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
