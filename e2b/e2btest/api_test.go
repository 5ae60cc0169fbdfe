//go:build unix

package e2btest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/e2b/e2btest"
)

func TestCreateGetKill(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"timeout": 60, "secure": true, "metadata": map[string]string{"k": "v"}})
	assert.Regexp(t, `^i[a-z0-9]{20}$`, c.SandboxID)
	assert.Equal(t, created{SandboxID: c.SandboxID, TemplateID: "base", Alias: "base", ClientID: "6532622b",
		EnvdVersion: "0.6.13", EnvdAccessToken: c.EnvdAccessToken}, c)
	assert.Regexp(t, `^[0-9a-f]{64}$`, c.EnvdAccessToken)
	assert.Empty(t, create(t, s, map[string]any{}).EnvdAccessToken, "not secure: no token")

	d := getSandbox(t, s, c.SandboxID)
	assert.Equal(t, "running", d.State)
	assert.Equal(t, map[string]string{"k": "v"}, d.Metadata)
	assert.Equal(t, s.Clock.Now(), d.StartedAt)
	assert.Equal(t, s.Clock.Now().Add(60*time.Second), d.EndAt)

	status, _, body := call(t, s, "DELETE", "/sandboxes/"+c.SandboxID, nil)
	assert.Equal(t, http.StatusNoContent, status)
	assert.Empty(t, body)
	notFound := fmt.Sprintf(`{"code":404,"message":"Sandbox \"%s\" doesn't exist or you don't have access to it"}`, c.SandboxID)
	for _, m := range []string{"GET", "DELETE"} {
		status, _, body = call(t, s, m, "/sandboxes/"+c.SandboxID, nil)
		assert.Equal(t, http.StatusNotFound, status)
		assert.Equal(t, notFound, body)
	}
}

