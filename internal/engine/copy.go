//go:build unix

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sandagent/sandagent"
)

// Fork creates n running sandboxes, each made by spec (whose ID must be
// empty) with a copy of sb's files: its work tree, or, when it has a root
// of its own, what it changed of that root (its overlay's upper directory)
// and its /tmp. The copies are taken while sb's
// processes are stopped, so a file is never caught half-written by them;
// processes are not copied. A process of sb that was stopped on its own is
// continued with the others. On failure the children made are destroyed.
func (sb *Sandbox) Fork(spec Spec, n int) ([]*Sandbox, error) {
	var kids []*Sandbox
	err := sb.frozen(func(m Meta) error {
		for range n {
			kid, err := sb.e.createFrom(spec, sb.files(m), sb.now)
			if err != nil {
				return err
			}
			kids = append(kids, kid)
		}
		return nil
	})
	if err != nil {
		for _, k := range kids {
			_ = k.Destroy()
		}
		return nil, err
	}
	return kids, nil
}

// SnapshotMeta describes a snapshot.
type SnapshotMeta struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Source    string    `json:"source"` // the id of the sandbox it was taken from
	CreatedAt time.Time `json:"createdAt"`
	// Rooted: files/ is the upper directory of a sandbox with a root of its
	// own, whose workdir was Home, and tmp/ its /tmp.
	Rooted bool   `json:"rooted,omitempty"`
	Home   string `json:"home,omitempty"`
}

// files is where a sandbox's files are, for Fork and Snapshot to copy.
type files struct {
	rooted bool
	home   string // rooted: the workdir, in the sandbox
	dir    string // the work tree, or, rooted, the overlay's upper directory
	tmp    string // rooted: the private /tmp
}

// files returns where the files of sb, whose state is m, are.
func (sb *Sandbox) files(m Meta) files {
	if !m.Rooted {
		return files{dir: sb.work}
	}
	fsDir := filepath.Join(sb.dir, "fs")
	return files{rooted: true, home: m.Home, dir: filepath.Join(fsDir, "upper"), tmp: filepath.Join(fsDir, "tmp")}
}

// Snapshot copies sb's files, as Fork does, into a new snapshot named
// name and returns its id. Snapshots live under the root's snapshots/<id>/
// (meta.json and files/) until DeleteSnapshot.
func (sb *Sandbox) Snapshot(name string) (string, error) {
	id := "snap-" + NewID()[len("sb-"):]
	dir := sb.e.snapshotDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	snap := SnapshotMeta{ID: id, Name: name, Source: sb.id, CreatedAt: sb.now()}
	err := sb.frozen(func(m Meta) error {
		from := sb.files(m)
		snap.Rooted, snap.Home = from.rooted, from.home
		return copyFiles(from, files{rooted: from.rooted, home: from.home, dir: filepath.Join(dir, "files"), tmp: filepath.Join(dir, "tmp")})
	})
	if err == nil {
		// meta.json comes last: a snapshot without one is incomplete.
		var b []byte
		b, err = json.MarshalIndent(snap, "", "  ")
		if err == nil {
			err = writeFileAtomic(filepath.Join(dir, "meta.json"), b)
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return id, nil
}

// CreateFromSnapshot makes a new running sandbox by spec whose files start
// as a copy of the snapshot's. A snapshot that does not exist
// is ErrNotFound.
func (e *Engine) CreateFromSnapshot(spec Spec, snapshot string, now Clock) (*Sandbox, error) {
	if !idPattern().MatchString(snapshot) {
		return nil, sandagent.Errorf(sandagent.ErrNotFound, "snapshot %q not found", snapshot)
	}
	dir := e.snapshotDir(snapshot)
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sandagent.Errorf(sandagent.ErrNotFound, "snapshot %q not found", snapshot)
	} else if err != nil {
		return nil, err
	}
	var snap SnapshotMeta
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", snapshot, err)
	}
	return e.createFrom(spec, files{rooted: snap.Rooted, home: snap.Home, dir: filepath.Join(dir, "files"), tmp: filepath.Join(dir, "tmp")}, now)
}

// DeleteSnapshot deletes a snapshot. One that is gone is not an error.
func (e *Engine) DeleteSnapshot(snapshot string) error {
	if !idPattern().MatchString(snapshot) {
		return nil
	}
	return os.RemoveAll(e.snapshotDir(snapshot))
}

func (e *Engine) snapshotDir(id string) string { return filepath.Join(e.root, "snapshots", id) }

// createFrom creates a sandbox by spec with a copy of the files at from,
// copied before its processes (a rooted sandbox's init) start: an overlay's
// upper directory is not to be changed while it is mounted.
func (e *Engine) createFrom(spec Spec, from files, now Clock) (*Sandbox, error) {
	return e.create(spec, now, func(dir string, m Meta) error {
		to := files{dir: filepath.Join(dir, "work")}
		if m.Rooted {
			to = files{rooted: true, home: m.Home, dir: filepath.Join(dir, "fs", "upper"), tmp: filepath.Join(dir, "fs", "tmp")}
		}
		return copyFiles(from, to)
	})
}

// copyFiles copies the files at from into to. Between a rooted sandbox and
// a confined one, the rooted one's workdir stands for the work tree.
func copyFiles(from, to files) error {
	switch {
	case from.rooted && to.rooted:
		if err := copyTree(from.dir, to.dir, true); err != nil {
			return err
		}
		return copyTree(from.tmp, to.tmp, true)
	case from.rooted:
		src := filepath.Join(from.dir, from.home)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			return nil // the workdir was never written to
		}
		return copyTree(src, to.dir, false)
	case to.rooted:
		dst := filepath.Join(to.dir, to.home)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		return copyTree(from.dir, dst, false)
	}
	return copyTree(from.dir, to.dir, false)
}

// frozen runs fn with sb's processes stopped, under sb's exclusive lock.
func (sb *Sandbox) frozen(fn func(m Meta) error) error {
	return sb.change(func(m *Meta) error {
		if m.State == Running {
			sb.signalAll(*m, syscall.SIGSTOP)
			defer sb.signalAll(*m, syscall.SIGCONT)
		}
		return fn(*m)
	})
}

// copyTree copies the tree at src into dst (created if missing):
// directories, regular files (contents, permissions and modification
// times) and symbolic links as links; what exists in dst already (a
// volume's link) is kept. FIFOs are made anew; sockets, which belong to
// the processes that are not copied, and devices are left out. With
// overlay, src and dst are overlays' upper directories: the marks of what
// was deleted from the lower layer (whiteouts, opaque directories) are
// copied too.
func copyTree(src, dst string, overlay bool) error {
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var dirs []dirMode // restored last, so a read-only directory can be filled
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, dirMode{target, mode.Perm()})
			if overlay {
				return copyOpaque(p, target)
			}
		case mode.IsRegular():
			return copyFile(p, target, info)
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		case overlay && isWhiteout(info):
			if err := syscall.Mknod(target, syscall.S_IFCHR|uint32(mode.Perm()), 0); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		case mode&fs.ModeNamedPipe != 0:
			if err := syscall.Mkfifo(target, uint32(mode.Perm())); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy files: %w", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return fmt.Errorf("copy files: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string, info fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(info.Mode().Perm())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(dst, info.ModTime(), info.ModTime())
	}
	return err
}

// isWhiteout reports whether info is an overlay's mark of a deleted file: a
// character device numbered 0, 0.
func isWhiteout(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}
