//go:build unix

// Serverless shows a net/http handler that reattaches to its sandbox on
// every request, as a serverless function does: nothing survives between
// invocations but the sandbox itself, named by one URL.
//
//	SANDAGENT_URL=local://serverless-demo go run ./examples/serverless -addr 127.0.0.1:8080
//	curl -d 'echo hello from $(hostname)' 127.0.0.1:8080/run
//
// Without -addr it serves two requests to itself and prints the responses,
// showing the cold start (created) and the warm path (reused) with their
// attach cost. Any provider works: import it and set SANDAGENT_URL, e.g.
// e2b://serverless-demo.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	_ "github.com/sandagent/sandagent/local"
)

// Response is what /run answers.
type Response struct {
	Sandbox  string `json:"sandbox"`
	Outcome  string `json:"outcome"`
	AttachMS int64  `json:"attachMs"`
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

// handler runs the request body as a shell command in the sandbox that url
// names, within a short deadline.
func handler(url string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		script, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil || len(script) == 0 {
			http.Error(w, "POST a shell command", http.StatusBadRequest)
			return
		}

		start := time.Now()
		h, err := sandagent.Open(ctx, url) // reattach: created once, reused after
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer h.Close() // detach only: the next invocation reattaches
		attach := time.Since(start)

		res, err := h.Exec(ctx, &sandagent.Cmd{Shell: string(script), Timeout: 10 * time.Second})
		if res == nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Response{
			Sandbox: h.ID(), Outcome: h.Outcome().String(), AttachMS: attach.Milliseconds(),
			ExitCode: res.ExitCode, Stdout: string(res.Stdout), Stderr: string(res.Stderr),
		})
	})
}

func main() {
	addr := flag.String("addr", "", "serve on this address (default: run two requests and exit)")
	flag.Parse()
	url := os.Getenv("SANDAGENT_URL")
	if url == "" {
		url = "local://serverless-demo"
	}
	if *addr != "" {
		log.Printf("serving %s on http://%s/run", url, *addr)
		log.Fatal(http.ListenAndServe(*addr, handler(url)))
	}

	srv := httptest.NewServer(handler(url))
	defer srv.Close()
	for i, script := range []string{"echo cold start; date +%s > last-run", "echo warm: last run at $(cat last-run)"} {
		resp, err := http.Post(srv.URL+"/run", "text/plain", strings.NewReader(script))
		if err != nil {
			log.Fatal(err)
		}
		var out Response
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("request %d: sandbox %s %s (attach %d ms): %s", i+1, out.Sandbox, out.Outcome, out.AttachMS, out.Stdout)
	}
}
