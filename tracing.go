package sandagent

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent/internal/otelx"
)

// The attributes of sandagent's spans. Spans carry no secret: no API key,
// token, URL query, command line, environment or file content.
const (
	attrProvider  = attribute.Key("sandagent.provider")
	attrSandboxID = attribute.Key("sandagent.sandbox.id")
	attrOutcome   = attribute.Key("sandagent.outcome")
	attrRequests  = attribute.Key("sandagent.requests") // HTTP requests an Attach made, retries included
	attrStdout    = attribute.Key("sandagent.stdout.bytes")
	attrStderr    = attribute.Key("sandagent.stderr.bytes")
)

// sentinels are the sentinel errors with their names, for error.type.
var sentinels = []struct {
	err  error
	name string
}{
	{ErrNotFound, "ErrNotFound"}, {ErrAuth, "ErrAuth"}, {ErrRateLimited, "ErrRateLimited"},
	{ErrConflict, "ErrConflict"}, {ErrState, "ErrState"}, {ErrTimeout, "ErrTimeout"},
	{ErrClosed, "ErrClosed"}, {ErrInvalid, "ErrInvalid"}, {ErrUnsupported, "ErrUnsupported"},
}

// startSpan starts the span of one of h's operations.
func (h *Handle) startSpan(ctx context.Context, op string) (context.Context, trace.Span) {
	return otelx.Tracer(h.tp).Start(ctx, "sandagent."+op, trace.WithAttributes(attrProvider.String(h.provider), attrSandboxID.String(h.id)))
}

// endSpan ends span, recording err, if any, with the sentinel it matches.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	}
	span.End()
}

// errorType names err for the error.type attribute: its sentinel, else the
// context error, else "_OTHER".
func errorType(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
