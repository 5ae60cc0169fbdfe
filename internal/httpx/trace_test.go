package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sandagent/sandagent/internal/otelx"
)

type countingTransport struct {
	n    int
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.next.RoundTrip(r)
}

func TestTraced(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "body")
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(t.Context())

	theirs := &countingTransport{next: http.DefaultTransport}
	user := &http.Client{Transport: theirs}
	hc := Traced(user, "test", tp)
	require.Same(t, theirs, user.Transport, "the caller's client is not modified")

	ctx, requests := otelx.CountRequests(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/files?signature=secret", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.Empty(t, rec.Ended(), "the span lasts while the body is read")
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "body", string(b))
	resp.Body.Close()
	require.Len(t, rec.Ended(), 1)
	require.Equal(t, 1, theirs.n, "through the caller's transport")
	require.Equal(t, int64(1), requests.Load())

	s := rec.Ended()[0]
	require.Equal(t, "GET", s.Name())
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	require.Equal(t, "/files", attrs["url.path"], "no query")
	require.Equal(t, "200", attrs["http.response.status_code"])
	require.Equal(t, "test", attrs["sandagent.provider"])
	for _, v := range attrs {
		require.NotContains(t, v, "secret")
	}

	resp, err = hc.Get(srv.URL + "/missing")
	require.NoError(t, err)
	resp.Body.Close()
	s = rec.Ended()[1]
	require.Equal(t, codes.Error, s.Status().Code)

	_, err = Traced(nil, "test", tp).Get("http://127.0.0.1:1/")
	require.Error(t, err)
	s = rec.Ended()[2]
	require.Equal(t, codes.Error, s.Status().Code)
	require.Contains(t, s.Status().Description, "connection refused")
}
