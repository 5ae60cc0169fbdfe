//go:build unix

package daytona_test

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
)

var benchLatency = flag.Duration("latency", 20*time.Millisecond, "latency the emulator adds to every request in benchmarks")

// benchServer is an emulator with the benchmark latency on every request.
func benchServer(b *testing.B) *daytonatest.Server {
	srv := daytonatest.NewServer()
	b.Cleanup(srv.Close)
	srv.Faults.SetLatency(*benchLatency)
	return srv
}

func benchSandbox(b *testing.B, srv *daytonatest.Server) *daytona.Sandbox {
	sb, err := daytona.New(daytona.WithAPIURL(srv.URL), daytona.WithAPIKey(srv.APIKey()))
	if err != nil {
		b.Fatal(err)
	}
	return sb
}

// BenchmarkExec measures a warm exec on one handle: the Result only (one
// request), live writers (the exec, then the log stream), and stdin of
// known length (inline) or not (sent alongside). reqs/op counts every
// request, including the session's return to the pool after Wait.
func BenchmarkExec(b *testing.B) {
	for _, tc := range []struct {
		name string
		cmd  func() *sandagent.Cmd
	}{
		{"result-only", func() *sandagent.Cmd { return &sandagent.Cmd{Shell: "echo hi"} }},
		{"live-writers", func() *sandagent.Cmd {
			return &sandagent.Cmd{Shell: "echo hi", Stdout: io.Discard, Stderr: io.Discard}
		}},
		{"stdin-inline", func() *sandagent.Cmd { return &sandagent.Cmd{Shell: "cat", Stdin: strings.NewReader("hi\n")} }},
		{"stdin-stream", func() *sandagent.Cmd {
			return &sandagent.Cmd{Shell: "cat", Stdin: io.MultiReader(strings.NewReader("hi\n"))}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := benchServer(b)
			ctx := context.Background()
			h, err := benchSandbox(b, srv).Attach(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			if _, err := h.Exec(ctx, tc.cmd()); err != nil { // the session
				b.Fatal(err)
			}
			srv.Requests.Reset()
			ops := 0
			for b.Loop() {
				if _, err := h.Exec(ctx, tc.cmd()); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			b.ReportMetric(float64(srv.Requests.Total())/float64(ops), "reqs/op")
		})
	}
}

// BenchmarkColdStart measures a new Sandbox, Attach (create) and a first
// `echo hi`: the create, the session, the exec.
func BenchmarkColdStart(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	var made []*sandagent.Handle
	srv.Requests.Reset()
	for b.Loop() {
		h, err := benchSandbox(b, srv).Attach(ctx)
		if err != nil {
			b.Fatal(err)
		}
		res, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo hi"})
		if err != nil || string(res.Stdout) != "hi\n" {
			b.Fatal(err, res)
		}
		made = append(made, h)
	}
	b.ReportMetric(float64(srv.Requests.Total())/float64(len(made)), "reqs/op")
	b.StopTimer()
	for _, h := range made {
		_ = h.Destroy(ctx)
		_ = h.Close()
	}
}
