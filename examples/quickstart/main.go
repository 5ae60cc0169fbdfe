//go:build unix

// Quickstart attaches the local sandbox "quickstart", writes a file, runs a
// command that streams its output, and detaches. Run it twice: the second
// run reuses the sandbox and finds the file written by the first.
//
//	go run ./examples/quickstart
//
// It needs no account and no network. Set SANDAGENT_LOCAL_DIR to keep the
// sandboxes somewhere else than the user cache directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sb, err := local.New(local.WithName("quickstart"))
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // detach: the sandbox stays for the next run

	fmt.Printf("sandbox %s (%s): %s\n", h.Name(), h.ID(), h.Outcome())

	// A file written by an earlier run is still there when the sandbox is reused.
	prev, err := h.ReadFile(ctx, "visits.log")
	switch {
	case err == nil:
		fmt.Printf("visits.log from earlier runs:\n%s", prev)
	case !errors.Is(err, sandagent.ErrNotFound):
		log.Fatal(err)
	}
	line := fmt.Sprintf("visit at %s\n", time.Now().Format(time.RFC3339))
	if err := h.WriteFile(ctx, "visits.log", append(prev, line...)); err != nil {
		log.Fatal(err)
	}

	// Output streams while the command runs.
	res, err := h.Exec(ctx, &sandagent.Cmd{
		Shell:  `for i in 1 2 3; do echo "step $i"; sleep 0.2; done; wc -l < visits.log | tr -d ' '`,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit code %d after %s\n", res.ExitCode, res.Duration.Round(time.Millisecond))
	if h.Outcome() == sandagent.Reused {
		fmt.Println("reused the sandbox: its files were kept")
	} else {
		fmt.Println("run me again: the next run reuses this sandbox")
	}
}
