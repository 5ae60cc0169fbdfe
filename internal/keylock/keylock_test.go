package keylock

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLockSerializesOneKey(t *testing.T) {
	var m Map
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := m.Lock(context.Background(), "k")
			require.NoError(t, err)
			mu.Lock()
			inside++
			maxInside = max(maxInside, inside)
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, 1, maxInside)
	require.Empty(t, m.locks, "entries are freed when unused")
}

func TestLockKeysAreIndependent(t *testing.T) {
	var m Map
	ua, err := m.Lock(context.Background(), "a")
	require.NoError(t, err)
	ub, err := m.Lock(context.Background(), "b")
	require.NoError(t, err)
	ua()
	ub()
}

func TestLockWaitEndsWithContext(t *testing.T) {
	var m Map
	unlock, err := m.Lock(context.Background(), "k")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Lock(ctx, "k")
	require.ErrorIs(t, err, context.Canceled)
	unlock()
	unlock() // a second call is harmless
	u2, err := m.Lock(context.Background(), "k")
	require.NoError(t, err)
	u2()
	require.Empty(t, m.locks)
}
