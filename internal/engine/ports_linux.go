package engine

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ListensOn reports whether a process of the sandbox listens on TCP port,
// over IPv4 or IPv6, in this machine's network.
func (sb *Sandbox) ListensOn(port int) bool {
	inodes := listening(port)
	if len(inodes) == 0 {
		return false
	}
	for _, pid := range sb.pids() {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(dir + "/" + fd.Name())
			if err != nil {
				continue
			}
			if inode, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
				return true
			}
		}
	}
	return false
}

// pids returns the sandbox's processes: those of its cgroup when it has a
// root of its own, else those carrying its marker.
func (sb *Sandbox) pids() []int {
	m, err := sb.readMeta()
	if err != nil {
		return nil
	}
	if !m.Rooted {
		return marked(sb.marker())
	}
	b, err := os.ReadFile(filepath.Join(m.Cgroup, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// listening returns the inodes of the TCP sockets listening on port.
func listening(port int) map[string]bool {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st ... inode: the address is
			// hex IP:port, the state 0A is LISTEN, the inode is field 10.
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			_, p, ok := strings.Cut(f[1], ":")
			if n, err := strconv.ParseUint(p, 16, 16); ok && err == nil && int(n) == port {
				inodes[f[9]] = true
			}
		}
		f.Close()
	}
	return inodes
}
