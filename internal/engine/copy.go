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
// empty) with a copy of sb's work tree. The copies are taken while sb's
// processes are stopped, so a file is never caught half-written by them;
// processes are not copied. A process of sb that was stopped on its own is
// continued with the others. On failure the children made are destroyed.
func (sb *Sandbox) Fork(spec Spec, n int) ([]*Sandbox, error) {
	var kids []*Sandbox
	err := sb.frozen(func() error {
		for range n {
			kid, err := sb.e.createFrom(spec, sb.work, sb.now)
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
}

// Snapshot copies sb's work tree, as Fork does, into a new snapshot named
// name and returns its id. Snapshots live under the root's snapshots/<id>/
// (meta.json and files/) until DeleteSnapshot.
func (sb *Sandbox) Snapshot(name string) (string, error) {
	id := "snap-" + NewID()[len("sb-"):]
	dir := sb.e.snapshotDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	err := sb.frozen(func() error { return copyTree(sb.work, filepath.Join(dir, "files")) })
	if err == nil {
		// meta.json comes last: a snapshot without one is incomplete.
		var b []byte
		b, err = json.MarshalIndent(SnapshotMeta{ID: id, Name: name, Source: sb.id, CreatedAt: sb.now()}, "", "  ")
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

// CreateFromSnapshot makes a new running sandbox by spec whose work tree
// starts as a copy of the snapshot's files. A snapshot that does not exist
// is ErrNotFound.
func (e *Engine) CreateFromSnapshot(spec Spec, snapshot string, now Clock) (*Sandbox, error) {
	if !idPattern().MatchString(snapshot) {
		return nil, sandagent.Errorf(sandagent.ErrNotFound, "snapshot %q not found", snapshot)
	}
	dir := e.snapshotDir(snapshot)
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, sandagent.Errorf(sandagent.ErrNotFound, "snapshot %q not found", snapshot)
	} else if err != nil {
		return nil, err
	}
	return e.createFrom(spec, filepath.Join(dir, "files"), now)
}

// DeleteSnapshot deletes a snapshot. One that is gone is not an error.
func (e *Engine) DeleteSnapshot(snapshot string) error {
	if !idPattern().MatchString(snapshot) {
		return nil
	}
	return os.RemoveAll(e.snapshotDir(snapshot))
}

func (e *Engine) snapshotDir(id string) string { return filepath.Join(e.root, "snapshots", id) }

// createFrom creates a sandbox by spec, then copies the tree at from into
// its work tree.
func (e *Engine) createFrom(spec Spec, from string, now Clock) (*Sandbox, error) {
	sb, err := e.Create(spec, now)
	if err != nil {
		return nil, err
	}
	if err := copyTree(from, sb.work); err != nil {
		_ = sb.Destroy()
		return nil, err
	}
	return sb, nil
}

// frozen runs fn with sb's processes stopped, under sb's exclusive lock.
func (sb *Sandbox) frozen(fn func() error) error {
	return sb.change(func(m *Meta) error {
		if m.State == Running {
			sb.signalAll(syscall.SIGSTOP)
			defer sb.signalAll(syscall.SIGCONT)
		}
		return fn()
	})
}

// copyTree copies the tree at src into dst (created if missing):
// directories, regular files (contents, permissions and modification
// times) and symbolic links as links; what exists in dst already (a
// volume's link) is kept. FIFOs are made anew; sockets, which belong to
// the processes that are not copied, and devices are left out.
func copyTree(src, dst string) error {
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
