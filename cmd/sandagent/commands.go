package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sandagent/sandagent"
)

// A command with flags of its own: url, pty, fork. Each registers itself
// in commands from its file.
type command func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

var commands = map[string]command{}

// attachWith parses args with fs, which gains --url, and attaches to the
// sandbox. It returns the handle, the positional arguments and, when it
// could not attach, the exit status to return (the handle is then nil).
func attachWith(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer) (*sandagent.Handle, []string, int) {
	fs.SetOutput(stderr)
	url := fs.String("url", os.Getenv("SANDAGENT_URL"), "the sandbox `URL`, such as local://my-project")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, exitOK
		}
		return nil, nil, exitUsage
	}
	if *url == "" {
		fmt.Fprintln(stderr, "sandagent: no sandbox: give --url or set SANDAGENT_URL")
		return nil, nil, exitUsage
	}
	stopProgress := progress(stderr, "attaching")
	h, err := sandagent.Open(ctx, *url)
	stopProgress()
	if err != nil {
		return nil, nil, report(err, stderr)
	}
	return h, fs.Args(), exitOK
}
