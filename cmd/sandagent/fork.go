package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
)

func init() {
	commands["fork"] = forkCommand
}

// forkCommand forks the sandbox and prints the children's ids, one a line.
// The children keep running: kill each when done.
func forkCommand(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandagent fork", flag.ContinueOnError)
	n := fs.Int("n", 1, "how many sandboxes to make")
	jsonOut := fs.Bool("json", false, "print one JSON object a child")
	h, rest, code := attachWith(ctx, fs, args, stderr)
	if h == nil {
		return code
	}
	defer h.Close()
	if len(rest) != 0 {
		fmt.Fprintf(stderr, "sandagent fork: unexpected arguments %q\n", rest)
		return exitUsage
	}
	kids, err := h.Fork(ctx, *n)
	if err != nil {
		return report(err, stderr)
	}
	enc := json.NewEncoder(stdout)
	for _, k := range kids {
		if *jsonOut {
			err = enc.Encode(map[string]string{"provider": k.Provider(), "id": k.ID(), "name": k.Name(), "workdir": k.Workdir()})
		} else {
			_, err = fmt.Fprintln(stdout, k.ID())
		}
		_ = k.Close()
	}
	return report(err, stderr)
}
