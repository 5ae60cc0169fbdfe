// Package e2bapi is the client of E2B's control plane and of the services
// that speak a dialect of it, such as SandBase: create, get, connect, pause,
// kill and set-timeout of sandboxes, E2B's {"code","message"} errors and its
// sandbox object. Reuse builds the reuse rule the providers share on it.
//
// A Dialect holds what differs between the services' control planes, a
// Service what differs for a provider built on package e2b (defaults,
// environment variables); everything else is E2B's wire format. Create and
// connect use E2B's v2 routes, falling back to v1 on a service without them.
// Listing stays with package e2b, which hands Reuse its result.
package e2bapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// Dialect is what a service changes in E2B's control plane.
type Dialect struct {
	Provider  string // the provider's name, in errors and logs
	UserAgent string
	// ConflictIsState reads every 409 as ErrState: the service answers 409
	// to an operation the sandbox's state forbids ("sandbox is paused").
	// E2B's 409s stay ErrConflict, except on pause.
	ConflictIsState bool
	// ConnectAlways200: connect answers 200 whether it resumed the sandbox
	// or found it running, so Reuse tells Resumed from Reused by the state
	// it saw before connecting (by id, one GET more).
	ConnectAlways200 bool
}

// Options configures a Client.
type Options struct {
	Dialect
	BaseURL    string
	APIKey     string // a secret: sent in the auth header, redacted from every error
	HTTPClient *http.Client
	Logger     *slog.Logger
	// ResumeMemory, when set to false, makes a connect that resumes a
	// paused sandbox boot it from its disk state (E2B's memory=false).
	ResumeMemory *bool
}

// Client is a control-plane client. It is safe for concurrent use.
type Client struct {
	d   Dialect
	c   *resty.Client
	key string
	// v1 is set once the service answered that it does not serve the v2
	// create or connect route: every later create and connect asks v1.
	v1           atomic.Bool
	resumeMemory *bool
}

// New returns a Client. It does no I/O.
func New(o Options) *Client {
	header := map[string]string{"X-API-Key": o.APIKey}
	return &Client{d: o.Dialect, key: o.APIKey, resumeMemory: o.ResumeMemory, c: httpx.NewClient(httpx.Options{
		Provider:   o.Provider,
		BaseURL:    o.BaseURL,
		HTTPClient: o.HTTPClient,
		Logger:     o.Logger,
		Header:     header,
		UserAgent:  o.UserAgent,
	})}
}

