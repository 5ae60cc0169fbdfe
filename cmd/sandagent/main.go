// Command sandagent attaches to sandboxes, runs commands in them, copies
// files in and out, and serves provider emulators, from the shell.
//
// Every command names its sandbox with a URL, from --url or the
// SANDAGENT_URL environment variable:
//
//	sandagent attach --url local://my-project
//	sandagent exec   --url local://my-project -- python3 -c 'print(1)'
//	sandagent exec   --url local://my-project -i -- python3 < script.py
//	sandagent cp     --url local://my-project ./data.csv :data/data.csv
//	sandagent cp     --url local://my-project :out/report.txt ./report.txt
//	sandagent pause  --url local://my-project
//	sandagent stop   --url local://my-project
//	sandagent kill   --url local://my-project
//	sandagent ls     --url e2b:// --json
//	sandagent reap   --url local:// --older-than 24h --apply
//	sandagent emulate e2b --addr 127.0.0.1:3000
//	sandagent url    --url local://my-project 8000
//	sandagent pty    --url local://my-project
//	sandagent fork   --url local://my-project -n 2
//	sandagent mcp    --url local://my-project
//
// ls and reap need only the provider in the URL (e2b://, daytona://, ...);
// credentials come from the providers' environment variables. reap is a dry
// run unless given --apply. emulate serves a provider's emulator on
// loopback and prints the environment that points SDKs at it; it runs
// until interrupted.
//
// url prints the URL that reaches a port of the sandbox, then any header a
// request must carry. pty runs a program (default: a shell) on a terminal
// in the sandbox, with this terminal in raw mode until it exits. fork
// copies the sandbox into new ones and prints their ids. mcp serves the
// sandbox as Model Context Protocol tools (package mcpserver) over stdio,
// or over streamable HTTP with --http ADDR.
//
// Exit status: exec and pty exit with the command's exit status (or 124 when its
// --timeout expired); every other failure exits 1, and bad usage exits 2.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
