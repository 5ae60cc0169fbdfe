//go:build linux

package engine

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandagent/sandagent"
)

// A rooted sandbox (see the package doc) has, under its directory:
//
//	fs/upper, fs/work  the overlay's upper and work directories: its writes
//	fs/root            where the overlay is mounted before the pivot
//	fs/tmp             its /tmp
//	init               "<pid> <start-time>" of the init holding its mounts
//
// and a cgroup (Meta.Cgroup) holding the init and every process it runs.

// probeRoot checks, once per Engine, that this process can give a sandbox
// a root under e's directory: a mount namespace, an overlay whose upper
// directory lies there, and a cgroup v2 of its own.
func (e *Engine) probeRoot() error {
	e.rootOnce.Do(func() { e.rootErr = e.tryRoot() })
	return e.rootErr
}

func (e *Engine) tryRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("running as uid %d, not root", os.Geteuid())
	}
	if _, err := cgroupBase(); err != nil {
		return err
	}
	dir, unstage, err := e.stage(".probe-")
	if err != nil {
		return err
	}
	defer unstage()
	defer os.RemoveAll(dir)
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("creating a mount namespace: %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making mounts private: %w", err)
		}
		if err := mountOverlay(dir); err != nil {
			return err
		}
		return nil // the namespace and its mount go with the thread
	})
}

// onThread runs fn on an OS thread of its own that is thrown away after:
// fn may change the thread's namespaces and root.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		errc <- fn()
	}()
	return <-errc
}

// mountOverlay mounts, at dir/root, the host's root file system with
// dir/upper over it. Paths are relative to dir, so that any character may
// appear in it.
func mountOverlay(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	if err := unix.Mount("overlay", "root", "overlay", 0, "lowerdir=/,upperdir=upper,workdir=work"); err != nil {
		return fmt.Errorf("mounting an overlay of / with its upper directory in %s: %w", dir, err)
	}
	return nil
}

// cgroupBase returns the cgroup v2 directory this process is in.
func cgroupBase() (string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	var mnt string
	sc := bufio.NewScanner(bytes.NewReader(mi))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if f := strings.Fields(pre); ok && len(f) > 4 && strings.HasPrefix(post, "cgroup2 ") {
			mnt = f[4]
			break
		}
	}
	if mnt == "" {
		return "", errors.New("no cgroup v2 hierarchy is mounted")
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			dir := filepath.Join(mnt, p)
			if unix.Access(dir, unix.W_OK) != nil {
				return "", fmt.Errorf("cgroup %s is not writable", dir)
			}
			return dir, nil
		}
	}
	return "", errors.New("this process is in no cgroup v2")
}

// cgroupFor names the cgroup of sandbox id of the engine at root.
func cgroupFor(root, id string) (string, error) {
	base, err := cgroupBase()
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(root))
	return filepath.Join(base, "sandagent-"+hex.EncodeToString(h[:4])+"-"+id), nil
}

// initPID returns the pid of the sandbox's live init, or 0.
func (sb *Sandbox) initPID() int {
	b, err := os.ReadFile(filepath.Join(sb.dir, "init"))
	if err != nil {
		return 0
	}
	pidStr, start, _ := strings.Cut(string(b), " ")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 1 || procStart(pid) != start {
		return 0
	}
	return pid
}

// ensureRoot returns the pid of the sandbox's init, starting one (with the
// mounts) if there is none: after Stop, after a reboot, or when a creation
// was cut short.
func (sb *Sandbox) ensureRoot() (int, error) {
	if pid := sb.initPID(); pid != 0 {
		return pid, nil
	}
	var pid int
	err := sb.change(func(m *Meta) error {
		if pid = sb.initPID(); pid != 0 {
			return nil
		}
		if err := requireRunning(*m, "use"); err != nil {
			return err
		}
		var err error
		pid, err = sb.startInit(*m)
		return err
	})
	return pid, err
}

// initScript is the sandbox's init: a shell that sleeps while the
// sandbox's state is there. Its fd 3 is the sandbox's directory: deleted
// without a Destroy (by hand, or with a test's temporary directory), the
// sandbox loses its init within a minute, and so its mounts once its
// processes are gone. It closes the descriptors that this process may have
// inherited without close-on-exec, as far as sh can (4 to 9); higher ones
// stay open in it.
const initScript = `exec 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; trap "" HUP INT TERM; while [ -e /proc/self/fd/3/meta.json ]; do sleep 60; done`

