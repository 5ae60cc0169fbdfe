//go:build unix

package daytona_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/internal/emu"
)

// The API key appears in no error, no log line (debug level) and no panic,
// on every error path: each failure status, a wrong key, garbage, a server
// that echoes the key in its error body, a refused connection.
func TestNoSecretsOnErrorPaths(t *testing.T) {
	srv := newServer(t)
	key := srv.APIKey()
	var buf lockedBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := t.Context()
	h := attach(t, open(t, srv, daytona.WithName("logged"), daytona.WithLogger(logger)))

	var errs []error
	try := func(f func() error) {
		defer func() {
			if r := recover(); r != nil {
				errs = append(errs, fmt.Errorf("panic: %v", r))
			}
		}()
		if err := f(); err != nil {
			errs = append(errs, err)
		}
	}
	everything := func(sb *daytona.Sandbox) {
		try(func() error { _, err := sb.Attach(ctx); return err })
		try(func() error { _, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"}); return err })
		try(func() error { _, err := h.ReadFile(ctx, "a.txt"); return err })
		try(func() error { return h.WriteFile(ctx, "b.txt", []byte("b")) })
		try(func() error { _, err := h.State(ctx); return err })
		try(func() error { return sb.Kill(ctx, "no-such-id") })
		for _, err := range sb.Managed(ctx) {
			try(func() error { return err })
		}
	}
	echo := `{"statusCode":%d,"message":"key ` + key + ` is not valid: Bearer ` + key + `","error":"x"}`
	sb := open(t, srv, daytona.WithName("logged"), daytona.WithLogger(logger))
	for _, f := range []emu.Fault{
		{Status: http.StatusUnauthorized}, {Status: http.StatusForbidden},
		{Status: http.StatusInternalServerError},
		// Idempotent requests are retried on 429, with real backoff: the
		// rate limit goes to the requests that are not.
		{Method: http.MethodPost, Status: http.StatusTooManyRequests},
		{Status: http.StatusOK, Body: "{not json"}, {Status: http.StatusOK, Body: "<html>" + key + "</html>"},
		{Status: http.StatusUnauthorized, Body: fmt.Sprintf(echo, 401)},
		{Status: http.StatusInternalServerError, Body: fmt.Sprintf(echo, 500)},
	} {
		f.Times = 1000
		srv.Faults.Add(f)
		everything(sb)
		srv.Faults.Clear()
	}
	// A wrong key is a secret too.
	const wrong = "dtn_wrong0000000000000000000000000000000"
	everything(open(t, srv, daytona.WithName("logged"), daytona.WithAPIKey(wrong), daytona.WithLogger(logger)))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	sb, err := daytona.New(daytona.WithAPIURL(closed.URL), daytona.WithAPIKey(key), daytona.WithLogger(logger))
	require.NoError(t, err)
	try(func() error { _, err := sb.Attach(ctx); return err })

	require.NoError(t, h.Destroy(ctx))
	require.Greater(t, len(errs), 40, "the error paths were taken")
	require.Contains(t, fmt.Sprint(errs), "[REDACTED]", "the echoes reached errors, redacted")
	for _, err := range errs {
		for e := err; e != nil; e = errors.Unwrap(e) {
			require.NotContains(t, e.Error(), key)
			require.NotContains(t, e.Error(), wrong)
		}
	}
	require.NotEmpty(t, buf.String(), "requests are logged")
	require.NotContains(t, buf.String(), key)
	require.NotContains(t, buf.String(), wrong)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
