// Package otelx is the OpenTelemetry plumbing the root package and the
// providers' HTTP clients share: the tracer of sandagent's spans and the
// count of requests an Attach makes. It depends on the OpenTelemetry API
// only, so every span is a no-op until the program installs an SDK.
package otelx

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of sandagent's spans.
const Scope = "github.com/sandagent/sandagent"

// Tracer returns tp's tracer for sandagent, or, when tp is nil, the global
// TracerProvider's as it is at the call (so a provider installed after New
// still gets the spans).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(Scope)
}

type requestsKey struct{}

// CountRequests returns a ctx whose HTTP requests (see AddRequest) are
// counted in the returned counter.
func CountRequests(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, requestsKey{}, n), n
}

// AddRequest counts one request made with ctx, if ctx counts them.
func AddRequest(ctx context.Context) {
	if n, ok := ctx.Value(requestsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}
