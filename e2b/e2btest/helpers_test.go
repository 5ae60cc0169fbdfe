//go:build unix

package e2btest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sandagent/sandagent/e2b/e2btest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start starts a server with a frozen clock, closed when the test ends.
func start(t *testing.T, opts ...e2btest.Option) *e2btest.Server {
	t.Helper()
	s := e2btest.NewServer(opts...)
	s.Clock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	t.Cleanup(s.Close)
	return s
}

// call makes a control-plane request with the server's API key and
// returns the status, the headers and the body.
func call(t *testing.T, s *e2btest.Server, method, path string, body any) (int, http.Header, string) {
	t.Helper()
	return callKey(t, s, s.APIKey(), method, path, body)
}

func callKey(t *testing.T, s *e2btest.Server, key, method, path string, body any) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

// created is the answer to a create, connect or resume.
type created struct {
	SandboxID       string `json:"sandboxID"`
	TemplateID      string `json:"templateID"`
	Alias           string `json:"alias"`
	ClientID        string `json:"clientID"`
	EnvdVersion     string `json:"envdVersion"`
	EnvdAccessToken string `json:"envdAccessToken"`
}

// detail is the answer to GET /sandboxes/{id} and an item of the lists.
type detail struct {
	SandboxID string            `json:"sandboxID"`
	State     string            `json:"state"`
	StartedAt time.Time         `json:"startedAt"`
	EndAt     time.Time         `json:"endAt"`
	Metadata  map[string]string `json:"metadata"`
}

func create(t *testing.T, s *e2btest.Server, body map[string]any) created {
	t.Helper()
	if body["templateID"] == nil {
		body["templateID"] = "base"
	}
	status, _, b := call(t, s, "POST", "/sandboxes", body)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, b)
	}
	var c created
	decode(t, b, &c)
	return c
}

func getSandbox(t *testing.T, s *e2btest.Server, id string) detail {
	t.Helper()
	status, _, b := call(t, s, "GET", "/sandboxes/"+id, nil)
	if status != http.StatusOK {
		t.Fatalf("get %s: %d %s", id, status, b)
	}
	var d detail
	decode(t, b, &d)
	return d
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

// home is the sandbox's home directory: its engine work tree.
func home(*e2btest.Server, string) string { return "/home/user" }

// envdTransport adds the proxy's routing headers (and an access token) to
// every request, as the SDKs do.
type envdTransport struct {
	id, token string
	base      http.RoundTripper
}

func (e envdTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("E2b-Sandbox-Id", e.id)
	r.Header.Set("E2b-Sandbox-Port", "49983")
	if e.token != "" {
		r.Header.Set("X-Access-Token", e.token)
	}
	return e.base.RoundTrip(r)
}

func envdHTTP(c created) *http.Client {
	return &http.Client{Transport: envdTransport{id: c.SandboxID, token: c.EnvdAccessToken, base: http.DefaultTransport}}
}
