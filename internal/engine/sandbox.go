//go:build unix

package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
)

// Sandbox is one sandbox of an Engine. It holds no state of its own beyond
// paths: every call reads the state file, so changes made by other
// processes are seen at once. Methods are safe for concurrent use.
type Sandbox struct {
	e      *Engine
	id     string
	dir    string
	work   string // the workdir: on the host, or, rooted, in the sandbox
	rooted bool
	now    Clock
}

// ID returns the sandbox's id.
func (sb *Sandbox) ID() string { return sb.id }

// Workdir returns the absolute path of the sandbox's workdir: as the
// sandbox sees it when it has a root of its own (Rooted), else on the host.
func (sb *Sandbox) Workdir() string { return sb.work }

// Rooted reports whether the sandbox has a filesystem root of its own, so
// that its paths are not the host's.
func (sb *Sandbox) Rooted() bool { return sb.rooted }

// Meta returns the sandbox's state, first applying an expired timeout.
func (sb *Sandbox) Meta() (Meta, error) {
	m, err := sb.readMeta()
	if err != nil || !sb.expired(m) {
		return m, err
	}
	err = sb.change(func(m *Meta) error { return nil })
	if err != nil {
		return m, err
	}
	return sb.readMeta()
}

func (sb *Sandbox) expired(m Meta) bool {
	return m.State == Running && !m.EndAt.IsZero() && !sb.now().Before(m.EndAt)
}

// change runs fn on the state under the exclusive lock, after applying an
// expired timeout, and saves what fn left.
func (sb *Sandbox) change(fn func(m *Meta) error) error {
	unlock, err := sb.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := sb.readMeta()
	if err != nil {
		return err
	}
	if sb.expired(m) {
		if m.AutoPause {
			sb.signalAll(m, syscall.SIGSTOP)
			m.State = Paused
		} else {
			sb.killAll(m)
			m.State = Stopped
		}
	}
	if err := fn(&m); err != nil {
		_ = sb.writeMeta(m) // keep the timeout's effect
		return err
	}
	return sb.writeMeta(m)
}

// lock takes the sandbox's lock; a sandbox that is gone is ErrNotFound.
func (sb *Sandbox) lock(exclusive bool) (unlock func(), err error) {
	unlock, err = lockFile(filepath.Join(sb.dir, "lock"), exclusive)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sandagent.Errorf(sandagent.ErrNotFound, "sandbox %s not found", sb.id)
	}
	return unlock, err
}

func stateErr(id, op, state string) error {
	return sandagent.Errorf(sandagent.ErrState, "cannot %s sandbox %s: it is %s", op, id, state)
}

// Pause stops every process of the sandbox (SIGSTOP), keeping its memory.
func (sb *Sandbox) Pause() error {
	return sb.change(func(m *Meta) error {
		switch m.State {
		case Paused:
			return nil
		case Running:
			sb.signalAll(*m, syscall.SIGSTOP)
			m.State = Paused
			return nil
		}
		return stateErr(sb.id, "pause", m.State)
	})
}

// Resume continues a paused sandbox's processes and restarts its timeout.
// Resuming a running sandbox restarts its timeout only.
func (sb *Sandbox) Resume() error {
	return sb.change(func(m *Meta) error {
		switch m.State {
		case Paused, Running:
			if m.State == Paused || !m.Rooted { // a running cgroup is not frozen
				sb.signalAll(*m, syscall.SIGCONT)
			}
			m.State = Running
			sb.restartTimeout(m)
			return nil
		}
		return stateErr(sb.id, "resume", m.State)
	})
}

// Stop kills every process of the sandbox; its files stay.
func (sb *Sandbox) Stop() error {
	return sb.change(func(m *Meta) error {
		sb.killAll(*m)
		m.State = Stopped
		return nil
	})
}

// Start makes a stopped sandbox running again, with a fresh timeout.
func (sb *Sandbox) Start() error {
	return sb.change(func(m *Meta) error {
		if m.State == Paused {
			return stateErr(sb.id, "start", m.State)
		}
		m.State = Running
		sb.restartTimeout(m)
		return nil
	})
}

// SetTimeout makes a running sandbox time out d from now.
func (sb *Sandbox) SetTimeout(d time.Duration) error {
	return sb.change(func(m *Meta) error {
		if m.State != Running {
			return stateErr(sb.id, "set the timeout of", m.State)
		}
		m.Timeout = d
		sb.restartTimeout(m)
		return nil
	})
}

func (sb *Sandbox) restartTimeout(m *Meta) {
	m.EndAt = time.Time{}
	if m.Timeout > 0 {
		m.EndAt = sb.now().Add(m.Timeout)
	}
}