// Sandbox is the sandbox object: E2B's Sandbox, ListedSandbox and
// SandboxDetail schemas in one. A field a service does not send stays zero.
type Sandbox struct {
	SandboxID   string            `json:"sandboxID"`
	TemplateID  string            `json:"templateID"`
	Alias       string            `json:"alias,omitempty"`
	ClientID    string            `json:"clientID,omitempty"`
	StartedAt   time.Time         `json:"startedAt"`
	EndAt       time.Time         `json:"endAt"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	State       string            `json:"state,omitempty"` // running or paused
	CPUCount    int               `json:"cpuCount,omitempty"`
	MemoryMB    int               `json:"memoryMB,omitempty"`
	DiskSizeMB  int               `json:"diskSizeMB,omitempty"`
	EnvdVersion string            `json:"envdVersion,omitempty"`
	// EnvdAccessToken is a secret.
	EnvdAccessToken    string  `json:"envdAccessToken,omitempty"`
	TrafficAccessToken *string `json:"trafficAccessToken,omitempty"`
	Domain             *string `json:"domain,omitempty"`
}

// Provider returns the provider's name, for errors.
func (c *Client) Provider() string { return c.d.Provider }

// Seconds is d in whole seconds, rounded up as the SDKs do, within int32.
func Seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	return int32(min(max(s, 0), math.MaxInt32))
}

// R starts a request with ctx, for the calls the Client has no method for.
func (c *Client) R(ctx context.Context) *resty.Request { return c.c.R().SetContext(ctx) }

// Check classifies a failed request, redacting the API key and any extra
// secrets, and applies the dialect's reading of 409.
func (c *Client) Check(op string, r *resty.Response, err error, secrets ...string) error {
	return c.classify(httpx.Check(c.d.Provider, op, r, err, nil, append(secrets, c.key)...))
}

// classify applies the dialect's reading of 409.
func (c *Client) classify(err error) error {
	var e *sandagent.Error
	if c.d.ConflictIsState && errors.As(err, &e) && e.Status == http.StatusConflict {
		e.Kind = sandagent.ErrState
	}
	return err
}

// path is /sandboxes/{id} followed by more.
func path(id string, more ...string) string {
	return "/sandboxes/" + url.PathEscape(id) + strings.Join(more, "")
}

// sandbox checks a response that must carry a sandbox object and decodes
// it, whatever its Content-Type says: a 2xx that is not one (an HTML page,
// broken JSON, an object without an id) is an error, never a blank sandbox.
func (c *Client) sandbox(op string, r *resty.Response, err error) (Sandbox, error) {
	var out Sandbox
	if err := c.Check(op, r, err); err != nil {
		return out, err
	}
	if err := json.Unmarshal(r.Body(), &out); err != nil || out.SandboxID == "" {
		return Sandbox{}, &sandagent.Error{Provider: c.d.Provider, Op: op, Status: r.StatusCode(),
			Message: "unexpected response: not a sandbox object"}
	}
	return out, nil
}

// Get asks GET /sandboxes/{id}.
func (c *Client) Get(ctx context.Context, id string) (Sandbox, error) {
	r, err := c.R(ctx).Get(path(id))
	return c.sandbox("state", r, err)
}

// Kill asks DELETE /sandboxes/{id}; a sandbox already gone is success.
func (c *Client) Kill(ctx context.Context, id string) error {
	r, err := c.R(ctx).Delete(path(id))
	if r != nil && r.StatusCode() == http.StatusNotFound {
		return nil // already gone
	}
	return c.Check("destroy", r, err)
}

// Pause asks POST /sandboxes/{id}/pause. A 409 saying the sandbox is
// already paused is success; any other 409 is ErrState (the sandbox is
// being killed, or is stopped).
func (c *Client) Pause(ctx context.Context, id string) error {
	r, err := c.R(ctx).Post(path(id, "/pause"))
	err = c.Check("pause", r, err)
	if r != nil && r.StatusCode() == http.StatusConflict {
		var e *sandagent.Error
		if errors.As(err, &e) {
			if strings.Contains(e.Message, "already paused") {
				return nil
			}
			e.Kind = sandagent.ErrState
		}
	}
	return err
}

// SetTimeout asks POST /sandboxes/{id}/timeout: the sandbox lives for d
// from now.
func (c *Client) SetTimeout(ctx context.Context, id string, d time.Duration) error {
	r, err := c.R(ctx).
		SetBody(map[string]int32{"timeout": Seconds(d)}).
		Post(path(id, "/timeout"))
	return c.Check("set-timeout", r, err)
}

// Do sends a request built outside resty (a streamed upload: resty reads a
// whole body into memory) through the same *http.Client, with the auth and
// user-agent headers. It is not retried. Classify the answer with
// CheckResponse.
func (c *Client) Do(ctx context.Context, method, p string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.c.BaseURL+p, body)
	if err != nil {
		return nil, err
	}
	for k, v := range c.c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	return c.c.GetClient().Do(req)
}

// CheckResponse classifies the outcome of a request whose body the caller
// reads itself (Do, or resty's SetDoNotParseResponse). On failure it reads
// and closes the body.
func (c *Client) CheckResponse(op string, resp *http.Response, err error) error {
	if err != nil {
		return c.Check(op, nil, err)
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return c.classify(httpx.StatusError(c.d.Provider, op, resp.StatusCode, resp.Header, b, nil, c.key))
}
