package sandboxtest

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// NewPerRequest runs n cycles of a serverless handler's life (a new
// Sandbox from newSandbox, Attach, Exec, Close) and checks that goroutines
// and open files stay flat: connections are reused or released, never left
// behind by each Sandbox.
func NewPerRequest(t *testing.T, n int, newSandbox func() sandagent.Sandbox) {
	t.Helper()
	cycle := func() {
		h, err := newSandbox().Attach(t.Context())
		require.NoError(t, err)
		_, err = h.Exec(t.Context(), &sandagent.Cmd{Args: []string{"true"}})
		require.NoError(t, err)
		require.NoError(t, h.Close())
	}
	for range 10 { // warm up: the sandbox exists, the pools are filled
		cycle()
	}
	goroutines, fds := runtime.NumGoroutine(), openFiles(t)
	for range n {
		cycle()
	}
	t.Logf("after %d cycles: goroutines %d -> %d, open files %d -> %d", n, goroutines, runtime.NumGoroutine(), fds, openFiles(t))
	require.LessOrEqual(t, runtime.NumGoroutine(), goroutines+20, "goroutines grow with requests")
	require.LessOrEqual(t, openFiles(t), fds+10, "open files grow with requests")
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files here: %v", err)
	}
	return len(entries)
}
