//go:build unix

package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sandagent/sandagent"
)

// Resolve maps a path as the sandbox sees it (absolute, inside the work
// tree) to the real host path, following symlinks except, with noFollow,
// in the last element. A path outside the work tree, or one that leads out
// of it through a symlink (other than into a mounted volume), is ErrInvalid.
//
// In a rooted sandbox, p is a path of the sandbox (relative to its
// workdir), and the host path returned lies under /proc/<init>/root. The
// host path is for callers that need one; between Resolve and their use of
// it the sandbox may swap a symlink: the methods below never go through one.
func (sb *Sandbox) Resolve(p string, noFollow bool) (string, error) {
	if sb.rooted {
		return sb.rootedResolve(p, noFollow)
	}
	p = filepath.Clean(p)
	if !within(sb.work, p) {
		return "", sandagent.Errorf(sandagent.ErrInvalid, "path %q is outside the sandbox's directory %s (%s)", p, sb.work, confinedNote)
	}
	m, err := sb.Meta()
	if err != nil {
		return "", err
	}
	if err := requireRunning(m, "use the files of"); err != nil {
		return "", err
	}
	real, err := evalExisting(p, noFollow)
	if err != nil {
		return "", err
	}
	roots := []string{sb.work}
	for _, v := range m.Volumes {
		roots = append(roots, v.HostDir)
	}
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if within(rr, real) {
			return real, nil
		}
	}
	return "", sandagent.Errorf(sandagent.ErrInvalid, "path %q leads out of the sandbox through a symlink", p)
}

// confinedNote ends the error for a path outside a confined sandbox: the
// one line that says which mode the sandbox is in.
const confinedNote = "the sandbox is confined to a directory of the host: it has no filesystem root of its own"

// RealPath returns p with its symlinks resolved, as the sandbox sees it (a
// host path in the confined-directory mode, where the two are one).
func (sb *Sandbox) RealPath(p string) (string, error) {
	if sb.rooted {
		return sb.rootedRealPath(p, false)
	}
	return sb.Resolve(p, false)
}

// evalExisting resolves the symlinks of the longest existing prefix of p
// and appends the rest, which cannot hold symlinks since it does not exist.
func evalExisting(p string, noFollow bool) (string, error) {
	dir, rest := p, ""
	if noFollow {
		dir, rest = filepath.Dir(p), filepath.Base(p)
	}
	for {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", mapErr(p, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", mapErr(p, err)
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// mapErr classifies a file-system error with sandagent's sentinels.
func mapErr(p string, err error) error {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sandagent.Errorf(sandagent.ErrNotFound, "%s: no such file or directory", p)
	case errno == syscall.ENOTDIR:
		return sandagent.Errorf(sandagent.ErrInvalid, "%s: a parent is not a directory", p)
	case errno == syscall.EISDIR:
		return sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	case errors.Is(err, fs.ErrExist):
		return sandagent.Errorf(sandagent.ErrConflict, "%s already exists", p)
	case errno == syscall.ENOSPC:
		return sandagent.Errorf(sandagent.ErrState, "%s: no space left on device", p)
	}
	return fmt.Errorf("%s: %w", p, err)
}

// Open opens the file at p for reading.
func (sb *Sandbox) Open(p string) (io.ReadCloser, error) {
	if sb.rooted {
		return sb.rootedOpen(p)
	}
	real, err := sb.Resolve(p, false)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, mapErr(p, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	}
	return f, nil
}

// Write replaces the file at p with r's contents, atomically: readers see
// the old file or the new one, never a part. Parents are created.
func (sb *Sandbox) Write(p string, r io.Reader) error {
	if sb.rooted {
		return sb.rootedWrite(p, r)
	}
	real, err := sb.Resolve(p, false)
	if err != nil {
		return err
	}
	if real == sb.work {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		return mapErr(p, err)
	}
	if fi, err := os.Stat(real); err == nil && fi.IsDir() {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	}
	f, err := os.CreateTemp(filepath.Dir(real), ".sandagent-*")
	if err != nil {
		return mapErr(p, err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), real)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return mapErr(p, err)
	}
	return nil
}

// FileInfo describes a file as the sandbox sees it.
type FileInfo struct {
	Name string
	Path string // as the sandbox sees it
	Info fs.FileInfo
}

// Stat describes the file at p, following symlinks.
func (sb *Sandbox) Stat(p string) (FileInfo, error) {
	if sb.rooted {
		return sb.rootedStat(p)
	}
	real, err := sb.Resolve(p, false)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return FileInfo{}, mapErr(p, err)
	}
	return FileInfo{Name: filepath.Base(p), Path: filepath.Clean(p), Info: fi}, nil
}

// ListDir lists the directory at p; symlinks are reported as such.
func (sb *Sandbox) ListDir(p string) ([]FileInfo, error) {
	if sb.rooted {
		return sb.rootedListDir(p)
	}
	real, err := sb.Resolve(p, false)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(real)
	if err != nil {
		return nil, mapErr(p, err)
	}
	out := make([]FileInfo, 0, len(ents))
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".sandagent-") { // a write in progress
			continue
		}
		fi, err := ent.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, FileInfo{Name: ent.Name(), Path: filepath.Join(filepath.Clean(p), ent.Name()), Info: fi})
	}
	return out, nil
}

// MakeDir creates the directory at p and its parents.
func (sb *Sandbox) MakeDir(p string) error {
	if sb.rooted {
		return sb.rootedMakeDir(p)
	}
	real, err := sb.Resolve(p, false)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(real, 0o755); err != nil {
		return mapErr(p, err)
	}
	return nil
}

// Remove removes the file or tree at p (a symlink itself, not its target).
// The work tree and volume mount points cannot be removed.
func (sb *Sandbox) Remove(p string) error {
	if sb.rooted {
		return sb.rootedRemove(p)
	}
	real, err := sb.Resolve(p, true)
	if err != nil {
		return err
	}
	if real == sb.work || filepath.Clean(p) == sb.work {
		return sandagent.Errorf(sandagent.ErrInvalid, "cannot remove the sandbox's work directory")
	}
	m, err := sb.readMeta()
	if err != nil {
		return err
	}
	for _, v := range m.Volumes {
		if filepath.Clean(p) == filepath.Join(sb.work, v.MountPath) {
			return sandagent.Errorf(sandagent.ErrInvalid, "%s is a volume mount point", p)
		}
	}
	if _, err := os.Lstat(real); err != nil {
		return mapErr(p, err)
	}
	if err := os.RemoveAll(real); err != nil {
		return mapErr(p, err)
	}
	return nil
}
