//go:build unix

// Command daytona shows Daytona's reuse rule: a named sandbox with a volume
// (at daytona.DefaultMountPath, /home/daytona/volume: "volume" in the
// working directory), attached again and again as a program restarts.
// Files survive a stop, and even the deletion of the sandbox, because they
// live on the volume.
//
// With DAYTONA_API_KEY set it talks to Daytona (DAYTONA_API_URL and the
// other variables apply); without it, it runs offline against an in-process
// emulator.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts := []daytona.Option{
		daytona.WithName("sandagent-example"),
		daytona.WithVolume("sandagent-example-volume", ""), // at /home/daytona/volume
		daytona.WithAutoStop(15 * time.Minute),
	}
	if os.Getenv("DAYTONA_API_KEY") == "" {
		srv := daytonatest.NewServer()
		defer srv.Close()
		opts = append(opts, daytona.WithAPIURL(srv.URL), daytona.WithAPIKey(srv.APIKey()))
		fmt.Println("DAYTONA_API_KEY is not set: using an in-process emulator")
	}
	sb, err := daytona.New(opts...)
	if err != nil {
		log.Fatal(err)
	}

	// Each attach stands for one run of a program, say a serverless handler.
	run := func(step string) *sandagent.Handle {
		h, err := sb.Attach(ctx)
		if err != nil {
			log.Fatalf("%s: %v", step, err)
		}
		res, err := h.Exec(ctx, &sandagent.Cmd{Dir: "volume", Shell: "echo " + step + " >> runs.log; cat runs.log | wc -l"})
		if err != nil {
			log.Fatalf("%s: %v", step, err)
		}
		fmt.Printf("%-22s sandbox %s %-8s runs so far: %s", step, h.ID(), h.Outcome(), res.Stdout)
		return h
	}

	h := run("first run")
	_ = h.Close() // detach: the sandbox keeps running

	h = run("second run")
	if err := h.Stop(ctx); err != nil { // or let auto-stop do it after 15 idle minutes
		log.Fatal(err)
	}

	h = run("after a stop")
	if err := h.Destroy(ctx); err != nil {
		log.Fatal(err)
	}

	h = run("after deletion")
	if err := h.Destroy(ctx); err != nil {
		log.Fatal(err)
	}
}
