package sandock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// client speaks Sandock's REST API. A success is the wrapper {success,
// code, message, data}, unwrapped here into data. A failure is classified
// by its HTTP status; its body is either oRPC's error JSON (a string code,
// what the public server answers) or the wrapper with success=false (what
// the official SDK documents and the public server answers for a path it
// does not know), and its message is taken from either.
type client struct {
	rc       *resty.Client
	key      string      // a secret: redacted from every error
	noStream atomic.Bool // the server has no shell/stream route
}

// envelope is the wrapper around a response. Success is a pointer because
// the volume endpoints are documented with {data} only: a missing flag
// defers to the HTTP status.
type envelope struct {
	Success *bool           `json:"success"`
	Code    json.RawMessage `json:"code"` // a number in the wrapper, a string in oRPC's errors
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// decodeError is the httpx.Decoder for both error shapes: the message,
// after oRPC's code when the body has one ("INTERNAL_SERVER_ERROR:
// Internal server error").
func decodeError(body []byte) string {
	var e envelope
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var code string
	if json.Unmarshal(e.Code, &code) == nil && code != "" {
		if e.Message == "" {
			return code
		}
		return code + ": " + e.Message
	}
	if e.Message == "" && len(e.Code) > 0 {
		return "code " + string(e.Code)
	}
	return e.Message
}

// check classifies a failed request.
func (c *client) check(op string, r *resty.Response, err error) error {
	return httpx.Check(ProviderName, op, r, err, decodeError, c.key)
}

// call sends one request and decodes the wrapper's data into out (if not
// nil). A 2xx response whose wrapper says success=false is classified by
// the wrapper's code.
func (c *client) call(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	req := c.rc.R().SetContext(ctx).SetHeader("Accept", "application/json")
	if query != nil {
		req.SetQueryParamsFromValues(query)
	}
	if body != nil {
		req.SetBody(body)
	}
	resp, err := req.Execute(method, path)
	if err := c.check(op, resp, err); err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(resp.Body(), &env); err != nil {
		return &sandagent.Error{Provider: ProviderName, Op: op, Status: resp.StatusCode(), Message: "malformed response: not the {success, code, message, data} wrapper"}
	}
	if env.Success != nil && !*env.Success {
		var status int
		_ = json.Unmarshal(env.Code, &status)
		if status < 400 {
			status = 0
		}
		return httpx.StatusError(ProviderName, op, status, resp.Header(), resp.Body(), decodeError, c.key)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return &sandagent.Error{Provider: ProviderName, Op: op, Status: resp.StatusCode(), Message: fmt.Sprintf("malformed response data: %v", err)}
		}
	}
	return nil
}

// sandboxItem is one entry of GET /api/v1/sandbox: {id, status} in the
// server's contract. Title and CreatedAt stay empty unless the service
// reports them.
type sandboxItem struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	CreatedAt string          `json:"createdAt,omitempty"`
	Title     json.RawMessage `json:"title,omitempty"`
}

// list returns every sandbox, in one request: the API does not page.
func (c *client) list(ctx context.Context, op string) ([]sandboxItem, error) {
	var out struct {
		Items []sandboxItem `json:"items"`
	}
	if err := c.call(ctx, op, http.MethodGet, "/api/v1/sandbox", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// find returns the sandbox with id, or nil when the list (which succeeded)
// does not hold it: that absence is the only "not found" Attach trusts. The
// API has no GET /api/v1/sandbox/{id}, so this lists every sandbox.
func (c *client) find(ctx context.Context, id string) (*sandboxItem, error) {
	items, err := c.list(ctx, "status")
	if err != nil {
		return nil, err
	}
	for i := range items {
		if items[i].ID == id {
			return &items[i], nil
		}
	}
	return nil, nil
}

// createRequest is CreateSandboxRequest, with the fields this package sets.
type createRequest struct {
	Image                 string            `json:"image,omitempty"`
	Title                 string            `json:"title,omitempty"`
	Env                   map[string]string `json:"env,omitempty"`
	MemoryLimitMb         int               `json:"memoryLimitMb,omitempty"`
	CPUShares             int               `json:"cpuShares,omitempty"`
	ActiveDeadlineSeconds int               `json:"activeDeadlineSeconds"`
	Command               []string          `json:"command,omitempty"`
	Volumes               []volumeMount     `json:"volumes,omitempty"`
}

type volumeMount struct {
	VolumeID  string `json:"volumeId"`
	MountPath string `json:"mountPath"`
}

func sandboxPath(id, suffix string) string { return "/api/v1/sandbox/" + url.PathEscape(id) + suffix }

// create sends POST /api/v1/sandbox once: Sandock has no idempotency key, so
// a failed create is never retried.
func (c *client) create(ctx context.Context, req createRequest) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, "create", http.MethodPost, "/api/v1/sandbox", nil, req, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &sandagent.Error{Provider: ProviderName, Op: "create", Message: "no sandbox id in the response"}
	}
	return out.ID, nil
}

