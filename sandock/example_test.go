//go:build unix

package sandock_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

// The main flow: attach (creating a sandbox), store its id, and reattach
// by that id on the next request. It runs against the emulator; drop the
// base URL and key options to use the real service with SANDOCK_API_KEY.
func Example() {
	srv := sandocktest.NewServer(sandocktest.WithVolumeDelay(0))
	defer srv.Close()
	ctx := context.Background()
	connect := []sandock.Option{sandock.WithBaseURL(srv.URL), sandock.WithAPIKey(srv.APIKey())}
	volume := sandock.WithVolume("project", "/workspace/project")

	// First request: no stored id, so a new sandbox.
	sb, err := sandock.New(append(connect, volume)...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := h.WriteFile(ctx, "project/hello.txt", []byte("hello from the volume\n")); err != nil {
		log.Fatal(err)
	}
	stored := h.ID() // keep it for the next request
	fmt.Println(h.Outcome())

	// Next request: reattach by the stored id.
	sb, err = sandock.New(append(connect, volume, sandock.WithID(stored))...)
	if err != nil {
		log.Fatal(err)
	}
	h, err = sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "project/hello.txt"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Outcome(), h.ID() == stored)
	fmt.Print(string(res.Stdout))
	_ = h.Destroy(ctx)
	// Output:
	// created
	// reused true
	// hello from the volume
}
