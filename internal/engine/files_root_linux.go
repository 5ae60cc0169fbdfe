//go:build linux

package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/sandagent/sandagent"
)

// A rooted sandbox's files are reached through its init's root
// (/proc/<init>/root) as an os.Root: every step of every path is taken
// inside it, so no symlink leads out, whatever a process of the sandbox
// swaps meanwhile. Symlinks inside, absolute ones included, mean what they
// mean to the sandbox's processes: realPath follows them first.

// rootFS is a rooted sandbox's file system, open for one operation.
type rootFS struct {
	r    *os.Root
	m    Meta
	path string // the operation's path, cleaned, absolute in the sandbox
	real string // path with its symlinks resolved (see realPath)
}

// openRoot opens the root of a running rooted sandbox for an operation on
// the path p (relative paths are relative to its home), and resolves p's
// symlinks, except, with noFollow, the last.
func (sb *Sandbox) openRoot(p string, noFollow bool) (*rootFS, error) {
	m, err := sb.Meta()
	if err != nil {
		return nil, err
	}
	if err := requireRunning(m, "use the files of"); err != nil {
		return nil, err
	}
	pid, err := sb.ensureRoot()
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot("/proc/" + strconv.Itoa(pid) + "/root")
	if err != nil {
		return nil, err
	}
	if sb.initPID() != pid { // stopped meanwhile: r may be the old root
		r.Close()
		return nil, sandagent.Errorf(sandagent.ErrState, "sandbox %s was stopped during the operation", sb.id)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(m.Home, p)
	}
	f := &rootFS{r: r, m: m, path: filepath.Clean(p)}
	if f.real, err = f.realPath(noFollow); err != nil {
		r.Close()
		return nil, err
	}
	return f, nil
}

func (f *rootFS) Close() { f.r.Close() }

// rel turns an absolute path of the sandbox into one for the os.Root.
func rel(p string) string {
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return "."
	}
	return p
}

// realPath resolves the symlinks of p as the sandbox's processes would
// (absolute targets from the sandbox's root), except, with noFollow, in the
// last element. What does not exist is taken as it is.
func (f *rootFS) realPath(noFollow bool) (string, error) {
	todo := strings.Split(rel(f.path), "/")
	cur, links := "/", 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		if noFollow && len(todo) == 0 {
			return next, nil
		}
		target, err := f.r.Readlink(rel(next))
		if err != nil { // not a link, missing, or refused: the operation says
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", sandagent.Errorf(sandagent.ErrInvalid, "%s: too many levels of symbolic links", f.path)
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return cur, nil
}

// rootErr classifies an error of an os.Root operation on p.
func rootOpErr(p string, err error) error {
	if err != nil && strings.Contains(err.Error(), "escapes") {
		return sandagent.Errorf(sandagent.ErrInvalid, "path %q leads out of the sandbox through a symlink", p)
	}
	return mapErr(p, err)
}

func (sb *Sandbox) rootedResolve(p string, noFollow bool) (string, error) {
	real, err := sb.rootedRealPath(p, noFollow)
	if err != nil {
		return "", err
	}
	return "/proc/" + strconv.Itoa(sb.initPID()) + "/root" + real, nil
}

func (sb *Sandbox) rootedRealPath(p string, noFollow bool) (string, error) {
	f, err := sb.openRoot(p, noFollow)
	if err != nil {
		return "", err
	}
	f.Close()
	return f.real, nil
}

func (sb *Sandbox) rootedOpen(p string) (io.ReadCloser, error) {
	f, err := sb.openRoot(p, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	real := f.real
	file, err := f.r.Open(rel(real))
	if err != nil {
		return nil, rootOpErr(p, err)
	}
	if fi, err := file.Stat(); err == nil && fi.IsDir() {
		file.Close()
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	}
	return file, nil
}

func (sb *Sandbox) rootedWrite(p string, r io.Reader) error {
	f, err := sb.openRoot(p, false)
	if err != nil {
		return err
	}
	defer f.Close()
	real := f.real
	if real == "/" {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	}
	dir := filepath.Dir(real)
	if err := f.r.MkdirAll(rel(dir), 0o755); err != nil {
		return rootOpErr(p, err)
	}
	if fi, err := f.r.Lstat(rel(real)); err == nil && fi.IsDir() {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := rel(filepath.Join(dir, ".sandagent-"+hex.EncodeToString(b[:])))
	file, err := f.r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return rootOpErr(p, err)
	}
	_, err = io.Copy(file, r)
	if err == nil {
		err = file.Chmod(0o644)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.r.Rename(tmp, rel(real))
	}
	if err != nil {
		_ = f.r.Remove(tmp)
		return rootOpErr(p, err)
	}
	return nil
}

func (sb *Sandbox) rootedStat(p string) (FileInfo, error) {
	f, err := sb.openRoot(p, false)
	if err != nil {
		return FileInfo{}, err
	}
	defer f.Close()
	real := f.real
	fi, err := f.r.Stat(rel(real))
	if err != nil {
		return FileInfo{}, rootOpErr(p, err)
	}
	return FileInfo{Name: filepath.Base(f.path), Path: f.path, Info: fi}, nil
}

func (sb *Sandbox) rootedListDir(p string) ([]FileInfo, error) {
	f, err := sb.openRoot(p, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	real := f.real
	d, err := f.r.Open(rel(real))
	if err != nil {
		return nil, rootOpErr(p, err)
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, mapErr(p, err)
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	// Entries are described through the directory already open, never by
	// a path that could lead elsewhere by now.
	at := "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/"
	out := make([]FileInfo, 0, len(ents))
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".sandagent-") { // a write in progress
			continue
		}
		fi, err := os.Lstat(at + ent.Name())
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, FileInfo{Name: ent.Name(), Path: filepath.Join(f.path, ent.Name()), Info: fi})
	}
	return out, nil
}

func (sb *Sandbox) rootedMakeDir(p string) error {
	f, err := sb.openRoot(p, false)
	if err != nil {
		return err
	}
	defer f.Close()
	real := f.real
	if err := f.r.MkdirAll(rel(real), 0o755); err != nil {
		return rootOpErr(p, err)
	}
	return nil
}

func (sb *Sandbox) rootedRemove(p string) error {
	f, err := sb.openRoot(p, true)
	if err != nil {
		return err
	}
	defer f.Close()
	real := f.real
	if real == "/" || real == f.m.Home {
		return sandagent.Errorf(sandagent.ErrInvalid, "cannot remove %s: it is the sandbox's %s", p, map[bool]string{true: "root", false: "workdir"}[real == "/"])
	}
	for _, v := range f.m.Volumes {
		if mp := sb.inRootPath(f.m, v.MountPath); within(real, mp) {
			return sandagent.Errorf(sandagent.ErrInvalid, "cannot remove %s: volume %s is mounted at %s", p, v.HostDir, mp)
		}
	}
	if _, err := f.r.Lstat(rel(real)); err != nil {
		return rootOpErr(p, err)
	}
	if err := f.r.RemoveAll(rel(real)); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return sandagent.Errorf(sandagent.ErrInvalid, "cannot remove %s: something is mounted there", p)
		}
		return rootOpErr(p, err)
	}
	return nil
}
