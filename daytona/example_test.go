//go:build unix

package daytona_test

import (
	"context"
	"fmt"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
)

// A named sandbox with a volume: the second Attach finds the same sandbox.
// Against Daytona, drop WithAPIURL and WithAPIKey and set DAYTONA_API_KEY.
func Example() {
	srv := daytonatest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	sb, err := daytona.New(
		daytona.WithAPIURL(srv.URL), daytona.WithAPIKey(srv.APIKey()),
		daytona.WithName("my-project"),
		daytona.WithVolume("my-project-volume", ""), // at daytona.DefaultMountPath
	)
	if err != nil {
		panic(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		panic(err)
	}
	_ = h.WriteFile(ctx, "hello.txt", []byte("kept\n"))
	_ = h.Close()

	h, err = sb.Attach(ctx)
	if err != nil {
		panic(err)
	}
	res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "hello.txt"}})
	if err != nil {
		panic(err)
	}
	fmt.Print(h.Outcome(), ": ", string(res.Stdout))
	// Output: reused: kept
}
