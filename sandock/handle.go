package sandock

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
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
	piece       int         // bytes of a file per fs request; 0 means defaultPiece
	stopped     atomic.Bool // Stop succeeded: later calls would restart the sandbox
}

var (
	_ driver.Handle  = (*handle)(nil)
	_ driver.Stopper = (*handle)(nil)
	_ driver.Aser    = (*handle)(nil)
)

// File operations run shell scripts that report how they ended in their
// output, never in their exit status: Sandock on Kubernetes reports exit
// codes as 0 or 1 only. A script ends by printing, on a line of its own,
// statusPrefix and one of the words below (function st); what it printed
// before that line is its data.
const (
	statusPrefix = "sandagent-status:"
	// stFunc defines st WORD, which removes the pieces directory $s if
	// one is set, prints the status line and exits.
	stFunc = `st() { [ -n "${s-}" ] && rm -rf "$s"; printf '\n` + statusPrefix + `%s\n' "$1"; exit 0; }; `

	fileOpLimit  = 10 * time.Minute
	errorExcerpt = 300
)

// script runs a file operation's shell script through the blocking
// endpoint and classifies the status it printed. Idempotent scripts
// (running one twice leaves what running it once does) may be retried.
func (h *handle) script(ctx context.Context, op, p, script string, idempotent bool) (string, error) {
	if err := h.usable(); err != nil {
		return "", err
	}
	res, err := h.api.shell(ctx, op, h.id, shellRequest{Cmd: stFunc + script, TimeoutMs: timeoutMs(fileOpLimit)}, idempotent)
	if err != nil {
		return "", err
	}
	out := res.Stdout
	i := strings.LastIndex(out, "\n"+statusPrefix)
	if i < 0 {
		if res.TimedOut {
			return "", sandagent.Errorf(sandagent.ErrTimeout, "%s: timed out after %s", p, fileOpLimit)
		}
		return "", fmt.Errorf("%s: the sandbox's shell ended without reporting a result%s", p, excerpt(res))
	}
	data, status := out[:i], strings.TrimSpace(out[i+1+len(statusPrefix):])
	switch status {
	case "ok":
		return data, nil
	case "missing":
		return "", sandagent.Errorf(sandagent.ErrNotFound, "%s: no such file or directory", p)
	case "isdir":
		return "", sandagent.Errorf(sandagent.ErrInvalid, "%s is a directory", p)
	case "notdir":
		return "", sandagent.Errorf(sandagent.ErrInvalid, "%s: not a directory (or a parent is not)", p)
	case "short":
		return "", fmt.Errorf("%s: the sandbox did not receive the whole content", p)
	}
	return "", fmt.Errorf("%s: failed%s", p, excerpt(res))
}

// excerpt is the start of a failed script's stderr, for its error.
func excerpt(res execResult) string {
	msg := strings.TrimSpace(res.Stderr)
	if len(msg) > errorExcerpt {
		msg = msg[:errorExcerpt] + "…"
	}
	if msg == "" {
		return ""
	}
	return ": " + msg
}

func (h *handle) lookupWorkdir(ctx context.Context) (string, error) {
	out, err := h.script(ctx, "workdir", "pwd", `pwd && st ok; st err`, true)
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
		"p="+shellquote.One(p)+`; [ -e "$p" ] || st missing; stat -L -c '%f %s %Y' "$p" && st ok; st err`, true)
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
	out, err := h.script(ctx, "list", p, "d="+shellquote.One(p)+`; [ -e "$d" ] || st missing; [ -d "$d" ] || st notdir; cd "$d" || st err; `+
		`for f in * .[!.]* ..?*; do { [ -e "$f" ] || [ -L "$f" ]; } || continue; case "$f" in .sandagent-*) continue;; esac; `+
		`stat --printf '%f %s %Y %n\0' "$f"; done | base64; st ok`, true)
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
		"p="+shellquote.One(p)+`; [ -e "$p" ] && [ ! -d "$p" ] && st notdir; mkdir -p "$p" 2>/dev/null && st ok; st notdir`, true)
	return err
}

func (h *handle) Remove(ctx context.Context, p string) error {
	_, err := h.script(ctx, "remove", p,
		"p="+shellquote.One(p)+`; { [ -e "$p" ] || [ -L "$p" ]; } || st missing; rm -rf "$p" && st ok; st err`, false)
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

// Stop stops the sandbox: Sandock removes its container, keeping only its
// volumes. The handle refuses every later call (ErrState), since Sandock
// would silently start the sandbox again, empty, to serve it.
func (h *handle) Stop(ctx context.Context) error {
	if err := h.api.stop(ctx, h.id); err != nil {
		return err
	}
	h.stopped.Store(true)
	return nil
}

// usable refuses a call after Stop.
func (h *handle) usable() error {
	if h.stopped.Load() {
		return sandagent.Errorf(sandagent.ErrState, "sandbox %s was stopped through this handle; attach again (a stopped Sandock sandbox keeps only its volumes)", h.id)
	}
	return nil
}

// Destroy deletes the sandbox. Sandock fails to delete one already gone:
// the list then confirms it, and that is success.
func (h *handle) Destroy(ctx context.Context) error { return h.api.remove(ctx, "destroy", h.id) }

func (h *handle) Close() error { return nil }

// As offers **Client (the preview URLs and code runs of this sandbox) and
// **resty.Client (the configured REST client).
func (h *handle) As(target any) bool {
	switch p := target.(type) {
	case **Client:
		*p = &Client{h: h}
		return true
	case **resty.Client:
		*p = h.api.rc
		return true
	}
	return false
}

// decodeBase64 decodes base64's output; the decoder skips its line breaks.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("malformed base64 from the sandbox: %w", err)
	}
	return b, nil
}
