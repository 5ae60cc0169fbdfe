package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

// An emulator, started: where it listens, and the environment that points
// the provider's official SDKs (and this library) at it.
type emulator struct {
	url   string
	env   []string
	close func()
}

// emulators start each provider's emulator on addr, with key as the
// accepted API key ("" for the emulator's own).
var emulators = map[string]func(addr, key string) emulator{
	"e2b": func(addr, key string) emulator {
		s := e2btest.NewServer(e2btest.WithAddr(addr), e2btest.WithAPIKey(key))
		return emulator{s.URL, []string{"E2B_API_URL=" + s.URL, "E2B_SANDBOX_URL=" + s.URL, "E2B_API_KEY=" + s.APIKey()}, s.Close}
	},
	"sandock": func(addr, key string) emulator {
		opts := []sandocktest.Option{sandocktest.WithAddr(addr)}
		if key != "" {
			opts = append(opts, sandocktest.WithAPIKey(key))
		}
		s := sandocktest.NewServer(opts...)
		return emulator{s.URL, []string{"SANDOCK_BASE_URL=" + s.URL, "SANDOCK_API_KEY=" + s.APIKey()}, s.Close}
	},
	"sandbase": func(addr, key string) emulator {
		opts := []sandbasetest.Option{sandbasetest.WithAddr(addr)}
		if key != "" {
			opts = append(opts, sandbasetest.WithAPIKey(key))
		}
		s := sandbasetest.NewServer(opts...)
		return emulator{s.URL, []string{"SANDBASE_API_URL=" + s.URL, "SANDBASE_SANDBOX_URL=" + s.URL, "SANDBASE_TEMPLATE=base", "SANDBASE_API_KEY=" + s.APIKey()}, s.Close}
	},
	"daytona": func(addr, key string) emulator {
		opts := []daytonatest.Option{daytonatest.WithAddr(addr)}
		if key != "" {
			opts = append(opts, daytonatest.WithAPIKey(key))
		}
		s := daytonatest.NewServer(opts...)
		return emulator{s.URL, []string{"DAYTONA_API_URL=" + s.URL, "DAYTONA_API_KEY=" + s.APIKey()}, s.Close}
	},
}

func emulatorNames() string {
	names := make([]string, 0, len(emulators))
	for n := range emulators {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

// emulate serves one provider's emulator until ctx ends.
func emulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandagent emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen on `host:port` (port 0: any free port)")
	key := fs.String("api-key", "", "the API key the emulator accepts (default: its own)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sandagent emulate %s [--addr 127.0.0.1:PORT] [--api-key KEY]\n", emulatorNames())
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return exitUsage
	}
	start, ok := emulators[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sandagent emulate: unknown provider %q (want %s)\n", args[0], emulatorNames())
		return exitUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	var e emulator
	if err := catch(func() { e = start(*addr, *key) }); err != nil {
		fmt.Fprintln(stderr, "sandagent emulate:", err)
		return exitFailure
	}
	defer e.close()
	fmt.Fprintf(stdout, "%s emulator listening on %s\n", args[0], e.url)
	fmt.Fprintf(stdout, "export %s\n", strings.Join(e.env, " "))
	<-ctx.Done()
	return exitOK
}

// catch turns the panic of an emulator that cannot start into an error.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}
