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
// Exit status: exec and pty exit with the command's exit status (124 when
// its --timeout expired, 127 when the program does not exist); every other
// failure exits 1, and bad usage exits 2. On SIGINT or SIGTERM the running
// command is killed (as when its ctx ends) and, once it is gone, sandagent
// exits 130 or 143, as a shell reports a command the signal ended; a
// second signal ends sandagent at once.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		signal.Stop(sigs) // a second signal ends the program at once
		cancel(interrupted{sig})
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	if i, ok := context.Cause(ctx).(interrupted); ok && code != exitOK {
		code = 128 + signalNumber(i.sig) // what it ran is gone: run returned
	}
	os.Exit(code)
}

// interrupted is the cause of a ctx a signal ended.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// signalNumber is sig's number: SIGINT 2, SIGTERM 15.
func signalNumber(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return 2
}