// Destroy kills the sandbox's processes and deletes it. Destroying a
// sandbox that is gone is not an error.
func (sb *Sandbox) Destroy() error {
	err := sb.change(func(m *Meta) error {
		if m.Rooted {
			pid := sb.initPID()
			if err := cgroupKill(m.Cgroup); err != nil {
				return err
			}
			reapInit(pid)
		}
		sb.killAll(*m)
		return os.Remove(filepath.Join(sb.dir, "meta.json"))
	})
	if err != nil && !errors.Is(err, sandagent.ErrNotFound) {
		return err
	}
	// Volumes are symlinks, or mounts of a namespace that has gone with its
	// processes: RemoveAll deletes the links, not the host data.
	return os.RemoveAll(sb.dir)
}

// A proc record is "<pid> <start-time>": the start time tells a live
// process from a later one that reuses its pid.
func (sb *Sandbox) record(pid int) (remove func(), err error) {
	p := filepath.Join(sb.dir, "procs", strconv.Itoa(pid))
	if err := os.WriteFile(p, []byte(strconv.Itoa(pid)+" "+procStart(pid)), 0o644); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(p) }, nil
}

// groups returns the live process groups the sandbox started.
func (sb *Sandbox) groups() []int {
	ents, err := os.ReadDir(filepath.Join(sb.dir, "procs"))
	if err != nil {
		return nil
	}
	var out []int
	marker := sb.marker()
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(sb.dir, "procs", ent.Name()))
		if err != nil {
			continue
		}
		pidStr, start, _ := strings.Cut(string(b), " ")
		pid, err := strconv.Atoi(pidStr)
		alive := procStart(pid)
		// A group outlives its leader while a member lives, and its id is not
		// reused meanwhile; a live leader must be the very process we started.
		// After its leader exits, a group is ours only while a member still
		// carries our marker: the pid may since lead another sandbox's group.
		if err != nil || pid <= 1 || (alive != "" && alive != start) ||
			(alive == "" && (syscall.Kill(-pid, 0) != nil || !groupCarries(pid, marker))) {
			_ = os.Remove(filepath.Join(sb.dir, "procs", ent.Name()))
			continue
		}
		out = append(out, pid)
	}
	return out
}

// marker is the environment entry ("NAME=id") every process of the
// sandbox carries.
func (sb *Sandbox) marker() string {
	m, err := sb.readMeta()
	if err != nil || m.MarkerVar == "" {
		return MarkerVar + "=" + sb.id
	}
	return m.MarkerVar + "=" + sb.id
}

// signalAll signals the sandbox's process groups and, where the system
// shows environments, every process carrying the sandbox's marker, even
// one that left its group (setsid) or whose group's record was lost.
//
// A rooted sandbox's processes are all in its cgroup: SIGSTOP freezes it,
// SIGCONT thaws it, at a cost that grows with the sandbox, not the host.
func (sb *Sandbox) signalAll(m Meta, sig syscall.Signal) {
	if m.Rooted {
		switch sig {
		case syscall.SIGSTOP:
			if cgroupWrite(m.Cgroup, "cgroup.freeze", "1") == nil {
				cgroupWait(m.Cgroup, "frozen 1")
			}
		case syscall.SIGCONT:
			_ = cgroupWrite(m.Cgroup, "cgroup.freeze", "0")
		}
		return
	}
	groups := sb.groups()
	for _, pg := range groups {
		_ = syscall.Kill(-pg, sig)
	}
	pids := marked(sb.marker())
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	if sig == syscall.SIGSTOP {
		waitStopped(groups, pids)
	}
}

func (sb *Sandbox) killAll(m Meta) {
	if m.Rooted {
		pid := sb.initPID()
		_ = cgroupKill(m.Cgroup)
		reapInit(pid)
		_ = os.Remove(filepath.Join(sb.dir, "init"))
		return
	}
	for _, pg := range sb.groups() {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		_ = syscall.Kill(-pg, syscall.SIGCONT) // a stopped group dies only once continued
	}
	for _, pid := range marked(sb.marker()) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	// The records go with the processes: the waiters remove them as well,
	// but a process of another, exited, program has no waiter.
	_ = os.RemoveAll(filepath.Join(sb.dir, "procs"))
	_ = os.MkdirAll(filepath.Join(sb.dir, "procs"), 0o755)
}

// requireRunning returns ErrState unless m is running.
func requireRunning(m Meta, op string) error {
	if m.State != Running {
		return stateErr(m.ID, op, m.State)
	}
	return nil
}