func TestAuth(t *testing.T) {
	s := start(t)
	assert.Regexp(t, `^e2b_[0-9a-f]{40}$`, s.APIKey())
	for key, msg := range map[string]string{
		"":                               "authorization header is missing",
		"sk_123":                         "authorization header is malformed",
		"e2b_123":                        `Invalid API key, please visit https://e2b.dev/docs/api-key for more information.\nInvalid API key format`,
		"e2b_" + strings.Repeat("0", 40): `Invalid API key, please visit https://e2b.dev/docs/api-key for more information.\nCannot get the team for the given API key`,
	} {
		status, _, body := callKey(t, s, key, "GET", "/v2/sandboxes", nil)
		assert.Equal(t, http.StatusUnauthorized, status, key)
		assert.Equal(t, `{"code":401,"message":"`+msg+`"}`, body, key)
	}
	status, _, body := callKey(t, s, "", "GET", "/health", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Health check successful", body)

	s2 := start(t, e2btest.WithAPIKey("e2b_"+fmt.Sprintf("%040x", 7)))
	status, _, _ = callKey(t, s2, "e2b_"+fmt.Sprintf("%040x", 7), "GET", "/v2/sandboxes", nil)
	assert.Equal(t, http.StatusOK, status)
}

func TestCreateErrors(t *testing.T) {
	s := start(t, e2btest.WithTemplates("base", "python"))
	for _, tc := range []struct {
		body   map[string]any
		status int
		msg    string
	}{
		{map[string]any{"templateID": "nope"}, 404, `template 'nope' not found`},
		{map[string]any{"templateID": "base:v2"}, 404, `tag 'v2' does not exist for template 'base'`},
		{map[string]any{"templateID": "base", "timeout": 90000}, 400, `Timeout cannot be greater than 24 hours`},
		{map[string]any{"timeout": 5}, 400, `validation error: error in openapi3filter.RequestError: request body has an error: doesn't match schema: property \"templateID\" is missing`},
	} {
		status, _, body := call(t, s, "POST", "/sandboxes", tc.body)
		assert.Equal(t, tc.status, status, tc.body)
		assert.Equal(t, fmt.Sprintf(`{"code":%d,"message":"%s"}`, tc.status, tc.msg), body)
	}
	assert.Equal(t, "python", create(t, s, map[string]any{"templateID": "python:default"}).TemplateID)
}

// metadataQuery encodes a metadata filter as the official SDKs do.
func metadataQuery(md map[string]string) string {
	inner := url.Values{}
	for k, v := range md {
		inner.Set(url.QueryEscape(k), url.QueryEscape(v))
	}
	return url.Values{"metadata": {inner.Encode()}}.Encode()
}

func list(t *testing.T, s *e2btest.Server, query string) ([]detail, http.Header) {
	t.Helper()
	status, h, body := call(t, s, "GET", "/v2/sandboxes?"+query, nil)
	require.Equal(t, http.StatusOK, status, body)
	var out []detail
	decode(t, body, &out)
	return out, h
}

func TestListByMetadataAndPages(t *testing.T) {
	s := start(t)
	md := map[string]string{"user": "a b&c=d/é", "app": "x"}
	var ids []string
	for i := range 5 {
		ids = append(ids, create(t, s, map[string]any{"metadata": map[string]string{"user": md["user"], "app": "x", "n": fmt.Sprint(i)}}).SandboxID)
		s.Clock.Advance(time.Second)
	}
	create(t, s, map[string]any{"metadata": map[string]string{"user": "other", "app": "x"}})
	create(t, s, map[string]any{}) // no metadata: never matches a filter

	// The reference's wire example, then the SDKs' encoding.
	plain := create(t, s, map[string]any{"metadata": map[string]string{"user": "abc", "app": "prod", "x": "y"}})
	got, _ := list(t, s, "metadata=user%3Dabc%26app%3Dprod")
	require.Len(t, got, 1)
	assert.Equal(t, plain.SandboxID, got[0].SandboxID)
	got, h := list(t, s, metadataQuery(md))
	require.Len(t, got, 5)
	assert.Equal(t, "5", h.Get("X-Total-Running"))
	assert.Equal(t, ids[4], got[0].SandboxID, "newest first")

	// Pages of two, newest first, until no X-Next-Token.
	var paged []string
	q := metadataQuery(md) + "&limit=2&state=running,paused"
	for page := 0; ; page++ {
		items, h := list(t, s, q)
		for _, it := range items {
			paged = append(paged, it.SandboxID)
		}
		next := h.Get("X-Next-Token")
		if next == "" {
			assert.Equal(t, 2, page)
			break
		}
		q = metadataQuery(md) + "&limit=2&state=running,paused&nextToken=" + url.QueryEscape(next)
	}
	assert.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, paged)
	items, _ := list(t, s, metadataQuery(md)+"&order=asc&limit=1")
	assert.Equal(t, ids[0], items[0].SandboxID)

	// State filter: pause one.
	status, _, _ := call(t, s, "POST", "/sandboxes/"+ids[1]+"/pause", nil)
	require.Equal(t, http.StatusNoContent, status)
	items, h = list(t, s, metadataQuery(md)+"&state=paused")
	require.Len(t, items, 1)
	assert.Equal(t, ids[1], items[0].SandboxID)
	assert.Empty(t, h.Get("X-Total-Running"))

	for q, msg := range map[string]string{
		"metadata=":          "Error parsing metadata",
		"metadata=novalue":   "Error parsing metadata",
		"nextToken=garbage!": "Invalid next token",
		"order=sideways":     `Invalid order parameter: unknown order \"sideways\"`,
	} {
		status, _, body := call(t, s, "GET", "/v2/sandboxes?"+q, nil)
		assert.Equal(t, http.StatusBadRequest, status, q)
		assert.Equal(t, `{"code":400,"message":"`+msg+`"}`, body, q)
	}
}