// startInit kills what is left in the sandbox's cgroup, then starts an
// init in a mount namespace of its own and gives it the sandbox's root.
// The caller holds the exclusive lock.
func (sb *Sandbox) startInit(m Meta) (int, error) {
	old, _ := os.ReadFile(filepath.Join(sb.dir, "init"))
	_ = os.Remove(filepath.Join(sb.dir, "init"))
	if err := cgroupKill(m.Cgroup); err != nil {
		return 0, err
	}
	if pid, _, ok := strings.Cut(string(old), " "); ok {
		n, _ := strconv.Atoi(pid)
		reapInit(n)
	}
	if err := os.MkdirAll(m.Cgroup, 0o755); err != nil {
		return 0, fmt.Errorf("sandbox cgroup: %w", err)
	}
	cg, err := os.Open(m.Cgroup)
	if err != nil {
		return 0, err
	}
	defer cg.Close()
	dir, err := os.Open(sb.dir)
	if err != nil {
		return 0, err
	}
	defer dir.Close()
	cmd := exec.Command("/bin/sh", "-c", initScript)
	cmd.ExtraFiles = []*os.File{dir}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", MarkerVar + "=" + sb.id}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_NEWNS, UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the sandbox's init: %w", err)
	}
	// The init outlives this process as well as its Wait: whoever kills it
	// reaps it if it is theirs (reapInit).
	pid := cmd.Process.Pid
	ourInits.Store(pid, true)
	_ = cmd.Process.Release()
	start := procStart(pid)
	if err := sb.mountRoot(pid, m); err != nil {
		_ = cgroupKill(m.Cgroup)
		return 0, err
	}
	return pid, writeFileAtomic(filepath.Join(sb.dir, "init"), []byte(strconv.Itoa(pid)+" "+start))
}

// mountRoot builds the sandbox's root in the mount namespace of its init,
// then makes it the namespace's root (pivot_root moves the init there).
func (sb *Sandbox) mountRoot(pid int, m Meta) error {
	ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if err != nil {
		return err
	}
	defer ns.Close()
	fsDir := filepath.Join(sb.dir, "fs")
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return err
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("joining the sandbox's mount namespace: %w", err)
		}
		// Nothing mounted here reaches the host, nor the other way round.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		if err := mountOverlay(fsDir); err != nil {
			return err
		}
		root, err := os.OpenRoot(filepath.Join(fsDir, "root"))
		if err != nil {
			return err
		}
		defer root.Close()
		// Mount points are made and opened inside the root, so that a symlink
		// the sandbox left cannot take a mount elsewhere.
		bind := func(src, at string, flags uintptr, fstype, data string) error {
			rel := strings.TrimPrefix(filepath.Clean(at), "/")
			if err := mkdirReal(root, rel); err != nil {
				return fmt.Errorf("mount point %s: %w", at, err)
			}
			f, err := root.Open(rel)
			if err != nil {
				return fmt.Errorf("mount point %s: %w", at, err)
			}
			defer f.Close()
			if err := unix.Mount(src, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), fstype, flags, data); err != nil {
				return fmt.Errorf("mounting %s at %s: %w", src, at, err)
			}
			return nil
		}
		for _, d := range []string{"/dev", "/proc", "/sys"} {
			if err := bind(d, d, unix.MS_BIND|unix.MS_REC, "", ""); err != nil {
				return err
			}
		}
		steps := []struct {
			src, at, fstype, data string
			flags                 uintptr
		}{
			{"tmpfs", "/dev/shm", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
			{filepath.Join(fsDir, "tmp"), "/tmp", "", "", unix.MS_BIND},
		}
		if !within("/tmp", sb.e.root) { // else hidden by the sandbox's /tmp
			// The engine's directory holds every sandbox's files: hidden.
			steps = append(steps, struct {
				src, at, fstype, data string
				flags                 uintptr
			}{"tmpfs", sb.e.root, "tmpfs", "mode=755", unix.MS_RDONLY})
		}
		for _, s := range steps {
			if err := bind(s.src, s.at, s.flags, s.fstype, s.data); err != nil {
				return err
			}
		}
		if err := mkdirReal(root, strings.TrimPrefix(m.Home, "/")); err != nil {
			return fmt.Errorf("home %s: %w", m.Home, err)
		}
		vols := append([]Volume(nil), m.Volumes...)
		sort.Slice(vols, func(i, j int) bool { return len(vols[i].MountPath) < len(vols[j].MountPath) })
		for _, v := range vols {
			if err := bind(v.HostDir, sb.inRootPath(m, v.MountPath), unix.MS_BIND|unix.MS_REC, "", ""); err != nil {
				return fmt.Errorf("volume: %w", err)
			}
		}
		if err := unix.Chdir(filepath.Join(fsDir, "root")); err != nil {
			return err
		}
		if err := unix.PivotRoot(".", "."); err != nil {
			return fmt.Errorf("pivot_root: %w", err)
		}
		return unix.Unmount(".", unix.MNT_DETACH)
	})
}

