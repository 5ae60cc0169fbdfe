package sandock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// handle implements driver.Handle over the REST API.
type handle struct {
	api         *client
	id          string
	execTimeout time.Duration
	piece       int // bytes of a file per shell call; 0 means defaultPiece
}

var (
	_ driver.Handle  = (*handle)(nil)
	_ driver.Stopper = (*handle)(nil)
	_ driver.Aser    = (*handle)(nil)
)

// Exit codes of the file scripts.
const (
	exitMissing  = 2 // the path does not exist
	exitIsDir    = 3 // a file was wanted, the path is a directory
	exitNotDir   = 4 // a directory was wanted (or a parent is a file)
	exitShortIn  = 5 // the input did not arrive whole
	exitChanged  = 6 // the file changed between the pieces of a read
	fileOpLimit  = 10 * time.Minute
	errorExcerpt = 300
)

// script runs a file operation's shell script through the blocking
// endpoint and classifies its exit code. Idempotent scripts (all but
// Remove: running one twice leaves what running it once does) may be
// retried.
func (h *handle) script(ctx context.Context, op, p, script, input string, idempotent bool) (string, error) {
	res, err := h.api.shell(ctx, op, h.id, shellRequest{Cmd: script, TimeoutMs: timeoutMs(fileOpLimit), Input: input}, idempotent)
	if err != nil {
		return "", err
	}
	code := -1
	if res.ExitCode != nil {
		code = *res.ExitCode
	}
	switch {
	case code == 0:
		return res.Stdout, nil
	case code == exitMissing:
		return "", sandagent.Errorf(sandagent.ErrNotFound, "%s: no such file or directory", p)
	case code == exitIsDir:
		return "", sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	case code == exitNotDir:
		return "", sandagent.Errorf(sandagent.ErrInvalid, "%s: not a directory (or a parent is not)", p)
	case code == exitShortIn:
		return "", fmt.Errorf("%s: the sandbox did not receive the whole content", p)
	case code == exitChanged:
		return "", sandagent.Errorf(sandagent.ErrConflict, "%s changed while being read", p)
	case res.TimedOut:
		return "", sandagent.Errorf(sandagent.ErrTimeout, "%s: timed out after %s", p, fileOpLimit)
	}
	msg := strings.TrimSpace(res.Stderr)
	if len(msg) > errorExcerpt {
		msg = msg[:errorExcerpt] + "…"
	}
	return "", fmt.Errorf("%s: exit status %d: %s", p, code, msg)
}

func (h *handle) lookupWorkdir(ctx context.Context) (string, error) {
	out, err := h.script(ctx, "workdir", "pwd", "pwd", "", true)
	if err != nil {
		return "", err
	}
	wd := strings.TrimSpace(out)
	if !path.IsAbs(wd) {
		return "", fmt.Errorf("the sandbox's working directory %q is not absolute", wd)
	}
	return wd, nil
}

func (h *handle) Stat(ctx context.Context, p string) (driver.FileInfo, error) {
	out, err := h.script(ctx, "stat", p,
		"p="+shellquote.One(p)+`; [ -e "$p" ] || exit 2; stat -L -c '%f %s %Y' "$p"`, "", true)
	if err != nil {
		return driver.FileInfo{}, err
	}
	fi, err := parseStat(strings.TrimSpace(out) + " " + path.Base(p))
	if err != nil {
		return driver.FileInfo{}, fmt.Errorf("%s: %w", p, err)
	}
	fi.Path = p
	return fi, nil
}

func (h *handle) ListDir(ctx context.Context, p string) ([]driver.FileInfo, error) {
	// One NUL-terminated "mode size mtime name" record per entry, in base64
	// so that any name survives the JSON string.
	out, err := h.script(ctx, "list", p, "d="+shellquote.One(p)+`; [ -e "$d" ] || exit 2; [ -d "$d" ] || exit 4; cd "$d" || exit 1; `+
		`for f in * .[!.]* ..?*; do { [ -e "$f" ] || [ -L "$f" ]; } || continue; case "$f" in .sandagent-*) continue;; esac; `+
		`stat --printf '%f %s %Y %n\0' "$f"; done | base64`, "", true)
	if err != nil {
		return nil, err
	}
	raw, err := decodeBase64(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var fis []driver.FileInfo
	for rec := range bytes.SplitSeq(raw, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		fi, err := parseStat(string(rec))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		fi.Path = path.Join(p, fi.Name)
		fis = append(fis, fi)
	}
	return fis, nil
}

// parseStat reads "rawmode(hex) size mtime name".
func parseStat(s string) (driver.FileInfo, error) {
	f := strings.SplitN(s, " ", 4)
	if len(f) != 4 {
		return driver.FileInfo{}, fmt.Errorf("malformed stat output %q", s)
	}
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	mtime, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return driver.FileInfo{}, fmt.Errorf("malformed stat output %q: %w", s, err)
	}
	return driver.FileInfo{Name: f[3], Size: size, Mode: fileMode(uint32(raw)), ModTime: time.Unix(mtime, 0)}, nil
}

// fileMode converts a Unix st_mode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func (h *handle) MakeDir(ctx context.Context, p string) error {
	_, err := h.script(ctx, "mkdir", p,
		"p="+shellquote.One(p)+`; [ -e "$p" ] && [ ! -d "$p" ] && exit 4; mkdir -p "$p" 2>/dev/null || exit 4`, "", true)
	return err
}

func (h *handle) Remove(ctx context.Context, p string) error {
	_, err := h.script(ctx, "remove", p,
		"p="+shellquote.One(p)+`; { [ -e "$p" ] || [ -L "$p" ]; } || exit 2; rm -rf "$p"`, "", false)
	return err
}

// State maps Sandock's statuses onto sandagent's.
func (h *handle) State(ctx context.Context) (string, error) {
	item, err := h.api.find(ctx, h.id)
	if err != nil {
		return "", err
	}
	if item == nil {
		return string(sandagent.StateDestroyed), nil
	}
	return string(state(item.Status)), nil
}

// state maps a Sandock status onto sandagent's states.
func state(status string) sandagent.State {
	switch status {
	case "RUNNING":
		return sandagent.StateRunning
	case "STOPPED":
		return sandagent.StateStopped
	case "PAUSED":
		return sandagent.StatePaused
	case "CREATING":
		return sandagent.StateStarting
	case "DELETING", "DELETED":
		return sandagent.StateDestroyed
	}
	return sandagent.StateError
}

func (h *handle) Stop(ctx context.Context) error { return h.api.stop(ctx, h.id) }

func (h *handle) Destroy(ctx context.Context) error {
	err := h.api.remove(ctx, h.id)
	if errors.Is(err, sandagent.ErrNotFound) {
		return nil
	}
	return err
}

func (h *handle) Close() error { return nil }

func (h *handle) As(target any) bool {
	if p, ok := target.(**resty.Client); ok {
		*p = h.api.rc
		return true
	}
	return false
}
