//go:build unix

package local_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

// Run with: go test -run '^$' -bench . -benchmem ./local/
//
// SANDAGENT_BENCH_HOST_PROCS=1000 starts that many unrelated processes on
// the host for each benchmark, so the figures show whether a cost grows
// with the host's processes (it must grow with the sandbox's only).

// benchSandbox returns a Sandbox in a fresh directory and, attached, its
// first Handle (destroyed when the benchmark ends).
func benchSandbox(b *testing.B, opts ...local.Option) (*local.Sandbox, *sandagent.Handle) {
	b.Helper()
	hostProcesses(b)
	sb, err := local.New(append(opts, local.WithDir(b.TempDir()))...)
	if err != nil {
		b.Fatal(err)
	}
	h, err := sb.Attach(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Destroy(context.Background()) })
	return sb, h
}

// hostProcesses starts $SANDAGENT_BENCH_HOST_PROCS sleeping processes
// outside any sandbox, killed when the benchmark ends.
func hostProcesses(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SANDAGENT_BENCH_HOST_PROCS"))
	for range n {
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
}

func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	sb, _ := benchSandbox(b)
	for b.Loop() {
		h, err := sb.Attach(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = h.Destroy(ctx)
		b.StartTimer()
	}
}

func BenchmarkAttachReuse(b *testing.B) { benchAttachReuse(b) }

// BenchmarkAttachReuseConfined is BenchmarkAttachReuse in the
// confined-directory mode, whose processes are found among the host's.
func BenchmarkAttachReuseConfined(b *testing.B) { benchAttachReuse(b, local.WithConfinedDir()) }

func benchAttachReuse(b *testing.B, opts ...local.Option) {
	ctx := context.Background()
	sb, _ := benchSandbox(b, append(opts, local.WithName("reuse"))...)
	for b.Loop() {
		if _, err := sb.Attach(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExec(b *testing.B) {
	ctx := context.Background()
	_, h := benchSandbox(b)
	cmd := &sandagent.Cmd{Args: []string{"true"}}
	for b.Loop() {
		if _, err := h.Exec(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPauseResume(b *testing.B) { benchPauseResume(b) }

// BenchmarkPauseResumeConfined is BenchmarkPauseResume in the
// confined-directory mode.
func BenchmarkPauseResumeConfined(b *testing.B) { benchPauseResume(b, local.WithConfinedDir()) }

func benchPauseResume(b *testing.B, opts ...local.Option) {
	ctx := context.Background()
	sb, h := benchSandbox(b, append(opts, local.WithName("pause"))...)
	// A live process, so that pausing has something to stop.
	if _, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"sleep", "600"}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := h.Pause(ctx); err != nil {
			b.Fatal(err)
		}
		var err error
		if h, err = sb.Attach(ctx); err != nil || h.Outcome() != sandagent.Resumed {
			b.Fatal(err, h.Outcome())
		}
	}
}
