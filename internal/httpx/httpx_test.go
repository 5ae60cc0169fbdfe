package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// server answers with the statuses given, in order, then 200.
func server(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(statuses[i])
			_, _ = w.Write([]byte(`{"message":"no, key=secret-key-123"}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func client(url string) Options {
	return Options{Provider: "p", BaseURL: url, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond, Header: map[string]string{"X-Key": "secret-key-123"}}
}

func TestIdempotentRequestsAreRetried(t *testing.T) {
	srv, n := server(t, 503, 502, 429)
	r, err := NewClient(client(srv.URL)).R().Get("/x")
	require.NoError(t, Check("p", "get", r, err, nil))
	require.EqualValues(t, 4, n.Load())
}

func TestPostIsNotRetriedUnlessIdempotent(t *testing.T) {
	srv, n := server(t, 503, 503)
	c := NewClient(client(srv.URL))
	r, err := c.R().Post("/create")
	require.Error(t, Check("p", "create", r, err, nil))
	require.EqualValues(t, 1, n.Load(), "a create is never retried blindly")

	r, err = c.R().SetContext(Idempotent(context.Background())).Post("/connect")
	require.NoError(t, Check("p", "connect", r, err, nil))
	require.EqualValues(t, 3, n.Load())
}

func TestAttemptsAreBounded(t *testing.T) {
	srv, n := server(t, 429, 429, 429, 429, 429, 429)
	r, err := NewClient(client(srv.URL)).R().Get("/x")
	err = Check("p", "get", r, err, nil, "secret-key-123")
	require.ErrorIs(t, err, sandagent.ErrRateLimited)
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 7*time.Second, e.RetryAfter)
	require.Equal(t, 429, e.Status)
	require.EqualValues(t, 4, n.Load(), "first try and 3 retries")
	require.NotContains(t, err.Error(), "secret-key-123")
}

func TestOtherStatusesAreNotRetried(t *testing.T) {
	for status, kind := range map[int]error{400: sandagent.ErrInvalid, 401: sandagent.ErrAuth, 403: sandagent.ErrAuth, 404: sandagent.ErrNotFound, 409: sandagent.ErrConflict, 500: nil} {
		srv, n := server(t, status)
		r, err := NewClient(client(srv.URL)).R().Get("/x")
		err = Check("p", "get", r, err, nil)
		require.Error(t, err)
		if kind != nil {
			require.ErrorIs(t, err, kind)
		}
		require.EqualValues(t, 1, n.Load(), "status %d", status)
	}
}

func TestContextEndsRetries(t *testing.T) {
	srv, n := server(t, 503, 503, 503, 503)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := NewClient(client(srv.URL)).R().SetContext(ctx).Get("/x")
	require.ErrorIs(t, Check("p", "get", r, err, nil), context.Canceled)
	require.LessOrEqual(t, n.Load(), int32(1))
}

func TestConnectionErrorsHideSecrets(t *testing.T) {
	srv, _ := server(t)
	url := srv.URL
	srv.Close()
	o := client(url)
	o.Retries = -1
	r, err := NewClient(o).R().SetQueryParam("signature", "secret-key-123").Get("/x")
	err = Check("p", "get", r, err, nil, "secret-key-123")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret-key-123")
	require.Contains(t, err.Error(), "request failed")
}

func TestMessages(t *testing.T) {
	h := http.Header{"Content-Type": {"text/html"}}
	for body, want := range map[string]string{
		`{"message":"quota"}`:           "quota",
		`{"error":"bad thing"}`:         "bad thing",
		`{"error":{"message":"deep"}}`:  "deep",
		`<html><body>502</body></html>`: "unexpected HTML response",
		"":                              "empty response body",
		"\xff\xfe\x00":                  "unexpected binary response",
	} {
		err := StatusError("p", "op", 500, h, []byte(body), nil)
		require.Contains(t, err.Error(), want, body)
	}
	decode := func([]byte) string { return "from the provider's decoder" }
	require.Contains(t, StatusError("p", "op", 500, h, []byte("x"), decode).Error(), "from the provider's decoder")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, 5*time.Second, parseRetryAfter("5", now))
	require.Equal(t, 30*time.Second, parseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now))
	require.Zero(t, parseRetryAfter("soon", now))
	require.Zero(t, parseRetryAfter("", now))
}

// classifying is a transport that fails every request with a classified error.
type classifying struct{ n atomic.Int32 }

func (c *classifying) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, &sandagent.Error{Kind: sandagent.ErrState, Message: "sandbox is paused"}
}

func TestClassifiedTransportErrorsAreFinal(t *testing.T) {
	tr := &classifying{}
	o := client("http://127.0.0.1:1")
	o.HTTPClient = &http.Client{Transport: tr}
	r, err := NewClient(o).R().Get("/x")
	err = Check("p", "read", r, err, nil)
	require.ErrorIs(t, err, sandagent.ErrState)
	require.EqualValues(t, 1, tr.n.Load(), "not retried")
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "read", e.Op)
	require.Equal(t, "sandbox is paused", e.Message)
}

func TestTransportRetriesForPlainClients(t *testing.T) {
	srv, n := server(t, 503, 429)
	o := client(srv.URL)
	hc := &http.Client{Transport: Transport(nil, o)}
	resp, err := hc.Get(srv.URL + "/x")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.EqualValues(t, 3, n.Load())

	resp, err = hc.Post(srv.URL+"/x", "text/plain", strings.NewReader("body"))
	require.NoError(t, err)
	resp.Body.Close()
	require.EqualValues(t, 4, n.Load())

	srv2, n2 := server(t, 503, 503)
	req, err := http.NewRequest(http.MethodPut, srv2.URL+"/x", strings.NewReader("replayable"))
	require.NoError(t, err)
	resp, err = hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.EqualValues(t, 3, n2.Load(), "a replayable body is sent again")

	srv3, n3 := server(t, 503, 503)
	resp, err = hc.Post(srv3.URL+"/create", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode)
	require.EqualValues(t, 1, n3.Load(), "a POST is not retried")
}

// FuzzStatusError classifies any response without panicking, never
// repeats a secret, and never returns invalid UTF-8 or a long body whole.
func FuzzStatusError(f *testing.F) {
	f.Add(503, "application/json", []byte(`{"message":"busy key=secret-key-123"}`))
	f.Add(429, "text/html", []byte("<html>slow down</html>"))
	f.Add(400, "", []byte("\xff\xfe garbage"))
	f.Add(404, "application/json", []byte(`{"error":{"message":"gone"}}`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		err := StatusError("p", "op", status, http.Header{"Content-Type": {contentType}}, body, nil, "secret-key-123")
		msg := err.Error()
		if strings.Contains(msg, "secret-key-123") {
			t.Fatalf("secret in %q", msg)
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("invalid UTF-8 in %q", msg)
		}
	})
}

// TestBodyIsRedactedBeforeItIsCut: a body that echoes the key across the
// excerpt's cut must not leave part of it in the message.
func TestBodyIsRedactedBeforeItIsCut(t *testing.T) {
	const key = "e2b_0123456789abcdef0123456789abcdef01234567"
	for _, at := range []int{0, 150, 170, 190, 199, 200} {
		body := strings.Repeat("x", at) + key + " tail"
		msg := StatusError("p", "op", 500, http.Header{}, []byte(body), nil, key).Error()
		for i := 0; i+6 <= len(key); i++ {
			require.NotContains(t, msg, key[i:i+6], "key at byte %d: %s", at, msg)
		}
		require.True(t, utf8.ValidString(msg))
	}
}

// TestCredentialsStayOnTheirOrigin: a redirect to another origin carries
// no credentials; one within the origin does.
func TestCredentialsStayOnTheirOrigin(t *testing.T) {
	seen := make(chan http.Header, 2)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(other.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/here" {
			seen <- r.Header.Clone()
			_, _ = w.Write([]byte(`{}`))
			return
		}
		to := other.URL + "/elsewhere"
		if r.URL.Path == "/same" {
			to = "/here"
		}
		http.Redirect(w, r, to, http.StatusFound)
	}))
	t.Cleanup(api.Close)
	o := client(api.URL)
	o.Header = map[string]string{"X-API-Key": "secret-key-123", "Authorization": "Bearer secret-key-123"}
	o.UserAgent = "sandagent-test"
	c := NewClient(o)

	_, err := c.R().Get("/away")
	require.NoError(t, err)
	h := <-seen
	require.Empty(t, h.Get("X-API-Key"), "the key stays behind")
	require.Empty(t, h.Get("Authorization"))
	require.Equal(t, "sandagent-test", h.Get("User-Agent"))

	_, err = c.R().Get("/same")
	require.NoError(t, err)
	h = <-seen
	require.Equal(t, "secret-key-123", h.Get("X-API-Key"), "within the origin, credentials go along")

	// A client whose transport adds credentials refuses to leave.
	hc := &http.Client{Transport: http.DefaultTransport, CheckRedirect: SameOriginOnly}
	resp, err := hc.Get(api.URL + "/away")
	if err == nil {
		resp.Body.Close()
	}
	require.ErrorContains(t, err, "another origin")
	require.Empty(t, seen)
}
