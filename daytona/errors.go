package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strings"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// decodeMessage reads Daytona's error bodies: the API's {statusCode,
// message, error} (message may be a list) and the toolbox's {statusCode,
// message, code}, and the bulk upload's {errors: [...]}.
func decodeMessage(body []byte) string {
	var m struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
		Errors  []string        `json:"errors"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m.Message, &s) == nil && s != "" {
		return s
	}
	var list []string
	if json.Unmarshal(m.Message, &list) == nil && len(list) > 0 {
		return strings.Join(list, ", ")
	}
	if len(m.Errors) > 0 {
		return strings.Join(m.Errors, "; ")
	}
	return m.Error
}

// check turns the outcome of a generated-client call into a classified
// *sandagent.Error, without the API key.
func (s *Sandbox) check(op string, resp *http.Response, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var body interface{ Body() []byte }
	if resp != nil && resp.StatusCode >= 300 && errors.As(err, &body) {
		return httpx.StatusError(ProviderName, op, resp.StatusCode, resp.Header, body.Body(), decodeMessage, s.apiKey)
	}
	if resp != nil { // a 2xx the client could not decode: not the protocol we know
		return &sandagent.Error{Provider: ProviderName, Op: op, Status: resp.StatusCode, Message: httpx.Redact("unexpected response: "+err.Error(), s.apiKey)}
	}
	return httpx.Check(ProviderName, op, nil, err, nil, s.apiKey)
}

// statusError classifies a non-2xx response of a hand-made request.
func (s *Sandbox) statusError(op string, resp *http.Response, body []byte) error {
	return httpx.StatusError(ProviderName, op, resp.StatusCode, resp.Header, body, decodeMessage, s.apiKey)
}

// fileError names the path in the daemon's file errors, which come with
// empty bodies: 404 is a missing file, 403 a permission denied (matching
// fs.ErrPermission, not ErrAuth: the daemon's user may not touch the
// file), 400 a path the operation does not fit (a directory where a file
// is wanted, a file in the path, ...).
// A status with a body (the proxy's, say) keeps its message and class.
func fileError(p string, err error) error {
	var se *sandagent.Error
	if !errors.As(err, &se) || se.Message != emptyBody {
		return err
	}
	e := *se
	switch e.Status {
	case http.StatusNotFound:
		e.Message = p + ": no such file or directory"
	case http.StatusForbidden:
		e.Kind, e.Err, e.Message = nil, fs.ErrPermission, p+": permission denied"
	case http.StatusBadRequest:
		e.Message = p + ": not possible on this path (a directory where a file is expected, or a file where a directory is)"
	default:
		return err
	}
	return &e
}

// emptyBody is the message httpx gives a failure without a body.
const emptyBody = "empty response body"
