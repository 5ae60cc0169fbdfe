//go:build unix

package sandbasetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type client struct {
	t   *testing.T
	srv *sandbasetest.Server
	hc  *http.Client
}

func start(t *testing.T, opts ...sandbasetest.Option) *client {
	srv := sandbasetest.NewServer(opts...)
	srv.Clock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { hc.CloseIdleConnections(); srv.Close() })
	return &client{t, srv, hc}
}

// call sends a request with the key and the given headers; it returns the
// status and body.
func (c *client) call(method, path string, body any, header ...string) (int, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, r)
	require.NoError(c.t, err)
	req.Header.Set("X-API-Key", c.srv.APIKey())
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

type object struct {
	SandboxID       string    `json:"sandboxID"`
	EnvdAccessToken string    `json:"envdAccessToken"`
	State           string    `json:"state"`
	EndAt           time.Time `json:"endAt"`
}

func (c *client) create(body map[string]any) object {
	c.t.Helper()
	if body["templateID"] == nil {
		body["templateID"] = "base"
	}
	status, b := c.call("POST", "/v2/sandboxes", body)
	require.Equal(c.t, http.StatusCreated, status, b)
	var o object
	require.NoError(c.t, json.Unmarshal([]byte(b), &o))
	return o
}

func (c *client) get(id string) object {
	c.t.Helper()
	status, b := c.call("GET", "/sandboxes/"+id, nil)
	require.Equal(c.t, http.StatusOK, status, b)
	var o object
	require.NoError(c.t, json.Unmarshal([]byte(b), &o))
	return o
}

func TestAuth(t *testing.T) {
	c := start(t)
	require.Regexp(t, `^sk-[0-9a-f]{64}$`, c.srv.APIKey())
	for key, msg := range map[string]string{"": "missing API key", "sk-sb-other": "invalid API key"} {
		req, _ := http.NewRequest("GET", c.srv.URL+"/v2/sandboxes", nil)
		req.Header.Set("X-API-Key", key)
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.JSONEq(t, `{"code":401,"message":"`+msg+`"}`, string(b))
	}
	other := start(t, sandbasetest.WithAPIKey("sk-sb-legacy"))
	status, _ := other.call("GET", "/v2/sandboxes", nil)
	require.Equal(t, http.StatusOK, status, "an sk-sb- key is as good")
}