// start starts a sandbox that is not running. It is idempotent, so it may
// be retried.
func (c *client) start(ctx context.Context, id string) error {
	return c.call(httpx.Idempotent(ctx), "start", http.MethodPost, sandboxPath(id, "/start"), nil, nil, nil)
}

func (c *client) stop(ctx context.Context, id string) error {
	return c.call(httpx.Idempotent(ctx), "stop", http.MethodPost, sandboxPath(id, "/stop"), nil, nil, nil)
}

// remove deletes a sandbox. Deleting one already deleted, or unknown,
// fails (with a 500 on the public server): gone reports whether the list
// confirms it is gone, which makes a delete idempotent.
func (c *client) remove(ctx context.Context, op, id string) error {
	err := c.call(ctx, op, http.MethodDelete, sandboxPath(id, ""), nil, nil, nil)
	if err == nil || ctx.Err() != nil {
		return err
	}
	var e *sandagent.Error
	if !errors.As(err, &e) || (e.Status < 400 && e.Status != 0) || e.Kind == sandagent.ErrAuth || e.Kind == sandagent.ErrRateLimited {
		return err
	}
	item, lerr := c.find(ctx, id)
	if lerr == nil && item == nil {
		return nil // already gone
	}
	return err
}

// shellRequest is ShellRequest. Cmd is always a string here: argv is quoted
// into it.
type shellRequest struct {
	Cmd       string            `json:"cmd"`
	TimeoutMs int64             `json:"timeoutMs"`
	Workdir   string            `json:"workdir,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Input     string            `json:"input,omitempty"`
}

// execResult is SandboxExecutionResult.
type execResult struct {
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	ExitCode   *int    `json:"exitCode"` // null: killed by a signal
	TimedOut   bool    `json:"timedOut"`
	DurationMs float64 `json:"durationMs"`
}

// shell runs req to completion through the blocking endpoint. idempotent
// marks a command that may safely run twice, so it may be retried.
func (c *client) shell(ctx context.Context, op, id string, req shellRequest, idempotent bool) (execResult, error) {
	if idempotent {
		ctx = httpx.Idempotent(ctx)
	}
	var out execResult
	err := c.call(ctx, op, http.MethodPost, sandboxPath(id, "/shell"), nil, req, &out)
	return out, err
}

// writeFile writes content (text: the service stores it as UTF-8) to p,
// creating parents.
func (c *client) writeFile(ctx context.Context, id, p, content string) error {
	return c.call(httpx.Idempotent(ctx), "write", http.MethodPost, sandboxPath(id, "/fs/write"), nil,
		map[string]any{"path": p, "content": content}, nil)
}

// readFile returns the text of p. The service answers "" for a file it
// cannot read, missing ones included.
func (c *client) readFile(ctx context.Context, id, p string) (string, error) {
	var out struct {
		Content string `json:"content"`
	}
	err := c.call(ctx, "read", http.MethodGet, sandboxPath(id, "/fs/read"), url.Values{"path": {p}}, nil, &out)
	return out.Content, err
}

// removePath removes p, file or tree (rm -rf: a missing p is not an error).
func (c *client) removePath(ctx context.Context, id, p string) error {
	return c.call(httpx.Idempotent(ctx), "remove", http.MethodDelete, sandboxPath(id, "/fs"), url.Values{"path": {p}}, nil, nil)
}

// shellStream starts req on the SSE endpoint and returns the event stream.
func (c *client) shellStream(ctx context.Context, id string, req shellRequest) (io.ReadCloser, error) {
	resp, err := c.rc.R().SetContext(ctx).
		SetHeader("Accept", "text/event-stream").
		SetBody(req).
		SetDoNotParseResponse(true).
		Post(sandboxPath(id, "/shell/stream"))
	if err != nil {
		return nil, c.check("exec", resp, err)
	}
	body := resp.RawBody()
	if !resp.IsSuccess() {
		defer body.Close()
		b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
		return nil, httpx.StatusError(ProviderName, "exec", resp.StatusCode(), resp.Header(), b, decodeError, c.key)
	}
	return body, nil
}

// volumeInfo is VolumeInfo.
type volumeInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	CreatedAt string `json:"createdAt"`
}

// volumeByName gets the volume called name, creating it if missing.
func (c *client) volumeByName(ctx context.Context, name string) (volumeInfo, error) {
	var v volumeInfo
	err := c.call(ctx, "volume", http.MethodGet, "/api/v1/volume/name/"+url.PathEscape(name), url.Values{"create": {"true"}}, nil, &v)
	return v, err
}

func (c *client) volume(ctx context.Context, id string) (volumeInfo, error) {
	var v volumeInfo
	err := c.call(ctx, "volume", http.MethodGet, "/api/v1/volume/"+url.PathEscape(id), nil, nil, &v)
	return v, err
}

// parseTime reads the API's timestamps (ISO 8601); zero when absent or in
// another format.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
