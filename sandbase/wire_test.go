//go:build unix

package sandbase_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandbase"
)

// A fake SandBase that echoes the credentials it gets in its error
// messages, and records the commands it is sent.
func TestWire(t *testing.T) {
	const key = "sk-sb-0123456789abcdef0123"
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/sandboxes/sbx_abc/connect":
			_, _ = w.Write([]byte(`{"sandboxID":"sbx_abc","templateID":"base","clientID":"erouter","metadata":{},"status":"running"}`))
		case r.URL.Path == "/sandboxes/sbx_abc/processes":
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			bodies = append(bodies, body)
			mu.Unlock()
			_, _ = w.Write([]byte(`{"processID":"42","stdout":"out","stderr":"err","exitCode":3}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":401,"message":"invalid key ` + r.Header.Get("Authorization") + `"}`))
		}
	}))
	defer srv.Close()
	ctx := t.Context()

	sb, err := sandbase.New(sandbase.WithAPIKey(key), sandbase.WithAPIURL(srv.URL), sandbase.WithName("x"))
	require.NoError(t, err)
	_, err = sb.Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.NotContains(t, err.Error(), key)
	require.Contains(t, err.Error(), "[REDACTED]", "the echo was there and was redacted")

	sb, err = sandbase.New(sandbase.WithAPIKey(key), sandbase.WithAPIURL(srv.URL), sandbase.WithID("sbx_abc"))
	require.NoError(t, err)
	h, err := sb.Attach(ctx)
	require.NoError(t, err)
	var out, errb strings.Builder
	res, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo hi", Dir: "/workspace/sub", Env: map[string]string{"A": "b"}, Timeout: 1500 * time.Millisecond, Stdout: &out, Stderr: &errb})
	var ee *sandagent.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, res.ExitCode)
	require.Equal(t, "out", out.String())
	require.Equal(t, "err", errb.String())
	_, err = h.Exec(ctx, &sandagent.Cmd{Args: []string{"ls", "-l"}})
	require.ErrorAs(t, err, &ee)
	_, err = h.ReadFile(ctx, "/workspace/x")
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.NotContains(t, err.Error(), key)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, bodies, 2)
	require.Equal(t, "/bin/sh", bodies[0]["cmd"])
	require.Equal(t, []any{"-c", "echo hi"}, bodies[0]["args"])
	require.Equal(t, "/workspace/sub", bodies[0]["cwd"])
	require.Equal(t, float64(2), bodies[0]["timeout"], "the deadline in whole seconds, rounded up")
	require.Equal(t, "b", bodies[0]["envVars"].(map[string]any)["A"])
	require.Equal(t, "ls", bodies[1]["cmd"])
	require.Equal(t, []any{"-l"}, bodies[1]["args"])
	require.NotContains(t, bodies[1], "cwd", "no Dir: SandBase's default")
	require.NotContains(t, bodies[1], "timeout", "no deadline: SandBase's default")
}
