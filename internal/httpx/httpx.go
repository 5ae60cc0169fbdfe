// Package httpx is the HTTP plumbing every remote provider shares: one
// resty client per Sandbox with the retry policy, error classification into
// sandagent's sentinels, secret redaction and debug logging.
//
// Retry policy: idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS, and
// requests marked with Idempotent) are retried on 429, 502, 503 and 504 and
// on connection errors, with exponential backoff and jitter, honouring
// Retry-After, at most Retries times and never past the request's context.
// A POST is never retried blindly: a create must look up before it tries
// again. A transport error that is already an *sandagent.Error is final.
//
// resty reads a request body whole before sending it: stream large uploads
// through the same *http.Client directly and classify the response with
// StatusError.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
)

// Options configures a client.
type Options struct {
	Provider   string            // for errors and logs
	BaseURL    string            // no trailing slash needed
	HTTPClient *http.Client      // nil: DefaultClient(); see Client
	Logger     *slog.Logger      // nil: no logging
	Header     map[string]string // sent with every request; the values are treated as secrets
	UserAgent  string
	Retries    int           // retries after the first attempt; 0 means 3, negative means none
	MinWait    time.Duration // first backoff (default 200ms)
	MaxWait    time.Duration // longest backoff and longest Retry-After honoured (default 30s)
}

// NewClient returns a resty client configured with o.
func NewClient(o Options) *resty.Client {
	c := resty.NewWithClient(Client(o.HTTPClient)).SetBaseURL(strings.TrimRight(o.BaseURL, "/"))
	c.SetLogger(discardLogger{}) // resty's own logging could print headers
	for k, v := range o.Header {
		c.SetHeader(k, v)
	}
	if o.UserAgent != "" {
		c.SetHeader("User-Agent", o.UserAgent)
	}
	c.SetRetryCount(retriesOf(o.Retries)).
		SetRetryWaitTime(cmpOr(o.MinWait, 200*time.Millisecond)).
		SetRetryMaxWaitTime(cmpOr(o.MaxWait, 30*time.Second)).
		AddRetryCondition(retryable).
		SetRetryAfter(retryAfter)
	if o.Logger != nil {
		log := o.Logger.With(slog.String("provider", o.Provider))
		c.OnAfterResponse(func(_ *resty.Client, r *resty.Response) error {
			if log.Enabled(r.Request.Context(), slog.LevelDebug) {
				log.LogAttrs(r.Request.Context(), slog.LevelDebug, "sandagent http",
					slog.String("method", r.Request.Method),
					slog.String("path", pathOnly(r.Request.URL)),
					slog.Int("status", r.StatusCode()),
					slog.Duration("took", r.Time()),
					slog.Int("attempt", r.Request.Attempt))
			}
			return nil
		})
	}
	return c
}

// DefaultTransport returns the transport every provider shares in this
// process when the caller gives no *http.Client: keep-alive connections,
// enough idle ones per host for concurrent commands. One transport, so a
// program that makes a Sandbox per request (a serverless handler) reuses
// connections rather than leaving a pool behind each time.
func DefaultTransport() *http.Transport { return sharedTransport() }

var sharedTransport = sync.OnceValue(func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
})

// Client returns the *http.Client a provider uses: hc (the caller's, which
// wins), or one on DefaultTransport when hc is nil. Unless hc has a
// redirect policy of its own, the client follows redirects with
// StripOnRedirect: credentials never follow a redirect to another origin.
// hc itself is not changed.
func Client(hc *http.Client) *http.Client {
	switch {
	case hc == nil:
		return &http.Client{Transport: DefaultTransport(), CheckRedirect: StripOnRedirect}
	case hc.CheckRedirect == nil:
		c := *hc
		c.CheckRedirect = StripOnRedirect
		return &c
	}
	return hc
}

// StripOnRedirect is a redirect policy (http.Client.CheckRedirect): at most
// 10 redirects, as by default, and on a redirect to another origin (scheme,
// host or port) only content-negotiation headers go along: API keys,
// tokens, cookies and every header a provider added stay behind.
func StripOnRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if sameOrigin(req.URL, via[0].URL) {
		return nil
	}
	for k := range req.Header {
		switch k {
		case "Accept", "Accept-Encoding", "Accept-Language", "Content-Type", "Range", "User-Agent":
		default:
			req.Header.Del(k)
		}
	}
	return nil
}

