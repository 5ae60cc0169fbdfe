package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/mcpserver"
)

func init() {
	commands["mcp"] = serveMCP
}

// serveMCP serves the sandbox as MCP tools, over stdin and stdout until the
// client closes stdin, or over streamable HTTP (--http) until ctx ends. The
// sandbox is attached on the first tool call and detached, never
// destroyed, at the end.
func serveMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandagent mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", os.Getenv("SANDAGENT_URL"), "the sandbox `URL`, such as local://my-project")
	addr := fs.String("http", "", "serve streamable HTTP on `host:port` instead of stdio (no authentication: keep it on loopback)")
	maxOutput := fs.Int("max-output", mcpserver.DefaultMaxOutput, "bytes of each output a tool result holds; the rest goes to a file in the sandbox")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sandagent mcp --url URL [--http 127.0.0.1:PORT]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *url == "" {
		fmt.Fprintln(stderr, "sandagent mcp: no sandbox: give --url or set SANDAGENT_URL")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sandagent mcp: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	sb, err := sandagent.FromURL(*url)
	if err != nil {
		return report(err, stderr)
	}
	s := mcpserver.New(sb, mcpserver.WithMaxOutput(*maxOutput))
	defer s.Close()
	if *addr == "" {
		err = s.MCP().Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}})
		if ctx.Err() != nil { // interrupted: a normal end
			err = nil
		}
		return report(err, stderr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return report(err, stderr)
	}
	hs := &http.Server{Handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.MCP() }, nil)}
	fmt.Fprintf(stderr, "sandagent mcp: serving MCP on http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = hs.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return report(err, stderr)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
