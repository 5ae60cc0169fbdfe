//go:build unix

package sandbase_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandbase"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// The main flow, offline against the emulator: attach by name, pause, and
// later resume by the stored id, as another process would, with files and
// memory intact. Against SandBase, drop the emulator and the connection
// options and set SANDBASE_API_KEY and SANDBASE_TEMPLATE (one of your
// organization's templates).
func Example() {
	srv := sandbasetest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	conn := []sandbase.Option{sandbase.WithAPIKey(srv.APIKey()), sandbase.WithAPIURL(srv.URL), sandbase.WithSandboxURL(srv.URL), sandbase.WithTemplate("base")}

	sb, err := sandbase.New(append(conn, sandbase.WithName("my-project"))...)
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
	if err := h.Pause(ctx); err != nil { // files and memory are kept
		log.Fatal(err)
	}
	id := h.ID() // store it to resume from anywhere
	h.Close()

	byID, err := sandbase.New(append(conn, sandbase.WithID(id))...)
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
	// by id: resumed: hello from the host
}
