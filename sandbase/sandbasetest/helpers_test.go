//go:build unix

package sandbasetest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client speaks to one emulator with plain net/http.
type client struct {
	t   *testing.T
	srv *sandbasetest.Server
	hc  *http.Client
}

func start(t *testing.T, opts ...sandbasetest.Option) *client {
	t.Helper()
	srv := sandbasetest.NewServer(opts...)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		srv.Close()
	})
	return &client{t: t, srv: srv, hc: hc}
}

// request sends method path with body (JSON-encoded unless a []byte or an
// io.Reader) and the Bearer key, plus the given header pairs.
func (c *client) request(method, path string, body any, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r = b
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(c.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, r)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.srv.APIKey())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, b
}

// call sends a request, requires the status and decodes the body into out
// (when not nil).
func (c *client) call(method, path string, body any, status int, out any) {
	c.t.Helper()
	resp, b := c.request(method, path, body)
	require.Equal(c.t, status, resp.StatusCode, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
	}
}

// fails sends a request and requires an E2B-shaped error with status and
// message.
func (c *client) fails(method, path string, body any, status int, message string) {
	c.t.Helper()
	resp, b := c.request(method, path, body)
	requireError(c.t, resp, b, status, message)
}

func requireError(t *testing.T, resp *http.Response, b []byte, status int, message string) {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, "%s", b)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(b, &e), "%s", b)
	require.Equal(t, status, e.Code)
	require.Equal(t, message, e.Message)
}

type sandboxObj struct {
	SandboxID  string            `json:"sandboxID"`
	TemplateID string            `json:"templateID"`
	ClientID   string            `json:"clientID"`
	Metadata   map[string]string `json:"metadata"`
	StartedAt  time.Time         `json:"startedAt"`
	EndAt      time.Time         `json:"endAt"`
	Status     string            `json:"status"`
}

// create makes a sandbox from body (a map; templateID "base" by default).
func (c *client) create(body map[string]any) sandboxObj {
	c.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["templateID"]; !ok {
		body["templateID"] = "base"
	}
	var sb sandboxObj
	c.call("POST", "/sandboxes", body, http.StatusCreated, &sb)
	return sb
}

func (c *client) get(id string) sandboxObj {
	c.t.Helper()
	var sb sandboxObj
	c.call("GET", "/sandboxes/"+id, nil, http.StatusOK, &sb)
	return sb
}

type execResult struct {
	ProcessID string `json:"processID"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	ExitCode  int    `json:"exitCode"`
}

// sh runs a shell line in sandbox id and requires HTTP 200.
func (c *client) sh(id, line string) execResult {
	c.t.Helper()
	var res execResult
	c.call("POST", "/sandboxes/"+id+"/processes", map[string]any{"cmd": "sh", "args": []string{"-c", line}}, http.StatusOK, &res)
	return res
}

// workdir returns the host path /workspace stands for in sandbox id.
func (c *client) workdir(id string) string {
	c.t.Helper()
	var e entry
	c.call("GET", "/sandboxes/"+id+"/filesystem/stat?path=/workspace", nil, http.StatusOK, &e)
	require.True(c.t, e.IsDir)
	return e.Path
}

type entry struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	IsDir bool   `json:"isDir"`
	Type  string `json:"type"`
	Size  int64  `json:"size"`
}

// eventually polls cond (a condition on the sandbox, not the passing of
// time) until it holds.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func trim(s string) string { return strings.TrimSpace(s) }
