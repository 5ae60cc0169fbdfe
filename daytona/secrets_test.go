//go:build unix

package daytona_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/internal/secrettest"
)

// The API key appears in no error, no log line (debug level) and no panic,
// on every error path: each failure status, a wrong key, garbage, a server
// that echoes the key in its error body, a refused connection.
func TestNoSecretsOnErrorPaths(t *testing.T) {
	srv := newServer(t)
	key := srv.APIKey()
	var rec secrettest.Recorder
	logger := rec.Logger()
	ctx := t.Context()
	h := attach(t, open(t, srv, daytona.WithName("logged"), daytona.WithLogger(logger)))

	try := rec.Try
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
	require.Greater(t, len(rec.Errors()), 40, "the error paths were taken")
	require.Contains(t, fmt.Sprint(rec.Errors()), "[REDACTED]", "the echoes reached errors, redacted")
	require.NotEmpty(t, rec.Log(), "requests are logged")
	rec.Check(t, key, wrong)
}
