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
//	sandagent mcp    --url local://my-project
//
// ls and reap need only the provider in the URL (e2b://, daytona://, ...);
// credentials come from the providers' environment variables. reap is a dry
// run unless given --apply. emulate serves a provider's emulator on
// loopback and prints the environment that points SDKs at it; it runs
// until interrupted. mcp serves the sandbox as Model Context Protocol tools
// (package mcpserver) over stdio, or over streamable HTTP with --http ADDR.
//
// Exit status: exec exits with the command's exit status (or 124 when its
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
