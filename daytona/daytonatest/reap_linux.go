package daytonatest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procState returns the state letter of pid ('Z' for a zombie), or 0 when
// there is no such process.
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) state ...; comm may hold spaces.
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(rest) == 0 {
		return 0
	}
	return rest[0][0]
}

// children returns pid's children, zombies included.
func children(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// signalTree sends sig once to every process of root's tree, deepest
// first, and to root itself once it has no children left, so that the
// session's shell is alive to reap its commands (an orphan would wait for
// an init that may never reap it). Processes started meanwhile get it too.
// It reports true once the tree is gone (root a zombie at most), false when
// stop says to give up first.
func signalTree(root int, sig syscall.Signal, stop func() bool) bool {
	signalled := map[int]bool{}
	pause := 500 * time.Microsecond
	for {
		live := 0
		var walk func(pid int)
		walk = func(pid int) {
			if st := procState(pid); st == 0 || st == 'Z' {
				return
			}
			live++
			kids := children(pid)
			for _, c := range kids {
				walk(c)
			}
			if !signalled[pid] && (pid != root || len(kids) == 0) {
				signalled[pid] = true
				_ = syscall.Kill(pid, sig)
			}
		}
		if stop() {
			return false
		}
		walk(root)
		if live == 0 {
			return true
		}
		time.Sleep(pause)
		pause = min(pause*2, 20*time.Millisecond)
	}
}
