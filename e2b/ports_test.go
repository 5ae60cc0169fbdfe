//go:build unix

package e2b_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// The emulator routes a port's public host, <port>-<id>.<domain>, to the
// server listening on it in the sandbox, and answers the proxy's 502 for a
// port where nothing listens.
func TestEmulatorRoutesPorts(t *testing.T) {
	srv := server(t)
	h := attach(t, srv)
	t.Cleanup(func() { _ = h.Destroy(t.Context()) })
	ctx := t.Context()
	require.NoError(t, h.WriteFile(ctx, "site/hi.txt", []byte("hi")))

	// A server of this machine, not of the sandbox, on the port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	host := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "host") })}
	go func() { _ = host.Serve(l) }()

	ep, err := h.URL(ctx, port)
	require.NoError(t, err)
	resp := get(t, ep, "/hi.txt", "")
	require.Equal(t, http.StatusBadGateway, resp.StatusCode, "nothing of the sandbox listens on the port")
	require.Contains(t, string(body(t, resp)), "port is not open")
	require.NoError(t, host.Close())

	pctx, stop := context.WithCancel(ctx)
	p, err := h.Start(pctx, &sandagent.Cmd{Args: []string{"python3", "-m", "http.server", strconv.Itoa(port)}, Dir: "site"})
	require.NoError(t, err)
	t.Cleanup(func() { stop(); _, _ = p.Wait() })
	// Poll until the server answers.
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		resp := get(t, ep, "/hi.txt", "")
		if resp.StatusCode == http.StatusOK {
			require.Equal(t, "hi", string(body(t, resp)))
			break
		}
		body(t, resp)
		select {
		case <-p.Done():
			t.Fatal("the server exited")
		case <-time.After(delay):
		}
	}
	byHost := get(t, sandagent.Endpoint{URL: srv.URL}, "/hi.txt", strconv.Itoa(port)+"-"+h.ID()+".e2b.local")
	require.Equal(t, http.StatusOK, byHost.StatusCode)
	require.Equal(t, "hi", string(body(t, byHost)), "routed by the Host header")
}

func get(t *testing.T, ep sandagent.Endpoint, path, host string) *http.Response {
	t.Helper()
	req, err := ep.NewRequest(t.Context(), http.MethodGet, path, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	require.NoError(t, err)
	return resp
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