// intoCgroup makes a process start in the cgroup open as fd.
func intoCgroup(a *syscall.SysProcAttr, fd int) { a.UseCgroupFD, a.CgroupFD = true, fd }

// mkdirReal makes every element of rel a directory of root, replacing a
// symlink or file in the way (in the overlay: the host keeps its own).
func mkdirReal(root *os.Root, rel string) error {
	cur := ""
	for _, name := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, name)
		fi, err := root.Lstat(cur)
		if err == nil && fi.IsDir() {
			continue
		}
		if err == nil {
			if err := root.Remove(cur); err != nil {
				return err
			}
		}
		if err := root.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// inRootPath is where a volume's mount path lies in a rooted sandbox:
// relative paths are relative to its home.
func (sb *Sandbox) inRootPath(m Meta, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(m.Home, p)
}

// inSandbox runs fn on a thread in the sandbox's mount namespace, where
// paths mean what they mean to the sandbox's processes.
func (sb *Sandbox) inSandbox(pid int, fn func() error) error {
	ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if err != nil {
		return err
	}
	defer ns.Close()
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return err
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("joining the sandbox's mount namespace: %w", err)
		}
		return fn()
	})
}

// ourInits holds the inits this process started and has not reaped.
var ourInits sync.Map

// reapInit reaps the sandbox's dead init if this process started it (else
// its own parent does).
func reapInit(pid int) {
	if _, ok := ourInits.Load(pid); ok {
		if got, _ := unix.Wait4(pid, nil, unix.WNOHANG, nil); got == pid {
			ourInits.Delete(pid)
		}
	}
}

// cgroupWrite writes v to a control file of the cgroup.
func cgroupWrite(cg, file, v string) error {
	return os.WriteFile(filepath.Join(cg, file), []byte(v), 0)
}

// cgroupKill kills every process of the cgroup, waits until they are gone
// (with them the mounts they held) and removes the cgroup. A cgroup that
// does not exist is done.
//
// The cgroup goes because, once killed, the kernel (6.18 here) kills every
// process later started into it with CLONE_INTO_CGROUP: the next init gets
// a new one.
func cgroupKill(cg string) error {
	err := cgroupWrite(cg, "cgroup.kill", "1")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("killing the sandbox's processes: %w", err)
	}
	if !cgroupWait(cg, "populated 0") {
		return fmt.Errorf("the sandbox's processes outlived SIGKILL")
	}
	if err := os.Remove(cg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the sandbox's cgroup: %w", err)
	}
	return nil
}

// cgroupWait waits, up to a few seconds, until cgroup.events has line.
func cgroupWait(cg, line string) bool {
	delay := 20 * time.Microsecond
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); delay = min(2*delay, 5*time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(cg, "cgroup.events"))
		if err != nil || bytes.Contains(b, []byte(line+"\n")) {
			return true
		}
		time.Sleep(delay)
	}
	return false
}

// rootErr explains in one line why sandboxes get no root of their own.
func rootErr(err error) error {
	return sandagent.Errorf(sandagent.ErrUnsupported, "no filesystem root of its own for the sandbox (confined-directory mode): %v", err)
}

// opaqueXattr marks a directory of an overlay's upper layer that hides the
// lower layer's (it was deleted and made again).
const opaqueXattr = "trusted.overlay.opaque"

// copyOpaque marks directory dst opaque if src is.
func copyOpaque(src, dst string) error {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(src, opaqueXattr, buf)
	if err != nil {
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return fmt.Errorf("copy files: %s: %w", src, err)
	}
	return unix.Lsetxattr(dst, opaqueXattr, buf[:n], 0)
}
