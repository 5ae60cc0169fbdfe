package httpx

import (
	"io"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent/internal/otelx"
)

// Traced returns a copy of hc (nil: a client with DefaultTransport) whose
// every request is a client span, the child of the request's ctx's span
// (an Attach, an Exec, ...), made with tp's tracer (nil: the global
// TracerProvider's), and is counted for the Attach span. The span lasts
// until the response body is read to its end or closed. It carries the
// method, host, port, path and status, never the query (which may hold a
// signed token) nor a header. No trace context is sent to the provider.
func Traced(hc *http.Client, provider string, tp trace.TracerProvider) *http.Client {
	c := &http.Client{Transport: DefaultTransport()}
	if hc != nil {
		c = new(http.Client)
		*c = *hc
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = &tracing{next: next, provider: provider, tp: tp}
	return c
}

type tracing struct {
	next     http.RoundTripper
	provider string
	tp       trace.TracerProvider
}

func (t *tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	otelx.AddRequest(ctx)
	attrs := []attribute.KeyValue{
		attribute.String("sandagent.provider", t.provider),
		semconv.HTTPRequestMethodKey.String(req.Method),
		semconv.ServerAddress(req.URL.Hostname()),
		semconv.URLPath(req.URL.Path),
	}
	if p, err := strconv.Atoi(req.URL.Port()); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	ctx, span := otelx.Tracer(t.tp).Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		// The cause only: a wrapped error's text may hold the URL.
		span.SetStatus(codes.Error, transportMessage(err))
		span.SetAttributes(semconv.ErrorTypeOther)
		span.End()
		return resp, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
	}
	if _, rw := resp.Body.(io.Writer); resp.Body == nil || resp.Body == http.NoBody || rw { // rw: a protocol switch (WebSocket)
		span.End()
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// spanBody ends its span at the end of the body, at its first read error
// or when it is closed.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if err != io.EOF {
			b.span.SetStatus(codes.Error, "reading the response failed: "+transportMessage(err))
		}
		b.end()
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (b *spanBody) end() { b.once.Do(func() { b.span.End() }) }
