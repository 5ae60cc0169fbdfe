package sandboxtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
)

// RaceAttachByName attaches name from n Sandboxes at once, each made by
// newSandbox as if in a process of its own (sharing no lock), while the
// emulator's lists lag behind its creates by lag, and checks that they all
// get one sandbox, created once, and that it is then the only live sandbox
// carrying the name in m's list. Give newSandbox's Sandboxes a convergence
// window longer than lag.
func RaceAttachByName(t *testing.T, f *emu.Faults, lag time.Duration, n int, name string, newSandbox func() sandagent.Sandbox, m sandagent.Manager) {
	t.Helper()
	f.SetListLag(lag)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	handles := make([]*sandagent.Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sb := newSandbox()
		wg.Go(func() { handles[i], errs[i] = sb.Attach(ctx) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, h := range handles {
			if h != nil {
				_ = h.Destroy(context.WithoutCancel(ctx))
			}
		}
	})
	require.NoError(t, errors.Join(errs...))
	created := 0
	ids := make([]string, n)
	for i, h := range handles {
		ids[i] = h.ID()
		if h.Outcome() == sandagent.Created {
			created++
		}
	}
	for _, id := range ids {
		require.Equal(t, ids[0], id, "one sandbox for every caller: %v", ids)
	}
	require.Equal(t, 1, created, "one creator: %v", ids)
	f.SetListLag(0)
	var live []string
	for info, err := range m.Managed(ctx) {
		require.NoError(t, err)
		if info.Name == name && info.State != sandagent.StateDestroyed {
			live = append(live, info.ID)
		}
	}
	require.Equal(t, []string{ids[0]}, live, "the losers destroyed what they created")
}