// SameOriginOnly is a redirect policy for clients whose transport adds
// credentials to every request: it follows redirects within the origin of
// the first request only, and refuses one to another origin.
func SameOriginOnly(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !sameOrigin(req.URL, via[0].URL) {
		return errors.New("refused a redirect to another origin: it would carry the credentials")
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

func cmpOr(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

type idempotentKey struct{}

// Idempotent marks a POST as safe to retry (the provider's API documents it
// as idempotent, such as E2B's connect).
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func retryable(r *resty.Response, err error) bool {
	if r == nil || r.Request == nil {
		return false
	}
	ctx := r.Request.Context()
	if ctx.Err() != nil || !idempotent(ctx, r.Request.Method) {
		return false
	}
	return retryableOutcome(r.RawResponse, err)
}

func retryAfter(_ *resty.Client, r *resty.Response) (time.Duration, error) {
	if r == nil || r.RawResponse == nil {
		return 0, nil
	}
	return parseRetryAfter(r.Header().Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Decoder extracts a provider's message from an error body. It returns ""
// when the body is not in the provider's format.
type Decoder func(body []byte) string

// Check turns a failed request into a *sandagent.Error: err from resty, or
// a response whose status is not 2xx. It returns nil for a 2xx response.
// secrets are removed from every message.
func Check(provider, op string, r *resty.Response, err error, decode Decoder, secrets ...string) error {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		var se *sandagent.Error
		if errors.As(err, &se) { // classified by a transport: keep it
			c := *se
			c.Provider, c.Op = provider, op
			c.Message = Redact(c.Message, secrets...)
			return &c
		}
		return &sandagent.Error{Provider: provider, Op: op, Message: Redact(transportMessage(err), secrets...), Err: redacted{err, secrets}}
	}
	if r == nil || r.IsSuccess() {
		return nil
	}
	return StatusError(provider, op, r.StatusCode(), r.Header(), r.Body(), decode, secrets...)
}

// StatusError classifies a non-2xx response.
func StatusError(provider, op string, status int, h http.Header, body []byte, decode Decoder, secrets ...string) error {
	e := &sandagent.Error{Provider: provider, Op: op, Status: status, Kind: KindOf(status)}
	msg := ""
	if decode != nil {
		msg = decode(body)
	}
	if msg == "" {
		msg = genericMessage(h.Get("Content-Type"), body, secrets)
	}
	e.Message = Redact(msg, secrets...)
	if status == http.StatusTooManyRequests {
		e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
	}
	return e
}

// KindOf maps an HTTP status to a sentinel (nil for other failures).
func KindOf(status int) error {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		return sandagent.ErrInvalid
	case http.StatusUnauthorized, http.StatusForbidden:
		return sandagent.ErrAuth
	case http.StatusNotFound, http.StatusGone:
		return sandagent.ErrNotFound
	case http.StatusConflict:
		return sandagent.ErrConflict
	case http.StatusTooManyRequests:
		return sandagent.ErrRateLimited
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return sandagent.ErrTimeout
	case http.StatusNotImplemented:
		return sandagent.ErrUnsupported
	}
	return nil
}

// genericMessage reads common JSON error shapes ({"message"}, {"error"}),
// else a short excerpt of a text body, redacted before it is cut (a secret
// across the cut would otherwise survive in part); never the raw bytes of
// HTML or binary garbage.
func genericMessage(contentType string, body []byte, secrets []string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "error", "msg", "detail"} {
			switch v := m[k].(type) {
			case string:
				if v != "" {
					return v
				}
			case map[string]any:
				if s, ok := v["message"].(string); ok && s != "" {
					return s
				}
			}
		}
	}
	text := strings.TrimSpace(string(body))
	switch {
	case text == "":
		return "empty response body"
	case !utf8.ValidString(text):
		return "unexpected binary response"
	case strings.Contains(contentType, "html") || strings.HasPrefix(text, "<"):
		return "unexpected HTML response"
	}
	text = Redact(text, secrets...)
	if len(text) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

// Dropped is the error of a connection or stream that broke before its
// answer was whole, the same on every provider: an *sandagent.Error with
// no status and no sentinel kind (Check's classification of a connection
// error, which idempotent requests are retried on), whose cause matches
// io.ErrUnexpectedEOF. It is never ErrInvalid: the request was fine.
func Dropped(provider, op string, cause error, secrets ...string) *sandagent.Error {
	msg := "the connection dropped before the answer was complete"
	if cause != nil {
		msg += ": " + Redact(cause.Error(), secrets...)
	}
	return &sandagent.Error{Provider: provider, Op: op, Message: msg, Err: dropped{cause}}
}

// IsDropped reports whether err says a connection or stream broke: an
// unexpected EOF, a reset or a broken pipe.
func IsDropped(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// dropped unwraps to io.ErrUnexpectedEOF and to its cause.
type dropped struct{ cause error }

func (d dropped) Error() string { return "unexpected EOF" }

func (d dropped) Unwrap() []error {
	if d.cause == nil {
		return []error{io.ErrUnexpectedEOF}
	}
	return []error{io.ErrUnexpectedEOF, d.cause}
}

// maxExcerpt is the most bytes of a body an error message quotes.
const maxExcerpt = 200

func transportMessage(err error) string {
	var ue interface{ Unwrap() error }
	// url.Error's text holds the URL, which may carry a signed token: keep
	// the operation and the cause.
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return "request failed: " + inner.Error()
		}
	}
	return "request failed: " + err.Error()
}

// Redact replaces every secret in s.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redacted wraps a cause so that its text is redacted but errors.Is still
// sees through it.
type redacted struct {
	err     error
	secrets []string
}

func (r redacted) Error() string { return Redact(r.err.Error(), r.secrets...) }
func (r redacted) Unwrap() error { return r.err }

func pathOnly(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return u
}

type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
