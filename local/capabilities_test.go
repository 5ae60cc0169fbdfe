//go:build unix

package local_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

func TestForkedChildrenAreUnnamedAndLabelled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sb, err := local.New(local.WithDir(t.TempDir()), local.WithName("parent"), local.WithLabels(map[string]string{"team": "a"}))
	require.NoError(t, err)
	h, err := sb.Attach(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	kids, err := h.Fork(ctx, 1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = kids[0].Destroy(context.Background()) })
	require.Empty(t, kids[0].Name())

	found := false
	for info, err := range sb.Managed(ctx) {
		require.NoError(t, err)
		if info.ID != kids[0].ID() {
			continue
		}
		found = true
		require.Empty(t, info.Name)
		require.Equal(t, "true", info.Labels[sandagent.ManagedLabel])
		require.Equal(t, h.ID(), info.Labels[local.ParentLabel])
		require.Equal(t, "a", info.Labels["team"], "the parent's own labels are kept")
		require.NotContains(t, info.Labels, sandagent.NameLabel)
	}
	require.True(t, found, "the child is listed as managed")
}

func TestSnapshotByURLAndDelete(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	sb, err := local.New(local.WithDir(dir))
	require.NoError(t, err)
	h, err := sb.Attach(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	require.NoError(t, h.WriteFile(ctx, "a/b.txt", []byte("snap")))
	id, err := h.Snapshot(ctx, "first")
	require.NoError(t, err)

	h2, err := sandagent.Open(ctx, "local://?dir="+dir+"&snapshot="+id)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h2.Destroy(context.Background()) })
	got, err := h2.ReadFile(ctx, "a/b.txt")
	require.NoError(t, err)
	require.Equal(t, "snap", string(got))

	require.NoError(t, sb.DeleteSnapshot(ctx, id))
	require.NoError(t, sb.DeleteSnapshot(ctx, id), "deleting twice")
	_, err = sandagent.Open(ctx, "local://?dir="+dir+"&snapshot="+id)
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	_, err = local.New(local.WithSnapshot(""))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
}

func TestURLWithIsolation(t *testing.T) {
	t.Parallel()
	sb, err := local.New(local.WithDir(t.TempDir()), local.WithIsolation())
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	if err != nil {
		require.ErrorIs(t, err, sandagent.ErrUnsupported)
		t.Skipf("no isolation here: %v", err)
	}
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	_, err = h.URL(t.Context(), 8000)
	require.ErrorIs(t, err, sandagent.ErrUnsupported)
	require.Contains(t, err.Error(), "network namespace")
}

// Close ends a pending Read even while a process the command left behind
// keeps the terminal open.
func TestPTYCloseEndsARead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sb, err := local.New(local.WithDir(t.TempDir()))
	require.NoError(t, err)
	h, err := sb.Attach(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	p, err := h.StartPTY(ctx, &sandagent.Cmd{Shell: "setsid sleep 600 & echo ready; exec sleep 600"}, sandagent.TermSize{Rows: 24, Cols: 80})
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		var seen []byte
		b := make([]byte, 256)
		for {
			n, err := p.Read(b)
			seen = append(seen, b[:n]...)
			if err != nil {
				got <- err
				return
			}
			if strings.Contains(string(seen), "ready") {
				got <- nil
			}
		}
	}()
	require.NoError(t, <-got, "output before Close")
	require.NoError(t, p.Close())
	require.ErrorIs(t, <-got, io.EOF, "the pending Read ends")
}

// A terminal works in an isolated sandbox too, and a fork keeps the
// parent's volumes (shared, not copied) and its isolation.
func TestPTYAndForkWithIsolationAndVolumes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	vol := t.TempDir()
	sb, err := local.New(local.WithDir(t.TempDir()), local.WithIsolation(), local.WithVolume(vol, "data"))
	require.NoError(t, err)
	h, err := sb.Attach(ctx)
	if err != nil {
		require.ErrorIs(t, err, sandagent.ErrUnsupported)
		t.Skipf("no isolation here: %v", err)
	}
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })

	p, err := h.StartPTY(ctx, &sandagent.Cmd{Shell: "tty; echo pid $$"}, sandagent.TermSize{Rows: 24, Cols: 80})
	require.NoError(t, err)
	shown, err := io.ReadAll(p)
	require.NoError(t, err)
	require.Regexp(t, `/dev/pts/\d+\r\npid 1\r\n`, string(shown), "its own PID namespace, on a terminal")
	_, err = p.Wait()
	require.NoError(t, err)

	require.NoError(t, h.WriteFile(ctx, "data/shared.txt", []byte("v1")))
	kids, err := h.Fork(ctx, 1)
	require.NoError(t, err)
	k := kids[0]
	t.Cleanup(func() { _ = k.Destroy(context.Background()) })
	require.NoError(t, k.WriteFile(ctx, "data/shared.txt", []byte("v2")))
	got, err := h.ReadFile(ctx, "data/shared.txt")
	require.NoError(t, err)
	require.Equal(t, "v2", string(got), "the volume is shared by parent and child")
	_, err = k.URL(ctx, 8000)
	require.ErrorIs(t, err, sandagent.ErrUnsupported, "the child is isolated too")
}
