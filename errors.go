package sandagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent/internal/otelx"
)

// Sentinel errors. Every error returned by a [Handle] or by a provider's
// Attach matches at most one of them with [errors.Is]. Provider failures come
// as *[Error], which unwraps to its sentinel.
var (
	// ErrNotFound: the sandbox, file or process does not exist. It also
	// matches fs.ErrNotExist.
	ErrNotFound = newSentinel("not found", fs.ErrNotExist)
	// ErrAuth: the credentials were missing, malformed or refused.
	ErrAuth = newSentinel("authentication failed", nil)
	// ErrRateLimited: the provider asked us to slow down. The *Error carries
	// the provider's Retry-After in RetryAfter when it sent one.
	ErrRateLimited = newSentinel("rate limited", nil)
	// ErrConflict: the request conflicts with the current state of a
	// resource, typically a name that is already taken.
	ErrConflict = newSentinel("conflict", nil)
	// ErrState: the operation is not allowed in the sandbox's current state
	// (exec on a paused or stopped sandbox, for example).
	ErrState = newSentinel("invalid state", nil)
	// ErrTimeout: a Cmd.Timeout or a provider-side deadline expired.
	ErrTimeout = newSentinel("timeout", nil)
	// ErrClosed: the Handle was closed or destroyed.
	ErrClosed = newSentinel("handle closed", fs.ErrClosed)
	// ErrInvalid: bad input, caught before any request was sent.
	ErrInvalid = newSentinel("invalid argument", fs.ErrInvalid)
	// ErrUnsupported: the provider cannot do this. It also matches
	// errors.ErrUnsupported.
	ErrUnsupported = newSentinel("unsupported", errors.ErrUnsupported)
)

// sentinel is an error value that also matches one standard-library error,
// so callers may test with the sentinel they already know.
type sentinel struct {
	msg  string
	also error
}

func newSentinel(msg string, also error) error { return &sentinel{msg: msg, also: also} }

func (s *sentinel) Error() string { return "sandagent: " + s.msg }

func (s *sentinel) Is(target error) bool { return s.also != nil && target == s.also }

// Error describes a failed operation. Providers return it for every failure
// they can classify; it unwraps to its Kind (one of the sentinels) and to the
// underlying cause, so both errors.Is(err, ErrNotFound) and
// errors.Is(err, context.DeadlineExceeded) work where they apply.
//
// An Error never contains an API key or access token.
type Error struct {
	Provider   string        // "local", "e2b", ...
	Op         string        // the operation: "attach", "exec", "read", ...
	Status     int           // the HTTP status, 0 when there was none
	Message    string        // the provider's message, or ours
	Kind       error         // the sentinel this error matches; may be nil
	RetryAfter time.Duration // with ErrRateLimited: how long the provider asked to wait
	Err        error         // the underlying cause; may be nil
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sandagent")
	if e.Provider != "" {
		b.WriteString(": ")
		b.WriteString(e.Provider)
	}
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	case e.Kind != nil:
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "sandagent: "))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the Kind and the cause.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Errorf returns an *Error of the given kind with a formatted message. It is
// meant for provider implementations; the Handle fills in Provider and Op.
func Errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// WrapError makes err an *Error tagged with provider and op (where it has
// none yet), keeping any classification already made; an unclassified
// error gets the sentinel it matches, if any. Context errors pass through
// unchanged so callers can compare them directly, and so does an
// *ExitError. It is meant for provider implementations.
func WrapError(provider, op string, err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Provider == "" {
			c.Provider = provider
		}
		if c.Op == "" {
			c.Op = op
		}
		return &c
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if _, ok := err.(*sentinel); ok {
		return &Error{Provider: provider, Op: op, Kind: err}
	}
	return &Error{Provider: provider, Op: op, Kind: kindOf(err), Err: err}
}

// kindOf returns the sentinel an unclassified error matches, if any.
func kindOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.err
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, errors.ErrUnsupported):
		return ErrUnsupported
	case errors.Is(err, fs.ErrInvalid):
		return ErrInvalid
	}
	return nil
}

// RunAttach runs a provider's attach: a ctx that has ended, before or
// during it, is reported as ctx.Err(); any other failure is tagged with
// provider and the "attach" op. It is meant for provider implementations,
// whose Attach methods are then one line.
//
// It traces the attach, and the Handle's operations after it, with tp's
// tracer (nil: the global TracerProvider's), the option every provider
// offers as WithTracerProvider. The attach span carries the provider, the
// outcome, the sandbox id and how many HTTP requests the attach made; each
// request is a child span when the provider's HTTP client is traced.
func RunAttach(ctx context.Context, provider string, tp trace.TracerProvider, attach func(context.Context) (*Handle, error)) (*Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, span := otelx.Tracer(tp).Start(ctx, "sandagent.attach", trace.WithAttributes(attrProvider.String(provider)))
	ctx, requests := otelx.CountRequests(ctx)
	h, err := attach(ctx)
	span.SetAttributes(attrRequests.Int64(requests.Load()))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			err = WrapError(provider, "attach", err)
		}
		endSpan(span, err)
		return nil, err
	}
	h.tp = tp
	span.SetAttributes(attrOutcome.String(h.outcome.String()), attrSandboxID.String(h.id))
	endSpan(span, nil)
	return h, nil
}
