package sandock

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sandagent/sandagent"
)

// Client is the part of Sandock's API for one sandbox that the portable
// Handle has no place for yet. Get it with Handle.As:
//
//	var c *sandock.Client
//	if h.As(&c) { u, err := c.PreviewURL(ctx, 8080) }
type Client struct{ h *handle }

// ID returns the sandbox's id.
func (c *Client) ID() string { return c.h.id }

// PreviewURL returns a URL that reaches port in the sandbox from outside
// (GET …/preview-url?port=), and the token it carries. The route is the
// hosted service's; the public server has none.
func (c *Client) PreviewURL(ctx context.Context, port int) (u, token string, err error) {
	if port < 1 || port > 65535 {
		return "", "", wrap("preview", sandagent.Errorf(sandagent.ErrInvalid, "port %d is not from 1 to 65535", port))
	}
	if err := c.h.usable(); err != nil {
		return "", "", wrap("preview", err)
	}
	var out struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	err = c.h.api.call(ctx, "preview", http.MethodGet, sandboxPath(c.h.id, "/preview-url"), url.Values{"port": {strconv.Itoa(port)}}, nil, &out)
	if err == nil && out.URL == "" {
		err = &sandagent.Error{Provider: ProviderName, Op: "preview", Message: "no url in the response"}
	}
	return out.URL, out.Token, wrap("preview", err)
}

// CodeResult is what RunCode returns.
type CodeResult struct {
	Stdout, Stderr string
	// ExitCode is the service's: on Kubernetes 0 or 1 (137 on timeout),
	// on Docker the interpreter's; -1 when it reported none.
	ExitCode int
	TimedOut bool
	Duration time.Duration
}

// RunCode runs code in language ("javascript", "typescript" or "python")
// through POST …/code, with timeout as its limit (0: DefaultExecTimeout).
// The service writes the code to a file in the workdir (snippet-<hex>.js,
// .ts or .py, which it does not remove) and runs it with node, tsx or
// python. It is never retried.
func (c *Client) RunCode(ctx context.Context, language, code string, timeout time.Duration) (*CodeResult, error) {
	switch {
	case language != "javascript" && language != "typescript" && language != "python":
		return nil, wrap("code", sandagent.Errorf(sandagent.ErrInvalid, "language %q: want javascript, typescript or python", language))
	case timeout < 0:
		return nil, wrap("code", sandagent.Errorf(sandagent.ErrInvalid, "negative timeout %s", timeout))
	case timeout == 0:
		timeout = DefaultExecTimeout
	}
	if err := c.h.usable(); err != nil {
		return nil, wrap("code", err)
	}
	var out execResult
	err := c.h.api.call(ctx, "code", http.MethodPost, sandboxPath(c.h.id, "/code"), nil,
		map[string]any{"language": language, "code": code, "timeoutMs": timeoutMs(timeout)}, &out)
	if err != nil {
		return nil, wrap("code", err)
	}
	res := &CodeResult{Stdout: out.Stdout, Stderr: out.Stderr, ExitCode: -1, TimedOut: out.TimedOut,
		Duration: time.Duration(out.DurationMs * float64(time.Millisecond))}
	if out.ExitCode != nil {
		res.ExitCode = *out.ExitCode
	}
	return res, nil
}
