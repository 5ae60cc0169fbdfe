//go:build unix

// Command sandock shows a serverless-style handler on Sandock. The handler
// keeps no state: each response carries the sandbox id (Handle.ID) and the
// caller sends it back with the next request, which reattaches to that
// sandbox if it is still running, or gets a new one (whose id the caller
// stores from then on). A stopped Sandock sandbox keeps nothing but its
// volumes, so the project lives on a volume, mounted in the sandbox's
// working directory (/sandbox), which every sandbox of the handler gets.
//
// With SANDOCK_API_KEY set it uses the real service (SANDOCK_BASE_URL
// optional); without it, an in-process emulator, so it runs offline:
//
//	go run ./examples/sandock
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

// Request is what a client sends: a command, and the sandbox id from the
// previous response (empty the first time).
type Request struct {
	SandboxID string
	Command   string
}

// Response carries the output and the id to send next time.
type Response struct {
	SandboxID string
	Outcome   sandagent.Outcome
	Output    string
}

// handler serves one request, as a serverless function would.
func handler(ctx context.Context, connect []sandock.Option, req Request) (Response, error) {
	opts := append([]sandock.Option{sandock.WithVolume("example-project", "/sandbox/project")}, connect...)
	if req.SandboxID != "" {
		opts = append(opts, sandock.WithID(req.SandboxID))
	}
	sb, err := sandock.New(opts...)
	if err != nil {
		return Response{}, err
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		return Response{}, err
	}
	defer h.Close() // detach: the sandbox keeps running for the next request
	res, err := h.Exec(ctx, &sandagent.Cmd{Shell: req.Command, Timeout: time.Minute})
	if err != nil {
		return Response{}, err
	}
	return Response{SandboxID: h.ID(), Outcome: h.Outcome(), Output: string(res.Stdout)}, nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var connect []sandock.Option
	if os.Getenv("SANDOCK_API_KEY") == "" {
		srv := sandocktest.NewServer(sandocktest.WithVolumeDelay(0))
		defer srv.Close()
		connect = []sandock.Option{sandock.WithBaseURL(srv.URL), sandock.WithAPIKey(srv.APIKey())}
		fmt.Println("SANDOCK_API_KEY is not set: using an in-process Sandock emulator")
	}

	const visit = `echo "visit $(( $(cat project/visits 2>/dev/null || echo 0) + 1 ))" | tee project/line; cut -d' ' -f2 project/line > project/visits`
	var id string
	var stopped *sandagent.Handle
	for i, step := range []string{"first request", "second request", "after the sandbox was stopped"} {
		if i == 2 {
			// Something stops the sandbox between requests (its deadline, an
			// operator): the next request gets a new one, with the volume;
			// everything else the old one held is gone anyway.
			var err error
			if stopped, err = stop(ctx, connect, id); err != nil {
				log.Fatal(err)
			}
		}
		resp, err := handler(ctx, connect, Request{SandboxID: id, Command: visit})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-30s %-8s sandbox %s: %s", step, resp.Outcome, resp.SandboxID, resp.Output)
		id = resp.SandboxID // store it for the next request
	}

	// Clean up: the stopped sandbox and the last one.
	if err := stopped.Destroy(ctx); err != nil {
		log.Print(err)
	}
	sb, err := sandock.New(append(connect, sandock.WithID(id))...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err == nil {
		err = h.Destroy(ctx)
	}
	if err != nil {
		log.Print(err)
	}
}

// stop stops the sandbox id, standing in for whatever stops it for real,
// and returns its handle.
func stop(ctx context.Context, connect []sandock.Option, id string) (*sandagent.Handle, error) {
	sb, err := sandock.New(append(connect, sandock.WithID(id))...)
	if err != nil {
		return nil, err
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		return nil, err
	}
	return h, h.Stop(ctx)
}