func TestLegacyListAndIDs(t *testing.T) {
	s := start(t)
	a := create(t, s, map[string]any{"metadata": map[string]string{"k": "v"}})
	b := create(t, s, map[string]any{"metadata": map[string]string{"k": "v"}})
	status, _, _ := call(t, s, "POST", "/sandboxes/"+b.SandboxID+"/pause", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _, body := call(t, s, "GET", "/sandboxes?metadata=k%3Dv", nil)
	require.Equal(t, http.StatusOK, status)
	var items []detail
	decode(t, body, &items)
	require.Len(t, items, 1, "running only")
	assert.Equal(t, a.SandboxID, items[0].SandboxID)

	assert.Equal(t, a.SandboxID, getSandbox(t, s, a.SandboxID+"-6532622b").SandboxID, "legacy composite id")
	status, _, body = call(t, s, "GET", "/sandboxes/a-b-c", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, `{"code":400,"message":"Invalid sandbox ID"}`, body)
}

func TestPauseConnectResume(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"timeout": 100})
	id := c.SandboxID
	path := "/sandboxes/" + id

	s.Clock.Advance(10 * time.Second)
	status, _, _ := call(t, s, "POST", path+"/pause", map[string]any{"memory": true})
	require.Equal(t, http.StatusNoContent, status)
	status, _, body := call(t, s, "POST", path+"/pause", nil)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, `{"code":409,"message":"Error pausing sandbox - sandbox '`+id+`' is already paused"}`, body)
	d := getSandbox(t, s, id)
	assert.Equal(t, "paused", d.State)
	assert.Equal(t, s.Clock.Now(), d.EndAt, "endAt of a paused sandbox is the pause time")
	status, _, _ = call(t, s, "POST", path+"/timeout", map[string]any{"timeout": 30})
	assert.Equal(t, http.StatusNotFound, status, "paused sandboxes have no timeout")

	// Connect resumes a paused sandbox (201), then only extends (200).
	s.Clock.Advance(time.Hour)
	status, _, body = call(t, s, "POST", path+"/connect", map[string]any{"timeout": 50})
	require.Equal(t, http.StatusCreated, status, body)
	var cc created
	decode(t, body, &cc)
	assert.Equal(t, c, cc)
	d = getSandbox(t, s, id)
	assert.Equal(t, "running", d.State)
	assert.Equal(t, s.Clock.Now(), d.StartedAt, "resuming restarts the runtime")
	assert.Equal(t, s.Clock.Now().Add(50*time.Second), d.EndAt)
	status, _, _ = call(t, s, "POST", path+"/connect", map[string]any{"timeout": 10})
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, s.Clock.Now().Add(50*time.Second), getSandbox(t, s, id).EndAt, "connect never shortens")
	status, _, _ = call(t, s, "POST", path+"/connect", map[string]any{"timeout": 500})
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, s.Clock.Now().Add(500*time.Second), getSandbox(t, s, id).EndAt)
	status, _, body = call(t, s, "POST", path+"/connect", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, `property \"timeout\" is missing`)

	// Legacy resume: 409 while running, 201 once paused.
	status, _, body = call(t, s, "POST", path+"/resume", nil)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, `{"code":409,"message":"Sandbox `+id+` is already running"}`, body)
	call(t, s, "POST", path+"/pause", nil)
	status, _, _ = call(t, s, "POST", path+"/resume", map[string]any{"timeout": 20})
	assert.Equal(t, http.StatusCreated, status)
	assert.Equal(t, s.Clock.Now().Add(20*time.Second), getSandbox(t, s, id).EndAt)

	status, _, _ = call(t, s, "POST", "/sandboxes/inope/connect", map[string]any{"timeout": 10})
	assert.Equal(t, http.StatusNotFound, status)
}

