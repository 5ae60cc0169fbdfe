//go:build unix

package local_test

import (
	"context"
	"testing"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

// Run with: go test -run '^$' -bench . -benchmem ./local/

func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	sb, err := local.New(local.WithDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
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
	sb, err := local.New(local.WithDir(b.TempDir()), local.WithName("reuse"))
	if err != nil {
		b.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Destroy(ctx)
	for b.Loop() {
		if _, err := sb.Attach(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExec(b *testing.B) {
	ctx := context.Background()
	sb, err := local.New(local.WithDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Destroy(ctx)
	cmd := &sandagent.Cmd{Args: []string{"true"}}
	for b.Loop() {
		if _, err := h.Exec(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPauseResume(b *testing.B) {
	ctx := context.Background()
	sb, err := local.New(local.WithDir(b.TempDir()), local.WithName("pause"))
	if err != nil {
		b.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Destroy(ctx)
	// A live process, so that pausing has something to stop.
	if _, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"sleep", "600"}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := h.Pause(ctx); err != nil {
			b.Fatal(err)
		}
		if h, err = sb.Attach(ctx); err != nil || h.Outcome() != sandagent.Resumed {
			b.Fatal(err, h.Outcome())
		}
	}
}
