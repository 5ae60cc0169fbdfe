package sandbase

import (
	"context"
	"errors"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// defaultWorkdir is where SandBase runs commands and lists files when given
// no path.
const defaultWorkdir = "/workspace"

// handle implements driver.Handle for one SandBase sandbox.
type handle struct {
	api *e2bapi.Client
	sb  e2bapi.Sandbox
}

var (
	_ driver.Handle        = (*handle)(nil)
	_ driver.Pauser        = (*handle)(nil)
	_ driver.TimeoutSetter = (*handle)(nil)
	_ driver.Aser          = (*handle)(nil)
)

// handle wraps a created or connected sandbox. It makes no request.
func (s *Sandbox) handle(sb e2bapi.Sandbox, outcome sandagent.Outcome) *sandagent.Handle {
	h := &handle{api: s.api, sb: sb}
	return sandagent.NewHandle(h, sandagent.Attachment{
		Provider:      ProviderName,
		ID:            sb.SandboxID,
		Name:          s.name,
		LookupWorkdir: h.workdir,
		Outcome:       outcome,
		Logger:        s.logger,
	})
}

// path is the sandbox's API path followed by more.
func (h *handle) path(more string) string {
	return "/sandboxes/" + h.sb.SandboxID + more
}

// workdir stats /workspace, SandBase's default cwd, and takes the path it
// reports.
func (h *handle) workdir(ctx context.Context) (string, error) {
	fi, err := h.Stat(ctx, defaultWorkdir)
	if err != nil {
		return "", err
	}
	if fi.Path == "" || fi.Path[0] != '/' {
		return "", sandagent.Errorf(nil, "SandBase reported no absolute workdir (got %q)", fi.Path)
	}
	return fi.Path, nil
}

// State asks GET /sandboxes/{id} and maps its status.
func (h *handle) State(ctx context.Context) (string, error) {
	sb, err := h.api.Get(ctx, h.sb.SandboxID)
	if errors.Is(err, sandagent.ErrNotFound) {
		return string(sandagent.StateDestroyed), nil
	}
	if err != nil {
		return "", err
	}
	if sb.Status == "" { // an answer that was not the sandbox object
		return "", &sandagent.Error{Provider: ProviderName, Op: "state", Message: "unexpected response: no sandbox status"}
	}
	return string(state(sb.Status)), nil
}

// state maps SandBase's statuses onto sandagent's states.
func state(status string) sandagent.State {
	switch status {
	case "creating":
		return sandagent.StateStarting
	case "running":
		return sandagent.StateRunning
	case "paused":
		return sandagent.StatePaused
	case "stopped":
		return sandagent.StateDestroyed // terminal: processes and files are gone
	case "error":
		return sandagent.StateError
	}
	return sandagent.State(status)
}

// Pause asks POST /sandboxes/{id}/pause: files and memory are kept.
func (h *handle) Pause(ctx context.Context) error { return h.api.Pause(ctx, h.sb.SandboxID) }

// SetTimeout asks POST /sandboxes/{id}/timeout.
func (h *handle) SetTimeout(ctx context.Context, d time.Duration) error {
	return h.api.SetTimeout(ctx, h.sb.SandboxID, d)
}

// Destroy asks DELETE /sandboxes/{id}; a sandbox already gone is success.
func (h *handle) Destroy(ctx context.Context) error { return h.api.Kill(ctx, h.sb.SandboxID) }

// Close has nothing to release: connections belong to the Sandbox's client.
func (h *handle) Close() error { return nil }

// Native is what Handle.As offers on SandBase:
//
//	var n sandbase.Native
//	if h.As(&n) {
//		err := n.Move(ctx, "/workspace/a.txt", "/workspace/b.txt")
//	}
type Native struct {
	SandboxID  string
	TemplateID string

	h *handle
}

// Move renames a file or directory in the sandbox with POST
// /filesystem/move, creating the destination's parents. Relative paths
// resolve as SandBase resolves them (against /workspace).
func (n *Native) Move(ctx context.Context, src, dst string) error {
	if n.h == nil {
		return wrap("move", sandagent.Errorf(sandagent.ErrInvalid, "Native did not come from Handle.As"))
	}
	r, err := n.h.api.R(ctx).SetBody(map[string]string{"source": src, "destination": dst}).Post(n.h.path("/filesystem/move"))
	return wrap("move", n.h.api.Check("move", r, err))
}

// As fills a *Native.
func (h *handle) As(target any) bool {
	n, ok := target.(*Native)
	if !ok {
		return false
	}
	*n = Native{SandboxID: h.sb.SandboxID, TemplateID: h.sb.TemplateID, h: h}
	return true
}