func TestTimeoutsOnClock(t *testing.T) {
	s := start(t)
	kill := create(t, s, map[string]any{"timeout": 60}).SandboxID
	pause := create(t, s, map[string]any{"timeout": 60, "autoPause": true}).SandboxID
	end := s.Clock.Now().Add(time.Minute)

	s.Clock.Advance(59 * time.Second)
	assert.Equal(t, "running", getSandbox(t, s, kill).State)
	s.Clock.Advance(2 * time.Second)
	status, _, _ := call(t, s, "GET", "/sandboxes/"+kill, nil)
	assert.Equal(t, http.StatusNotFound, status, "killed at its timeout")
	d := getSandbox(t, s, pause)
	assert.Equal(t, "paused", d.State, "auto-paused at its timeout")
	assert.Equal(t, end, d.EndAt)

	// Set timeout can shorten; refreshes only extend, by at least 15 s.
	id := create(t, s, map[string]any{"timeout": 300}).SandboxID
	status, _, _ = call(t, s, "POST", "/sandboxes/"+id+"/timeout", map[string]any{"timeout": 10})
	require.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, s.Clock.Now().Add(10*time.Second), getSandbox(t, s, id).EndAt)
	status, _, _ = call(t, s, "POST", "/sandboxes/"+id+"/refreshes", map[string]any{"duration": 1})
	require.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, s.Clock.Now().Add(15*time.Second), getSandbox(t, s, id).EndAt)
	status, _, _ = call(t, s, "POST", "/sandboxes/"+id+"/refreshes", map[string]any{"duration": 5000})
	assert.Equal(t, http.StatusBadRequest, status)
	s.Clock.Advance(16 * time.Second)
	status, _, _ = call(t, s, "GET", "/sandboxes/"+id, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestFaultsAndCounts(t *testing.T) {
	s := start(t)
	s.Faults.FailNext(1, "/v2/sandboxes", http.StatusServiceUnavailable)
	status, _, body := call(t, s, "GET", "/v2/sandboxes", nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, `{"code":503,"message":"Service Unavailable (injected fault)"}`, body)
	status, _, _ = call(t, s, "GET", "/v2/sandboxes", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2, s.Requests.Count("GET", "/v2/sandboxes"))
}

func TestProxyRouting(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"autoPause": true, "autoResume": map[string]bool{"enabled": true}})
	plain := create(t, s, map[string]any{})
	call(t, s, "POST", "/sandboxes/"+plain.SandboxID+"/pause", nil)

	health := func(id, port string) (int, string) {
		req, _ := http.NewRequest("GET", s.URL+"/health", nil)
		if id != "" {
			req.Header.Set("E2b-Sandbox-Id", id)
		}
		if port != "" {
			req.Header.Set("E2b-Sandbox-Port", port)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b [512]byte
		n, _ := resp.Body.Read(b[:])
		return resp.StatusCode, regexp.MustCompile(`\s+$`).ReplaceAllString(string(b[:n]), "")
	}
	status, body := health(c.SandboxID, "")
	assert.Equal(t, 400, status)
	assert.Equal(t, `{"code":400,"message":"missing header"}`, body)
	status, body = health("inope", "49983")
	assert.Equal(t, 502, status)
	assert.Equal(t, `{"sandboxId":"inope","message":"The sandbox was not found","code":502}`, body)
	status, body = health(plain.SandboxID, "49983")
	assert.Equal(t, 502, status, "paused without auto-resume")
	assert.Contains(t, body, "The sandbox was not found")
	status, body = health(c.SandboxID, "8080")
	assert.Equal(t, 502, status)
	assert.Equal(t, `{"sandboxId":"`+c.SandboxID+`","message":"The sandbox is running but port is not open","port":8080,"code":502}`, body)
	status, _ = health(c.SandboxID, "49983")
	assert.Equal(t, http.StatusNoContent, status)

	// Auto-resume: traffic to a paused sandbox resumes it.
	call(t, s, "POST", "/sandboxes/"+c.SandboxID+"/pause", nil)
	status, _ = health(c.SandboxID, "49983")
	assert.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, "running", getSandbox(t, s, c.SandboxID).State)

	resp, err := http.Get(s.URL + "/files?path=x")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "envd path without routing headers")
}

