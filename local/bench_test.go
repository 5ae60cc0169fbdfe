//go:build unix

package local_test

import (
	"context"
	"testing"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

// Run with: go test -run '^$' -bench . -benchmem ./local/

// benchSandbox returns a Sandbox in a fresh directory and, attached, its
// first Handle (destroyed when the benchmark ends).
func benchSandbox(b *testing.B, opts ...local.Option) (*local.Sandbox, *sandagent.Handle) {
	b.Helper()
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

func BenchmarkAttachReuse(b *testing.B) {
	ctx := context.Background()
	sb, _ := benchSandbox(b, local.WithName("reuse"))
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

func BenchmarkPauseResume(b *testing.B) {
	ctx := context.Background()
	sb, h := benchSandbox(b, local.WithName("pause"))
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
