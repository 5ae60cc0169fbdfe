package sandboxtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// testRoot checks that a sandbox has a filesystem root of its own, as a
// provider's VM or container has: absolute paths mean what they mean
// there, for files and commands alike, /tmp is its own, a write anywhere
// stays in it, and no symlink leads out of it, swapped during a call or
// not. The host checks hold for emulators and local sandboxes, which run
// on this machine, and trivially for remote ones.
func (s *suite) testRoot(t *testing.T) {
	s.need(t, Root)
	t.Run("AbsolutePaths", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		abs := h.Workdir() + "/abs/dir/f.txt"
		require.NoError(t, h.WriteFile(ctx, abs, []byte("abs")))
		res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", abs}})
		require.NoError(t, err)
		require.Equal(t, "abs", string(res.Stdout))
		res, err = h.Exec(ctx, &sandagent.Cmd{Shell: "pwd", Dir: "/tmp"})
		require.NoError(t, err)
		require.Equal(t, "/tmp\n", string(res.Stdout))
		res, err = h.Exec(ctx, &sandagent.Cmd{Shell: "pwd", Dir: h.Workdir() + "/abs"})
		require.NoError(t, err)
		require.Equal(t, h.Workdir()+"/abs\n", string(res.Stdout))
	})
	t.Run("PrivateTmp", func(t *testing.T) {
		t.Parallel()
		a, b := s.fresh(t), s.fresh(t)
		ctx := s.ctx(t)
		p := "/tmp/" + uniqueName()
		_, err := a.Exec(ctx, &sandagent.Cmd{Shell: "echo mine > " + p})
		require.NoError(t, err)
		got, err := a.ReadFile(ctx, p)
		require.NoError(t, err)
		require.Equal(t, "mine\n", string(got))
		_, err = b.ReadFile(ctx, p)
		require.ErrorIs(t, err, sandagent.ErrNotFound, "another sandbox's /tmp")
		_, err = os.Lstat(p)
		require.ErrorIs(t, err, os.ErrNotExist, "the host's /tmp")
	})
	t.Run("WritesStayInside", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		p := "/usr/local/" + uniqueName()
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo x > " + p})
		require.NoError(t, err)
		require.NoError(t, h.WriteFile(ctx, p+".api", []byte("y")))
		for _, f := range []string{p, p + ".api"} {
			_, err = os.Lstat(f)
			require.ErrorIs(t, err, os.ErrNotExist, "%s on the host", f)
		}
		got, err := h.ReadFile(ctx, p)
		require.NoError(t, err)
		require.Equal(t, "x\n", string(got))
	})
	t.Run("SymlinkOutRefused", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		host := hostSecret(t)
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "ln -s " + host + " out"})
		require.NoError(t, err)
		got, err := h.ReadFile(ctx, "out/secret.txt")
		require.Error(t, err, "read %q through a link to the host", got)
		require.NotEqual(t, "host", string(got))
	})
	t.Run("SymlinkSwapRaceRefused", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		host := hostSecret(t)
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "mkdir -p in && echo sandbox > in/secret.txt"})
		require.NoError(t, err)
		p, err := h.Start(ctx, &sandagent.Cmd{Shell: "while [ ! -e stop ]; do ln -sfn " + host + " d.tmp && mv -T d.tmp d; rm -f d; cp -r in d.dir && mv -T d.dir d 2>/dev/null; rm -rf d.dir; done >/dev/null 2>&1"})
		require.NoError(t, err)
		defer func() { // the swapper stops when it sees the file
			require.NoError(t, h.WriteFile(ctx, "stop", nil))
			_, _ = p.Wait()
		}()
		for range 100 {
			got, err := h.ReadFile(ctx, "d/secret.txt")
			require.NotEqual(t, "host", string(got), "read the host's file through a swapped link")
			if err == nil {
				require.Equal(t, "sandbox\n", string(got))
			}
		}
	})
}

// hostSecret makes a directory of this machine holding secret.txt, outside
// every sandbox, and returns its path.
func hostSecret(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("host"), 0o600))
	return dir
}

// slowWriter is stuck in its first Write for longer than a command takes,
// as a slow network peer may be; the rest of the output must wait for it.
type slowWriter struct {
	mu sync.Mutex
	n  int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == 0 {
		time.Sleep(500 * time.Millisecond)
	}
	w.n += len(p)
	return len(p), nil
}

// testOutputComplete checks that every byte reaches the writers before
// Exec returns, however slow they are, and (for a provider with a root of
// its own, as the contract's checks for those go) under 1,000 concurrent
// commands, three times.
func (s *suite) testOutputComplete(t *testing.T) {
	t.Run("SlowWriterGetsEveryByte", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		w := &slowWriter{}
		_, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: "head -c 200000 /dev/zero", Stdout: w})
		require.NoError(t, err)
		require.Equal(t, 200000, w.n)
	})
	t.Run("ThousandConcurrentExecs", func(t *testing.T) {
		s.need(t, Root)
		s.need(t, ManyExecs)
		t.Parallel()
		h := s.fresh(t)
		for run := range 3 {
			var wg sync.WaitGroup
			for i := range 1000 {
				wg.Go(func() {
					want := fmt.Sprintf("run %d exec %d", run, i)
					res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Args: []string{"echo", want}})
					if assert.NoError(t, err, want) {
						assert.Equal(t, want+"\n", string(res.Stdout), want)
					}
				})
			}
			wg.Wait()
		}
	})
}
