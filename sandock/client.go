package sandock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// client speaks Sandock's REST API: every response is the wrapper
// {success, code, message, data}, unwrapped here into data or a classified
// *sandagent.Error.
type client struct {
	rc  *resty.Client
	key string // a secret: redacted from every error
}

// envelope is the wrapper around every response. Success is a pointer
// because the volume endpoints are documented with {data} only: a missing
// flag defers to the HTTP status.
type envelope struct {
	Success *bool           `json:"success"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// decodeError is the httpx.Decoder for the wrapper's message.
func decodeError(body []byte) string {
	var e envelope
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if e.Message == "" && e.Code != 0 {
		return fmt.Sprintf("code %d", e.Code)
	}
	return e.Message
}

// check classifies a failed request. Sandock has no names, so a 409 always
// means the sandbox's state forbids the operation (exec on a stopped
// sandbox, for one): ErrState rather than ErrConflict.
func (c *client) check(op string, r *resty.Response, err error) error {
	return conflictIsState(httpx.Check(ProviderName, op, r, err, decodeError, c.key))
}

func conflictIsState(err error) error {
	var e *sandagent.Error
	if errors.As(err, &e) && e.Status == http.StatusConflict {
		e.Kind = sandagent.ErrState
	}
	return err
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
		status := env.Code
		if status < 400 {
			status = 0
		}
		return conflictIsState(httpx.StatusError(ProviderName, op, status, resp.Header(), resp.Body(), decodeError, c.key))
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return &sandagent.Error{Provider: ProviderName, Op: op, Status: resp.StatusCode(), Message: fmt.Sprintf("malformed response data: %v", err)}
		}
	}
	return nil
}

// sandboxItem is one entry of GET /api/v1/sandbox. Title is not in the
// documented schema: it stays nil unless the service reports it.
type sandboxItem struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Image     string          `json:"image,omitempty"`
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
	ActiveDeadlineSeconds int               `json:"activeDeadlineSeconds,omitempty"`
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

// start starts a sandbox. It is idempotent ("started or reused"), so it may
// be retried; started=false means it was already running.
func (c *client) start(ctx context.Context, id string) error {
	return c.call(httpx.Idempotent(ctx), "start", http.MethodPost, sandboxPath(id, "/start"), nil, nil, nil)
}

func (c *client) stop(ctx context.Context, id string) error {
	return c.call(httpx.Idempotent(ctx), "stop", http.MethodPost, sandboxPath(id, "/stop"), nil, nil, nil)
}

func (c *client) remove(ctx context.Context, id string) error {
	return c.call(ctx, "destroy", http.MethodDelete, sandboxPath(id, ""), nil, nil, nil)
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
		return nil, conflictIsState(httpx.StatusError(ProviderName, "exec", resp.StatusCode(), resp.Header(), b, decodeError, c.key))
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
