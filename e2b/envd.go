package e2b

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// sharedHostDomains are the domains whose envd the SDKs reach through
// https://sandbox.<domain> with routing headers, rather than through the
// per-port host.
var sharedHostDomains = []string{"e2b.app", "e2b.dev", "e2b.pro", "e2b-staging.dev"}

// envdURLs returns the base URLs of envd's RPCs and of its /files endpoint.
func (s *Sandbox) envdURLs(id, domain string) (rpc, files string) {
	if s.sandboxURL != "" {
		return s.sandboxURL, s.sandboxURL
	}
	direct := "https://" + host(envdPort, id, domain)
	if slices.Contains(sharedHostDomains, domain) {
		return "https://sandbox." + domain, direct
	}
	return direct, direct
}

// host is the public host of a sandbox's port.
func host(port int, id, domain string) string {
	return strconv.Itoa(port) + "-" + id + "." + domain
}

// envdTransport adds the routing and access headers to every envd request,
// and turns the proxy's 502 (the sandbox is not running) into ErrState.
type envdTransport struct {
	base     http.RoundTripper
	provider string
	id       string
	header   http.Header
}

func (t *envdTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.header {
		req.Header[k] = v
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusBadGateway {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		return nil, &sandagent.Error{Provider: t.provider, Status: http.StatusBadGateway, Kind: sandagent.ErrState,
			Message: fmt.Sprintf("sandbox %s is not running (paused, timed out or killed)", t.id)}
	}
	return resp, nil
}

// envdClient returns the HTTP client for one sandbox's envd: hc's
// connections, with the sandbox's headers.
func envdClient(hc *http.Client, provider, userAgent, id, token string) *http.Client {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	h := http.Header{}
	h.Set("E2b-Sandbox-Id", id)
	h.Set("E2b-Sandbox-Port", strconv.Itoa(envdPort))
	h.Set("User-Agent", userAgent)
	if token != "" {
		h.Set("X-Access-Token", token)
	}
	c := *hc
	c.Transport = &envdTransport{base: base, provider: provider, id: id, header: h}
	return &c
}

// classified returns the classified *sandagent.Error err holds, if any:
// one this package made.
func classified(err error) (*sandagent.Error, bool) {
	var e *sandagent.Error
	if errors.As(err, &e) && e.Kind != nil {
		return e, true
	}
	return nil, false
}

// rpcErr classifies an envd RPC failure.
func (h *handle) rpcErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctx.Err()
	}
	if e, ok := classified(err); ok { // not running, or a stalled stream
		c := *e
		c.Op = op
		return &c
	}
	e := &sandagent.Error{Provider: h.provider, Op: op, Message: httpx.Redact(err.Error(), h.secrets...)}
	var ce *connect.Error
	if errors.As(err, &ce) {
		e.Kind = codeKind(ce.Code())
	}
	return e
}

// codeKind maps a Connect code to a sentinel.
func codeKind(c connect.Code) error {
	switch c {
	case connect.CodeNotFound:
		return sandagent.ErrNotFound
	case connect.CodeInvalidArgument, connect.CodeOutOfRange:
		return sandagent.ErrInvalid
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return sandagent.ErrConflict
	case connect.CodeFailedPrecondition:
		return sandagent.ErrState
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return sandagent.ErrAuth
	case connect.CodeResourceExhausted:
		return sandagent.ErrRateLimited
	case connect.CodeDeadlineExceeded:
		return sandagent.ErrTimeout
	case connect.CodeUnimplemented:
		return sandagent.ErrUnsupported
	case connect.CodeUnavailable:
		// The proxy's or the network's: as the proxy's 502, the sandbox is
		// not running or not reachable (the SDKs say "probably not running").
		return sandagent.ErrState
	case connect.CodeCanceled:
		// Not our ctx (rpcErr checks it first): the call was aborted on the
		// way, as by a proxy's deadline (the SDKs' TimeoutError).
		return sandagent.ErrTimeout
	}
	return nil
}

// filesErr classifies a failed /files request.
func (h *handle) filesErr(op string, status int, header http.Header, body []byte, err error) error {
	if err != nil {
		if e, ok := classified(err); ok {
			c := *e
			c.Op = op
			return &c
		}
		return httpx.Check(h.provider, op, nil, err, nil, h.secrets...)
	}
	err = httpx.StatusError(h.provider, op, status, header, body, nil, h.secrets...)
	if e, ok := err.(*sandagent.Error); ok && status == http.StatusInsufficientStorage && e.Kind == nil {
		// envd's 507: "not enough disk space available" (or inodes).
		e.Kind = sandagent.ErrState
	}
	return err
}

// spawnFailed tells whether an invalid_argument from Start says the program
// does not exist: envd before 0.5.4 reported every spawn failure as
// invalid_argument, with Go's exec error text (`exec: "x": executable file
// not found in $PATH`). Since 0.5.4 a missing program is exit 127.
func spawnFailed(err error) bool {
	var e *sandagent.Error
	return errors.As(err, &e) && e.Kind == sandagent.ErrInvalid &&
		(strings.Contains(e.Message, "not found") || strings.Contains(e.Message, "no such file or directory"))
}
