//go:build unix

package e2b_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
)

// recorder keeps every control-plane request a client sends.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	next http.RoundTripper
}

type recorded struct {
	method, path string
	query        map[string][]string
	body         []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	envd := req.Header.Get("E2b-Sandbox-Id") != ""
	if !envd && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.Query(), b})
		r.mu.Unlock()
	} else if !envd {
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.Query(), nil})
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

// The request shapes of E2B's API schema (the e2b npm package 2.51.0,
// dist/index.d.ts) that the client sends, field for field. Required
// fields are checked separately.
type (
	schemaNewSandboxV2 struct {
		AllowInternetAccess *bool `json:"allow_internet_access"`
		AutoPause           *bool `json:"autoPause"`
		AutoPauseMemory     *bool `json:"autoPauseMemory"`
		AutoResume          *struct {
			Enabled *bool `json:"enabled"`
		} `json:"autoResume"`
		EnvVars      map[string]string `json:"envVars"`
		IAM          json.RawMessage   `json:"iam"`
		MCP          json.RawMessage   `json:"mcp"`
		Metadata     map[string]string `json:"metadata"`
		Network      *schemaNetwork    `json:"network"`
		TemplateID   *string           `json:"templateID"`
		Timeout      *int32            `json:"timeout"`
		VolumeMounts []struct {
			Name *string `json:"name"`
			Path *string `json:"path"`
		} `json:"volumeMounts"`
	}
	schemaNetwork struct {
		AllowOut           []string        `json:"allowOut"`
		AllowPublicTraffic *bool           `json:"allowPublicTraffic"`
		DenyOut            []string        `json:"denyOut"`
		EgressProxy        json.RawMessage `json:"egressProxy"`
		HTTPSPorts         []int           `json:"httpsPorts"`
		MaskRequestHost    *string         `json:"maskRequestHost"`
		Rules              json.RawMessage `json:"rules"`
	}
	schemaConnectSandboxV2 struct {
		Memory  *bool  `json:"memory"`
		Timeout *int32 `json:"timeout"`
	}
	schemaTimeoutRequest struct {
		Timeout *int32 `json:"timeout"`
	}
	schemaPauseRequest struct {
		Memory *bool `json:"memory"`
	}
)

// The schema's deprecated operations.
var deprecated = []struct{ method, path string }{
	{"GET", `^/sandboxes$`}, {"POST", `^/sandboxes$`},
	{"POST", `^/sandboxes/[^/]+/connect$`}, {"POST", `^/sandboxes/[^/]+/resume$`},
	{"GET", `^/sandboxes/[^/]+/logs$`}, {"GET", `^/templates$`}, {"GET", `^/templates/[^/]+$`},
}

// strict decodes b into v, refusing unknown fields and trailing data.
func strict(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "%s: %s", what, b)
	require.False(t, dec.More(), "%s: trailing data", what)
}

// TestRequestsFollowNewestSchema records the client's control-plane
// requests through a whole flow and checks them against the newest API
// schema: no deprecated route, and every body of the schema's shape.
func TestRequestsFollowNewestSchema(t *testing.T) {
	srv := server(t)
	rec := &recorder{next: http.DefaultTransport}
	hc := &http.Client{Transport: rec}
	ctx := t.Context()
	o := opts(srv, e2b.WithHTTPClient(hc), e2b.WithName("schema"), e2b.WithAutoPause(), e2b.WithAutoResume(),
		e2b.WithMetadata(map[string]string{"team": "a b"}), e2b.WithEnv(map[string]string{"K": "v"}),
		e2b.WithNetwork(e2b.Network{AllowOut: []string{"example.com"}, DenyOut: []string{"0.0.0.0/0"}}))
	sb, err := e2b.New(o...)
	require.NoError(t, err)
	h, err := sb.Attach(ctx)
	require.NoError(t, err)
	_, err = h.Exec(ctx, &sandagent.Cmd{Args: []string{"true"}})
	require.NoError(t, err)
	require.NoError(t, h.SetTimeout(ctx, 10*time.Minute))
	require.NoError(t, h.Pause(ctx))
	_, err = h.State(ctx)
	require.NoError(t, err)
	byID, err := e2b.New(opts(srv, e2b.WithHTTPClient(hc), e2b.WithID(h.ID()))...)
	require.NoError(t, err)
	h2, err := byID.Attach(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.Resumed, h2.Outcome())
	for _, err := range e2b.List(ctx, e2b.Filter{Metadata: map[string]string{"team": "a b"}}, opts(srv, e2b.WithHTTPClient(hc))...) {
		require.NoError(t, err)
	}
	for _, err := range sb.Managed(ctx) {
		require.NoError(t, err)
	}
	require.NoError(t, sb.Kill(context.Background(), h.ID()))

	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range rec.reqs {
		for _, d := range deprecated {
			require.False(t, r.method == d.method && regexp.MustCompile(d.path).MatchString(r.path), "deprecated route: %s %s", r.method, r.path)
		}
		var op string
		switch {
		case r.method == "POST" && r.path == "/v2/sandboxes":
			op = "create"
			var v schemaNewSandboxV2
			strict(t, op, r.body, &v)
			require.NotNil(t, v.TemplateID, "templateID is required")
			require.NotNil(t, v.AutoResume.Enabled, "autoResume.enabled is required")
			require.NotNil(t, v.Network)
		case r.method == "POST" && strings.HasSuffix(r.path, "/connect"):
			op = "connect"
			strict(t, op, r.body, &schemaConnectSandboxV2{})
		case r.method == "POST" && strings.HasSuffix(r.path, "/timeout"):
			op = "timeout"
			var v schemaTimeoutRequest
			strict(t, op, r.body, &v)
			require.NotNil(t, v.Timeout, "timeout is required")
		case r.method == "POST" && strings.HasSuffix(r.path, "/pause"):
			op = "pause"
			if len(r.body) > 0 {
				strict(t, op, r.body, &schemaPauseRequest{})
			}
		case r.method == "GET" && r.path == "/v2/sandboxes":
			op = "list"
			for k, vs := range r.query {
				require.Contains(t, []string{"limit", "metadata", "nextToken", "order", "startedAfter", "state", "template"}, k)
				if k == "state" {
					for _, st := range strings.Split(strings.Join(vs, ","), ",") {
						require.Contains(t, []string{"running", "paused"}, st)
					}
				}
			}
		case r.method == "GET" && strings.HasPrefix(r.path, "/sandboxes/"):
			op = "get"
		case r.method == "DELETE" && strings.HasPrefix(r.path, "/sandboxes/"):
			op = "kill"
		default:
			t.Fatalf("a request the test does not know: %s %s", r.method, r.path)
		}
		seen[op] = true
	}
	for _, op := range []string{"create", "connect", "timeout", "pause", "list", "get", "kill"} {
		require.True(t, seen[op], "the flow sent %s", op)
	}
}
