//go:build unix

package sandagent_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/sandagent/sandagent"
)

// URL gives where a client reaches a server listening in the sandbox, and
// NewRequest builds requests that carry what the provider asks for.
func ExampleHandle_URL() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	ep, err := h.URL(ctx, 8000)
	if err != nil {
		log.Fatal(err)
	}
	req, err := ep.NewRequest(ctx, "GET", "/index.html", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.URL)
	// Output: http://127.0.0.1:8000/index.html
}

// A command on a terminal: what it prints, as the terminal shows it.
func ExampleHandle_StartPTY() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	p, err := h.StartPTY(ctx, &sandagent.Cmd{Shell: "stty size"}, sandagent.TermSize{Rows: 40, Cols: 120})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	shown, err := io.ReadAll(p) // to io.EOF: the command has ended
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimSpace(string(shown)))
	// Output: 40 120
}

// Fork branches a sandbox: each child starts with the parent's files and
// goes its own way.
func ExampleHandle_Fork() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	if err := h.WriteFile(ctx, "plan.txt", []byte("try something")); err != nil {
		log.Fatal(err)
	}
	kids, err := h.Fork(ctx, 2)
	if err != nil {
		log.Fatal(err)
	}
	for i, k := range kids {
		defer k.Destroy(ctx)
		res, err := k.Exec(ctx, &sandagent.Cmd{Shell: fmt.Sprintf("echo ' (way %d)' >> plan.txt; cat plan.txt", i)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(string(res.Stdout))
	}
	// Output:
	// try something (way 0)
	// try something (way 1)
}
