package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
)

func init() {
	commands["url"] = urlCommand
}

// urlCommand prints where a client reaches a port of the sandbox: the URL,
// then any header a request must carry, as "Name: value" lines (they may
// be access tokens).
func urlCommand(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandagent url", flag.ContinueOnError)
	jsonOut := fs.Bool("json", false, `print {"url": ..., "header": {...}}`)
	h, rest, code := attachWith(ctx, fs, args, stderr)
	if h == nil {
		return code
	}
	defer h.Close()
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "sandagent url: want one PORT: sandagent url --url URL 8000")
		return exitUsage
	}
	port, err := strconv.Atoi(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "sandagent url: port %q is not a number\n", rest[0])
		return exitUsage
	}
	ep, err := h.URL(ctx, port)
	if err != nil {
		return report(err, stderr)
	}
	if *jsonOut {
		return report(json.NewEncoder(stdout).Encode(map[string]any{"url": ep.URL, "header": ep.Header}), stderr)
	}
	fmt.Fprintln(stdout, ep.URL)
	for _, k := range slices.Sorted(maps.Keys(ep.Header)) {
		for _, v := range ep.Header[k] {
			fmt.Fprintf(stdout, "%s: %s\n", k, v)
		}
	}
	return exitOK
}
