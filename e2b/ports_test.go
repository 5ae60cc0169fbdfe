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

// upgradeEcho answers an HTTP Upgrade with 101, then echoes each line in
// upper case: a stand-in for a websocket server.
const upgradeEcho = `
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        self.wfile.flush()
        for line in self.rfile:
            self.wfile.write(line.upper())
            self.wfile.flush()
socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
`

// The emulator carries upgraded connections (websockets) both ways.
func TestEmulatorRoutesUpgrades(t *testing.T) {
	srv := server(t)
	h := attach(t, srv)
	t.Cleanup(func() { _ = h.Destroy(t.Context()) })
	ctx := t.Context()
	require.NoError(t, h.WriteFile(ctx, "echo.py", []byte(upgradeEcho)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pctx, stop := context.WithCancel(ctx)
	p, err := h.Start(pctx, &sandagent.Cmd{Args: []string{"python3", "echo.py", strconv.Itoa(port)}})
	require.NoError(t, err)
	t.Cleanup(func() { stop(); _, _ = p.Wait() })
	ep, err := h.URL(ctx, port)
	require.NoError(t, err)

	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		req, err := ep.NewRequest(ctx, http.MethodGet, "/", nil)
		require.NoError(t, err)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "echo")
		resp, err := c.Do(req)
		require.NoError(t, err)
		if resp.StatusCode == http.StatusSwitchingProtocols {
			conn := resp.Body.(io.ReadWriteCloser)
			defer conn.Close()
			_, err = io.WriteString(conn, "hello\n")
			require.NoError(t, err)
			got := make([]byte, len("HELLO\n"))
			_, err = io.ReadFull(conn, got)
			require.NoError(t, err)
			require.Equal(t, "HELLO\n", string(got))
			return
		}
		body(t, resp)
		select {
		case <-p.Done():
			res, _ := p.Wait()
			t.Fatalf("the server exited: %s", res.Stderr)
		case <-time.After(delay):
		}
	}
}