// TestV2CreateConnect: v2 create defaults to 300 s and always secures;
// v2 connect takes no body (300 s); v1 keeps its own defaults.
func TestV2CreateConnect(t *testing.T) {
	s := start(t)
	s.Clock.Set(time.Unix(1_700_000_000, 0).UTC())
	status, _, body := call(t, s, "POST", "/v2/sandboxes", map[string]any{"templateID": "base", "secure": false})
	require.Equal(t, http.StatusCreated, status, body)
	var c created
	decode(t, body, &c)
	assert.NotEmpty(t, c.EnvdAccessToken, "v2 always secures")
	assert.Equal(t, s.Clock.Now().Add(300*time.Second), getSandbox(t, s, c.SandboxID).EndAt)
	v1 := create(t, s, map[string]any{})
	assert.Empty(t, v1.EnvdAccessToken, "v1 secures when asked")
	assert.Equal(t, s.Clock.Now().Add(15*time.Second), getSandbox(t, s, v1.SandboxID).EndAt)

	status, _, body = call(t, s, "POST", "/v2/sandboxes", map[string]any{"timeout": 5})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, `property \"templateID\" is missing`)
	status, _, body = call(t, s, "POST", "/v2/sandboxes", map[string]any{"templateID": "base", "volumeMounts": []map[string]string{{"name": "v"}}})
	assert.Equal(t, http.StatusBadRequest, status, body)

	s.Clock.Advance(10 * time.Second)
	status, _, body = call(t, s, "POST", "/v2/sandboxes/"+v1.SandboxID+"/connect", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, s.Clock.Now().Add(300*time.Second), getSandbox(t, s, v1.SandboxID).EndAt, "no body: 300 s")
	status, _, _ = call(t, s, "POST", "/sandboxes/"+v1.SandboxID+"/pause", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _, body = call(t, s, "POST", "/v2/sandboxes/"+v1.SandboxID+"/connect", map[string]any{"timeout": 30})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, s.Clock.Now().Add(30*time.Second), getSandbox(t, s, v1.SandboxID).EndAt)
	status, _, body = call(t, s, "POST", "/sandboxes/"+v1.SandboxID+"/connect", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, status, "v1 connect wants its timeout: %s", body)
	status, _, body = call(t, s, "POST", "/v2/sandboxes/inope/connect", nil)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, `{"code":404,"message":"Sandbox \"inope\" doesn't exist or you don't have access to it"}`, body)
}

// TestRouterErrors: unknown routes and wrong methods answer E2B's JSON
// error, as do the v2 routes of a v1-only service.
func TestRouterErrors(t *testing.T) {
	s := start(t)
	for _, tc := range []struct{ method, path string }{{"GET", "/nope"}, {"PUT", "/v2/sandboxes"}, {"GET", "/sandboxes/x/connect"}} {
		status, h, body := call(t, s, tc.method, tc.path, nil)
		want := http.StatusNotFound
		if tc.method != "GET" || strings.HasSuffix(tc.path, "/connect") {
			want = http.StatusMethodNotAllowed
			assert.NotEmpty(t, h.Get("Allow"))
		}
		assert.Equal(t, want, status, tc)
		assert.Equal(t, fmt.Sprintf(`{"code":%d,"message":"%s"}`, want, http.StatusText(want)), body, tc)
		assert.Contains(t, h.Get("Content-Type"), "application/json")
	}
	old := start(t, e2btest.WithV1Only())
	status, _, body := call(t, old, "POST", "/v2/sandboxes", map[string]any{"templateID": "base"})
	assert.Equal(t, http.StatusMethodNotAllowed, status, "GET /v2/sandboxes is served")
	assert.Equal(t, `{"code":405,"message":"Method Not Allowed"}`, body)
	status, _, body = call(t, old, "POST", "/v2/sandboxes/x/connect", nil)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, `{"code":404,"message":"Not Found"}`, body)
}
