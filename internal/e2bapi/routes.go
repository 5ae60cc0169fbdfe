package e2bapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// NewSandbox is the create request: E2B's NewSandboxV2 schema, sent to
// POST /v2/sandboxes. On a service that serves only v1 it goes to POST
// /sandboxes as the NewSandbox schema, with Secure.
type NewSandbox struct {
	TemplateID string `json:"templateID"`
	// Timeout is the sandbox's time to live in seconds (v2's default: 300).
	Timeout int32 `json:"timeout"`
	// AutoPause pauses instead of killing at the end of the timeout.
	AutoPause bool `json:"autoPause,omitempty"`
	// AutoPauseMemory false makes the auto-pause keep the filesystem
	// only (default true: memory too). It needs AutoPause and excludes
	// AutoResume.
	AutoPauseMemory     *bool             `json:"autoPauseMemory,omitempty"`
	AutoResume          *AutoResume       `json:"autoResume,omitempty"`
	AllowInternetAccess *bool             `json:"allow_internet_access,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	EnvVars             map[string]string `json:"envVars,omitempty"`
	Network             *Network          `json:"network,omitempty"`
	VolumeMounts        []VolumeMount     `json:"volumeMounts,omitempty"`
	// Secure asks for the envd access token. v2 always secures a sandbox;
	// only v1 sends it.
	Secure bool `json:"-"`
}

// AutoResume is E2B's SandboxAutoResumeConfig.
type AutoResume struct {
	Enabled bool `json:"enabled"`
}

// Network is E2B's SandboxNetworkConfig: egress rules and whether the
// sandbox's ports are public.
type Network struct {
	AllowOut           []string `json:"allowOut,omitempty"`
	DenyOut            []string `json:"denyOut,omitempty"`
	AllowPublicTraffic *bool    `json:"allowPublicTraffic,omitempty"`
	MaskRequestHost    string   `json:"maskRequestHost,omitempty"`
}

// VolumeMount mounts the volume Name at Path.
type VolumeMount struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// connectBody is E2B's ConnectSandboxV2 (and ConnectSandbox) request.
type connectBody struct {
	Timeout int32 `json:"timeout"`
	Memory  *bool `json:"memory,omitempty"`
}

// v1Sandbox is the v1 create request: NewSandbox with secure.
type v1Sandbox struct {
	NewSandbox
	Secure bool `json:"secure"`
}

// Create creates a sandbox: POST /v2/sandboxes, or POST /sandboxes on a
// service that does not serve v2.
func (c *Client) Create(ctx context.Context, body NewSandbox) (Sandbox, error) {
	post := func(v1 bool) (*resty.Response, error) {
		if v1 {
			return c.R(ctx).SetBody(v1Sandbox{body, body.Secure}).Post("/sandboxes")
		}
		return c.R(ctx).SetBody(body).Post("/v2/sandboxes")
	}
	r, err := c.route(post, "template")
	return c.sandbox("create", r, err)
}

// Connect attaches to a sandbox, resuming it if it is paused, and gives it
// timeout from now (POST /v2/sandboxes/{id}/connect, or the v1 route on a
// service that does not serve v2). E2B answers 201 when it resumed the
// sandbox (Resumed) and 200 when it was running (Reused); with
// Dialect.ConnectAlways200 the answer cannot tell and is Reused: the caller
// tells by the state it saw.
func (c *Client) Connect(ctx context.Context, id string, timeout time.Duration) (Sandbox, sandagent.Outcome, error) {
	body := connectBody{Timeout: Seconds(timeout), Memory: c.resumeMemory}
	post := func(v1 bool) (*resty.Response, error) {
		p := path(id, "/connect")
		if !v1 {
			p = "/v2" + p
		}
		return c.R(httpx.Idempotent(ctx)).SetBody(body).Post(p)
	}
	r, err := c.route(post, "sandbox")
	out, err := c.sandbox("connect", r, err)
	if err != nil {
		return out, 0, err
	}
	if r.StatusCode() == http.StatusCreated {
		return out, sandagent.Resumed, nil
	}
	return out, sandagent.Reused, nil
}

// route sends a request to its v2 route and, when the service answers
// that it does not serve it, to its v1 route; a service found to lack v2
// is asked v1 from then on. Not serving a route is a 405, or a 404 that is
// not the route's own answer: the route's 404s are E2B's JSON errors
// naming what is missing (ours: "sandbox" or "template"). A 404 naming
// it, and any other answer, is the route's. When v1 answers 404 or 405
// too, the service does serve v2 (the 404 meant something else): v2's
// answer stands and nothing is remembered.
func (c *Client) route(post func(v1 bool) (*resty.Response, error), ours string) (*resty.Response, error) {
	if c.v1.Load() {
		return post(true)
	}
	r, err := post(false)
	if err != nil || !routeMissing(r, ours) {
		return r, err
	}
	r1, err1 := post(true)
	if err1 != nil || r1.StatusCode() == http.StatusNotFound || r1.StatusCode() == http.StatusMethodNotAllowed {
		return r, err
	}
	c.v1.Store(true)
	return r1, nil
}

// routeMissing reports whether r says its route is not served.
func routeMissing(r *resty.Response, ours string) bool {
	switch r.StatusCode() {
	case http.StatusMethodNotAllowed:
		return true
	case http.StatusNotFound:
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(r.Body(), &e)
		return !strings.Contains(strings.ToLower(e.Message), strings.ToLower(ours))
	}
	return false
}
