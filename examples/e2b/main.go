//go:build unix

// E2b shows the two ways back into an E2B sandbox: by name (every run of
// a program, from any machine, lands in the same sandbox) and by id (a
// serverless handler stores the id and reattaches later, from anywhere).
//
//	go run ./examples/e2b
//
// With E2B_API_KEY set it uses your E2B account (E2B_DOMAIN, E2B_API_URL and
// E2B_SANDBOX_URL are honoured too) and destroys what it created at the end.
// Without it, it runs offline against an in-process E2B emulator.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var conn []e2b.Option // empty: the real service, configured by the environment
	if os.Getenv("E2B_API_KEY") == "" {
		srv := e2btest.NewServer()
		defer srv.Close()
		conn = []e2b.Option{e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL)}
		fmt.Println("E2B_API_KEY is not set: using an in-process emulator at", srv.URL)
	}

	id := byName(ctx, conn)
	byID(ctx, conn, id)
}

// byName attaches the sandbox named "sandagent-example" twice: the first
// Attach creates it (or finds it from an earlier run), the second reuses it.
func byName(ctx context.Context, conn []e2b.Option) string {
	sb, err := e2b.New(append(conn,
		e2b.WithName("sandagent-example"),
		e2b.WithTemplate("base"),
		e2b.WithTimeout(10*time.Minute),
		e2b.WithMetadata(map[string]string{"owner": "example"}),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("by name: sandbox %s %s\n", h.ID(), h.Outcome())

	// Output arrives while the command runs, stdout and stderr apart.
	res, err := h.Exec(ctx, &sandagent.Cmd{
		Shell:  `echo "hello from $(hostname)"; echo "a warning" >&2`,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code:", res.ExitCode)
	if err := h.WriteFile(ctx, "state/progress.txt", []byte("step 3 of 7\n")); err != nil {
		log.Fatal(err)
	}
	if err := h.Close(); err != nil { // detach: the sandbox lives on
		log.Fatal(err)
	}

	h, err = sb.Attach(ctx) // the same name finds the same sandbox
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	fmt.Printf("by name again: sandbox %s %s\n", h.ID(), h.Outcome())

	// Keep it alive for the next step: the handler below may run much later.
	if err := h.SetTimeout(ctx, 30*time.Minute); err != nil {
		log.Fatal(err)
	}
	return h.ID()
}

// byID reattaches by a stored id, as a later run of a serverless handler
// would, reads what the first one wrote, and destroys the sandbox.
func byID(ctx context.Context, conn []e2b.Option, id string) {
	sb, err := e2b.New(append(conn, e2b.WithID(id))...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("by id: sandbox %s %s\n", h.ID(), h.Outcome())
	got, err := h.ReadFile(ctx, "state/progress.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print("progress: ", string(got))

	var n e2b.Native
	if h.As(&n) {
		fmt.Println("a server on port 3000 would be at https://" + n.Host(3000))
	}

	for info, err := range e2b.List(ctx, e2b.Filter{Metadata: map[string]string{"owner": "example"}}, conn...) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("listed: %s %s (%s)\n", info.ID, info.Name, info.State)
	}

	if err := h.Destroy(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("destroyed")
}
