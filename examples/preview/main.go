//go:build unix

// Preview serves a small web app from a sandbox and fetches it from here,
// through the URL the sandbox gives for the app's port: what an agent
// backend does to show its user the app the agent built.
//
//	go run ./examples/preview
//
// It runs offline, on the local provider (whose URL is a loopback address);
// with another provider, only the New line changes. It needs python3.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

// app is the web app the "agent" wrote: a page and a JSON endpoint.
const app = `
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class App(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/api/status":
            body, kind = json.dumps({"ok": True, "served_by": "the sandbox"}).encode(), "application/json"
        else:
            body, kind = b"<h1>Hello from the sandbox</h1>\n", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("0.0.0.0", int(sys.argv[1])), App).serve_forever()
`

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sb, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Destroy(context.WithoutCancel(ctx))

	if err := h.WriteFile(ctx, "app.py", []byte(app)); err != nil {
		log.Fatal(err)
	}
	// Local sandboxes share this machine's network: take a port no one
	// uses. On a remote provider any port will do.
	port := freePort()
	srv, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"python3", "app.py", strconv.Itoa(port)}})
	if err != nil {
		log.Fatal(err)
	}

	ep, err := h.URL(ctx, port)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the app is at", ep)
	for _, path := range []string{"/", "/api/status"} {
		body, err := get(ctx, ep, path, srv)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("GET %s: %s", path, body)
	}
}

// get fetches path through ep, polling until the app answers: it takes a
// moment to start.
func get(ctx context.Context, ep sandagent.Endpoint, path string, srv *sandagent.Process) ([]byte, error) {
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		req, err := ep.NewRequest(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
			}
			return io.ReadAll(resp.Body)
		}
		select {
		case <-srv.Done():
			res, err := srv.Wait()
			return nil, fmt.Errorf("the app exited (%v): %s", err, res.Stderr)
		case <-ctx.Done():
			return nil, fmt.Errorf("the app did not answer: %w", err)
		case <-time.After(delay):
		}
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
