//go:build unix

package e2b_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
)

// The main flow, offline against the emulator: attach by name (created,
// then reused), keep the sandbox alive, and reattach by its id as another
// process would. Against E2B, drop the emulator and the URL options and set
// E2B_API_KEY.
func Example() {
	srv := e2btest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	conn := []e2b.Option{e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL)}

	sb, err := e2b.New(append(conn, e2b.WithName("my-project"))...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first attach:", h.Outcome())
	if err := h.WriteFile(ctx, "notes.txt", []byte("hello from the host\n")); err != nil {
		log.Fatal(err)
	}
	if err := h.SetTimeout(ctx, time.Hour); err != nil { // keep-alive
		log.Fatal(err)
	}
	id := h.ID() // store it to reattach from anywhere
	h.Close()

	h, err = sb.Attach(ctx) // same name, same sandbox
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second attach:", h.Outcome(), h.ID() == id)
	h.Close()

	byID, err := e2b.New(append(conn, e2b.WithID(id))...)
	if err != nil {
		log.Fatal(err)
	}
	h, err = byID.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Destroy(ctx)
	res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "notes.txt"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print("by id: ", h.Outcome(), ": ", string(res.Stdout))
	// Output:
	// first attach: created
	// second attach: reused true
	// by id: reused: hello from the host
}
