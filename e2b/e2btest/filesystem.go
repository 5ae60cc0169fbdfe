//go:build unix

package e2btest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem/filesystemconnect"
	"github.com/sandagent/sandagent/internal/engine"
)

// filesystemService is envd's filesystem.Filesystem service; watching is
// not implemented.
type filesystemService struct {
	filesystemconnect.UnimplementedFilesystemHandler
}

// hostPath resolves a path of a request to the host path it names, for a
// user the request may act as. noFollow keeps a final symlink.
func hostPath(ctx context.Context, h http.Header, p string, noFollow bool) (sandboxPath, host string, err error) {
	if sandboxPath, err = rpcPath(ctx, h, p); err != nil {
		return "", "", err
	}
	if host, err = sandboxOf(ctx).eng.Resolve(sandboxPath, noFollow); err != nil {
		return "", "", rpcError(err)
	}
	return sandboxPath, host, nil
}

// rpcPath checks the user of a request and resolves its path p.
func rpcPath(ctx context.Context, h http.Header, p string) (string, error) {
	if _, err := rpcUser(h); err != nil {
		return "", err
	}
	p, err := resolvePath(sandboxOf(ctx), p)
	if err != nil {
		return "", connect.NewError(connect.CodeInvalidArgument, err)
	}
	return p, nil
}

// rpcError maps an engine error to a Connect error.
func rpcError(err error) error {
	switch {
	case errors.Is(err, sandagent.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, sandagent.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

// entryInfo describes the file at host (not following a final symlink,
// whose target's type and mode it reports) as envd does, under the name p.
func entryInfo(eng *engine.Sandbox, p, host string) (*filesystem.EntryInfo, error) {
	fi, err := os.Lstat(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("file not found: %w", err))
		}
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("error getting file info: %w", err))
	}
	e := &filesystem.EntryInfo{
		Name:         fi.Name(),
		Path:         p,
		Size:         fi.Size(),
		Permissions:  fi.Mode().String(),
		ModifiedTime: timestamppb.New(fi.ModTime()),
	}
	mode := fi.Mode()
	e.Type = fileType(mode)
	if mode&fs.ModeSymlink != 0 {
		// The target's type and permissions (envd never sends
		// FILE_TYPE_SYMLINK), as the sandbox sees it; a broken link is
		// UNSPECIFIED, mode 0.
		target, err := eng.RealPath(p)
		if err != nil {
			target = p
		}
		e.SymlinkTarget = &target
		mode, e.Type = 0, filesystem.FileType_FILE_TYPE_UNSPECIFIED
		if ti, err := eng.Stat(p); err == nil {
			mode, e.Type = ti.Info.Mode(), fileType(ti.Info.Mode())
		}
	}
	e.Mode = uint32(mode.Perm())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Owner, e.Group = ownerNames(st.Uid, st.Gid)
	}
	return e, nil
}

// fileType is envd's type of a file that is no symlink: a regular file, a
// directory, or UNSPECIFIED (a device, a fifo, a socket).
func fileType(m fs.FileMode) filesystem.FileType {
	switch {
	case m.IsRegular():
		return filesystem.FileType_FILE_TYPE_FILE
	case m.IsDir():
		return filesystem.FileType_FILE_TYPE_DIRECTORY
	}
	return filesystem.FileType_FILE_TYPE_UNSPECIFIED
}

func ownerNames(uid, gid uint32) (owner, group string) {
	owner, group = strconv.Itoa(int(uid)), strconv.Itoa(int(gid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return owner, group
}

func (filesystemService) Stat(ctx context.Context, req *connect.Request[filesystem.StatRequest]) (*connect.Response[filesystem.StatResponse], error) {
	p, host, err := hostPath(ctx, req.Header(), req.Msg.GetPath(), true)
	if err != nil {
		return nil, err
	}
	e, err := entryInfo(sandboxOf(ctx).eng, p, host)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&filesystem.StatResponse{Entry: e}), nil
}

func (filesystemService) MakeDir(ctx context.Context, req *connect.Request[filesystem.MakeDirRequest]) (*connect.Response[filesystem.MakeDirResponse], error) {
	p, host, err := hostPath(ctx, req.Header(), req.Msg.GetPath(), false)
	if err != nil {
		return nil, err
	}
	switch fi, err := os.Stat(host); {
	case err == nil && fi.IsDir():
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("directory already exists: %s", p))
	case err == nil:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("path already exists but it is not a directory: %s", p))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("error getting file info: %w", err))
	}
	if err := sandboxOf(ctx).eng.MakeDir(p); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	e, err := entryInfo(sandboxOf(ctx).eng, p, host)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&filesystem.MakeDirResponse{Entry: e}), nil
}

func (filesystemService) Move(ctx context.Context, req *connect.Request[filesystem.MoveRequest]) (*connect.Response[filesystem.MoveResponse], error) {
	_, src, err := hostPath(ctx, req.Header(), req.Msg.GetSource(), true)
	if err != nil {
		return nil, err
	}
	p, dst, err := hostPath(ctx, req.Header(), req.Msg.GetDestination(), true)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	if err := os.Rename(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("source file not found: %w", err))
		}
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("error renaming: %w", err))
	}
	e, err := entryInfo(sandboxOf(ctx).eng, p, dst)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&filesystem.MoveResponse{Entry: e}), nil
}

func (filesystemService) ListDir(ctx context.Context, req *connect.Request[filesystem.ListDirRequest]) (*connect.Response[filesystem.ListDirResponse], error) {
	p, host, err := hostPath(ctx, req.Header(), req.Msg.GetPath(), false)
	if err != nil {
		return nil, err
	}
	depth := max(int(req.Msg.GetDepth()), 1)
	switch fi, err := os.Stat(host); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("path not found: %w", err))
	case err != nil:
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("error getting file info: %w", err))
	case !fi.IsDir():
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("path is not a directory: %s", p))
	}
	var entries []*filesystem.EntryInfo
	err = filepath.WalkDir(host, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == host {
			return err
		}
		rel, _ := filepath.Rel(host, path)
		if len(strings.Split(rel, string(filepath.Separator))) > depth {
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), ".sandagent-") { // an upload in progress
			return nil
		}
		e, err := entryInfo(sandboxOf(ctx).eng, filepath.Join(p, rel), path)
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil
		}
		if err == nil {
			entries = append(entries, e)
		}
		return err
	})
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("error reading directory %s: %w", p, err))
	}
	return connect.NewResponse(&filesystem.ListDirResponse{Entries: entries}), nil
}

func (filesystemService) Remove(ctx context.Context, req *connect.Request[filesystem.RemoveRequest]) (*connect.Response[filesystem.RemoveResponse], error) {
	p, err := rpcPath(ctx, req.Header(), req.Msg.GetPath())
	if err != nil {
		return nil, err
	}
	if err := sandboxOf(ctx).eng.Remove(p); err != nil && !errors.Is(err, sandagent.ErrNotFound) {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&filesystem.RemoveResponse{}), nil
}
