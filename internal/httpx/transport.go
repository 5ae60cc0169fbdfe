package httpx

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sandagent/sandagent"
)

// Transport wraps next with the retry policy of the package doc, for HTTP
// clients that are not resty (such as generated API clients). It uses
// o.Provider, o.Logger, o.Retries, o.MinWait and o.MaxWait. Requests with a
// body are retried only when they can be replayed (req.GetBody), and
// WebSocket upgrades never.
func Transport(next http.RoundTripper, o Options) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &transport{next: next, o: o}
	t.o.Retries = retriesOf(o.Retries)
	t.o.MinWait = cmpOr(o.MinWait, 200*time.Millisecond)
	t.o.MaxWait = cmpOr(o.MaxWait, 30*time.Second)
	return t
}

type transport struct {
	next http.RoundTripper
	o    Options
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if !idempotent(ctx, req.Method) || req.Header.Get("Upgrade") != "" || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return t.next.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		resp, err := t.next.RoundTrip(req)
		if attempt == t.o.Retries || ctx.Err() != nil || !retryableOutcome(resp, err) {
			return resp, err
		}
		wait := backoff(t.o.MinWait, t.o.MaxWait, attempt)
		if resp != nil {
			if ra := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ra > 0 {
				wait = min(ra, t.o.MaxWait)
			}
			resp.Body.Close()
		}
		if t.o.Logger != nil {
			t.o.Logger.LogAttrs(ctx, slog.LevelDebug, "sandagent retry", slog.String("provider", t.o.Provider),
				slog.String("method", req.Method), slog.String("path", req.URL.Path), slog.Duration("wait", wait))
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
	}
}

func retriesOf(n int) int {
	switch {
	case n == 0:
		return 3
	case n < 0:
		return 0
	}
	return n
}

// idempotent reports whether a request may be sent again.
func idempotent(ctx context.Context, method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return ctx.Value(idempotentKey{}) != nil
}

// retryableOutcome reports whether a response or transport error is worth
// another try.
func retryableOutcome(resp *http.Response, err error) bool {
	if err != nil {
		var se *sandagent.Error
		return !errors.As(err, &se)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is exponential with full jitter in its upper half.
func backoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	d := min(maxWait, minWait<<min(attempt, 20))
	return d/2 + rand.N(d/2+1)
}