func TestRoutes(t *testing.T) {
	c := start(t)
	o := c.create(map[string]any{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/sandboxes", http.StatusMethodNotAllowed}, // POST /sandboxes is served (SDK 2.50.0)
		{"POST", "/sandboxes/" + o.SandboxID + "/resume", http.StatusNotFound},
		{"POST", "/sandboxes/" + o.SandboxID + "/refreshes", http.StatusNotFound},
	} {
		status, b := c.call(tc.method, tc.path, map[string]any{})
		require.Equal(t, tc.status, status, tc.path)
		require.JSONEq(t, fmt.Sprintf(`{"code":%d,"message":%q}`, tc.status, http.StatusText(tc.status)), b)
	}
	status, b := c.call("GET", "/sandboxes/inosuch", nil)
	require.Equal(t, http.StatusNotFound, status)
	require.JSONEq(t, `{"code":404,"message":"sandbox not found"}`, b)
}

// TestConnectRenewsToken: connect answers 200 even when it resumed, with
// a new envdAccessToken; envd refuses the old one.
func TestConnectRenewsToken(t *testing.T) {
	c := start(t)
	o := c.create(map[string]any{"timeout": 60})
	require.NotEmpty(t, o.EnvdAccessToken)
	health := func(token string) int {
		status, _ := c.call("POST", "/process.Process/List", map[string]any{},
			"E2b-Sandbox-Id", o.SandboxID, "E2b-Sandbox-Port", "49983", "X-Access-Token", token, "Connect-Protocol-Version", "1")
		return status
	}
	require.Equal(t, http.StatusOK, health(o.EnvdAccessToken))

	status, _ := c.call("POST", "/sandboxes/"+o.SandboxID+"/pause", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, b := c.call("POST", "/sandboxes/"+o.SandboxID+"/pause", nil)
	require.Equal(t, http.StatusConflict, status)
	require.JSONEq(t, `{"code":409,"message":"sandbox is already paused"}`, b)
	status, b = c.call("POST", "/sandboxes/"+o.SandboxID+"/timeout", map[string]any{"timeout": 60})
	require.Equal(t, http.StatusConflict, status)
	require.JSONEq(t, `{"code":409,"message":"sandbox is not active"}`, b)

	c.srv.Clock.Advance(time.Hour)
	status, b = c.call("POST", "/v2/sandboxes/"+o.SandboxID+"/connect", map[string]any{"timeout": 120})
	require.Equal(t, http.StatusOK, status, "resumed, yet 200")
	var again object
	require.NoError(t, json.Unmarshal([]byte(b), &again))
	require.NotEqual(t, o.EnvdAccessToken, again.EnvdAccessToken)
	require.Equal(t, http.StatusUnauthorized, health(o.EnvdAccessToken), "the old token")
	require.Equal(t, http.StatusOK, health(again.EnvdAccessToken))
	got := c.get(o.SandboxID)
	require.Equal(t, "running", got.State)
	require.Equal(t, c.srv.Clock.Now().Add(120*time.Second), got.EndAt, "the timeout counts afresh")
}

func TestLifetime(t *testing.T) {
	c := start(t, sandbasetest.WithMaxLifetime(10*time.Minute))
	o := c.create(map[string]any{"timeout": 3600})
	require.Equal(t, c.srv.Clock.Now().Add(10*time.Minute), c.get(o.SandboxID).EndAt, "cut to the lifetime")
	c.srv.Clock.Advance(9 * time.Minute)
	status, _ := c.call("POST", "/sandboxes/"+o.SandboxID+"/timeout", map[string]any{"timeout": 600})
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, c.srv.Clock.Now().Add(time.Minute), c.get(o.SandboxID).EndAt, "a keep-alive stops at the lifetime")

	c.srv.Clock.Advance(time.Minute)
	for _, r := range []struct{ method, path string }{{"GET", ""}, {"POST", "/v2/sandboxes/{id}/connect"}, {"POST", "/timeout"}} {
		path := "/sandboxes/" + o.SandboxID + r.path
		if r.path == "/v2/sandboxes/{id}/connect" {
			path = "/v2/sandboxes/" + o.SandboxID + "/connect"
		}
		status, b := c.call(r.method, path, map[string]any{"timeout": 60})
		require.Equal(t, http.StatusConflict, status, path)
		require.JSONEq(t, `{"code":409,"message":"sandbox maximum lifetime exceeded"}`, b)
	}
	status, _ = c.call("DELETE", "/sandboxes/"+o.SandboxID, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = c.call("GET", "/sandboxes/"+o.SandboxID, nil)
	require.Equal(t, http.StatusNotFound, status)

	// A pause and resume restarts the window.
	p := c.create(map[string]any{"timeout": 600})
	c.srv.Clock.Advance(9 * time.Minute)
	status, _ = c.call("POST", "/sandboxes/"+p.SandboxID+"/pause", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = c.call("POST", "/v2/sandboxes/"+p.SandboxID+"/connect", map[string]any{"timeout": 600})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, c.srv.Clock.Now().Add(10*time.Minute), c.get(p.SandboxID).EndAt)
}

func TestBalance(t *testing.T) {
	c := start(t)
	c.srv.SetBalance(false)
	status, b := c.call("POST", "/v2/sandboxes", map[string]any{"templateID": "base"})
	require.Equal(t, http.StatusPaymentRequired, status)
	require.JSONEq(t, `{"code":402,"message":"insufficient balance"}`, b)
	c.srv.SetBalance(true)
	c.create(map[string]any{})
}

// TestEnvdOnTheSandboxHost: envd answers on the sandbox's own host,
// 49983-<id>.<domain>, as on sandbox.sandbase.ai, with the access token.
func TestEnvdOnTheSandboxHost(t *testing.T) {
	c := start(t)
	o := c.create(map[string]any{})
	list := func(host, token string) int {
		req, err := http.NewRequest("POST", c.srv.URL+"/process.Process/List", bytes.NewReader([]byte("{}")))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Connect-Protocol-Version", "1")
		req.Header.Set("X-Access-Token", token)
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, list("49983-"+o.SandboxID+".sandbox.sandbase.ai", o.EnvdAccessToken))
	require.Equal(t, http.StatusUnauthorized, list("49983-"+o.SandboxID+".sandbox.sandbase.ai", "wrong"))
	require.Equal(t, http.StatusBadGateway, list("3000-"+o.SandboxID+".sandbox.sandbase.ai", o.EnvdAccessToken), "a port nothing listens on")
}
