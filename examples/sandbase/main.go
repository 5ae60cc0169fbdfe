//go:build unix

// Sandbase shows SandBase's persistence: a program starts a background
// process in a sandbox, pauses the sandbox and stores its id; another
// process, later, resumes it by that id and finds the process still
// running, its in-memory counter going on from where it was.
//
//	go run ./examples/sandbase
//
// The second process is this program run again with the stored id
// ("resume <id>"). With SANDBASE_API_KEY set it uses your SandBase account
// and destroys the sandbox at the end; set SANDBASE_TEMPLATE to one of your
// organization's templates (SANDBASE_API_URL and SANDBASE_SANDBOX_URL are
// honoured too). Without a key, it runs offline against an in-process
// emulator, whose address and key it hands to the second process through
// the same variables.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandbase"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// counter counts in a shell variable, in memory, and appends each value to
// count.log.
const counter = `nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i >> count.log; sleep 0.1; done' >/dev/null 2>&1 &`

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if len(os.Args) == 3 && os.Args[1] == "resume" {
		resume(ctx, os.Args[2])
		return
	}

	if os.Getenv("SANDBASE_API_KEY") == "" {
		srv := sandbasetest.NewServer()
		defer srv.Close()
		os.Setenv("SANDBASE_API_KEY", srv.APIKey())
		os.Setenv("SANDBASE_API_URL", srv.URL)
		os.Setenv("SANDBASE_SANDBOX_URL", srv.URL)
		os.Setenv("SANDBASE_TEMPLATE", "base")
		fmt.Println("SANDBASE_API_KEY is not set: using an in-process emulator at", srv.URL)
	}
	id := start(ctx)

	// Another process resumes it: here, this program run again.
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, "resume", id)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatal(err)
	}
}

// start creates a sandbox, starts the counter, pauses the sandbox and
// returns the id to store.
func start(ctx context.Context) string {
	sb, err := sandbase.New()
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // detach: the sandbox stays, paused
	if _, err := h.Exec(ctx, &sandagent.Cmd{Shell: counter}); err != nil {
		log.Fatal(err)
	}
	n := waitCount(ctx, h, 5)
	if err := h.Pause(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("process %d: sandbox %s %s, counter at %d or more, paused\n", os.Getpid(), h.ID(), h.Outcome(), n)
	return h.ID()
}

// resume attaches by the stored id, checks that the counter went on, and
// destroys the sandbox.
func resume(ctx context.Context, id string) {
	sb, err := sandbase.New(sandbase.WithID(id))
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Destroy(ctx)
	before := waitCount(ctx, h, 0)
	after := waitCount(ctx, h, before+5)
	data, err := h.ReadFile(ctx, "count.log")
	if err != nil {
		log.Fatal(err)
	}
	restarted := strings.Contains(string(data), "\n1\n") // a second 1: it started again from zero
	fmt.Printf("process %d: sandbox %s %s, counter went on from %d to %d, restarted: %v\n", os.Getpid(), h.ID(), h.Outcome(), before, after, restarted)
}

// waitCount waits, in the sandbox, until count.log has n lines or more,
// and returns how many it has.
func waitCount(ctx context.Context, h *sandagent.Handle, n int) int {
	res, err := h.Exec(ctx, &sandagent.Cmd{
		Shell:   fmt.Sprintf(`while [ "$(wc -l < count.log 2>/dev/null || echo 0)" -lt %d ]; do sleep 0.1; done; wc -l < count.log`, n),
		Timeout: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	var got int
	fmt.Sscan(string(res.Stdout), &got)
	return got
}
