package sandboxtest

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

func (s *suite) testAttach(t *testing.T) {
	t.Run("ByNameCreatesThenReuses", func(t *testing.T) {
		s.need(t, NameReuse)
		t.Parallel()
		name := uniqueName()
		h1 := s.attach(t, Options{Name: name})
		require.Equal(t, sandagent.Created, h1.Outcome())
		require.NoError(t, h1.WriteFile(s.ctx(t), "kept.txt", []byte("kept")))
		require.NoError(t, h1.Close())

		h2 := s.attach(t, Options{Name: name})
		require.Equal(t, sandagent.Reused, h2.Outcome())
		require.Equal(t, h1.ID(), h2.ID(), "same name, same sandbox")
		got, err := h2.ReadFile(s.ctx(t), "kept.txt")
		require.NoError(t, err)
		require.Equal(t, "kept", string(got))
	})

	t.Run("ByIDReattaches", func(t *testing.T) {
		t.Parallel()
		h1 := s.fresh(t)
		require.Equal(t, sandagent.Created, h1.Outcome())
		require.NoError(t, h1.WriteFile(s.ctx(t), "kept.txt", []byte("by id")))
		require.NoError(t, h1.Close(), "Close detaches")

		h2 := s.attach(t, Options{ID: h1.ID()})
		require.Equal(t, sandagent.Reused, h2.Outcome())
		require.Equal(t, h1.ID(), h2.ID())
		require.Equal(t, h1.Workdir(), h2.Workdir())
		got, err := h2.ReadFile(s.ctx(t), "kept.txt")
		require.NoError(t, err)
		require.Equal(t, "by id", string(got))
		st, err := h2.State(s.ctx(t))
		require.NoError(t, err)
		require.Equal(t, sandagent.StateRunning, st)
	})

	t.Run("DescribesItself", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		require.NotEmpty(t, h.Provider())
		require.NotEmpty(t, h.Workdir())
		require.Equal(t, byte('/'), h.Workdir()[0], "Workdir is absolute")
	})

	t.Run("UseAfterClose", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		require.NoError(t, h.Close())
		require.NoError(t, h.Close(), "a second Close is not an error")
		ctx := s.ctx(t)
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
		require.ErrorIs(t, err, sandagent.ErrClosed)
		_, err = h.ReadFile(ctx, "x")
		require.ErrorIs(t, err, sandagent.ErrClosed)
		_, err = h.State(ctx)
		require.ErrorIs(t, err, sandagent.ErrClosed)
		require.ErrorIs(t, h.WriteFile(ctx, "x", nil), sandagent.ErrClosed)
	})

	for _, closeFirst := range []bool{false, true} {
		name := map[bool]string{false: "DestroyIsIdempotent", true: "DestroyAfterClose"}[closeFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s.testDestroy(t, closeFirst)
		})
	}
}

// testDestroy destroys a fresh sandbox twice, after closing its handle
// when closeFirst (Close detaches; Destroy still works, as documented),
// and checks it is gone.
func (s *suite) testDestroy(t *testing.T, closeFirst bool) {
	h := s.fresh(t)
	id := h.ID()
	ctx := s.ctx(t)
	if closeFirst {
		require.NoError(t, h.Close())
	}
	require.NoError(t, h.Destroy(ctx))
	require.NoError(t, h.Destroy(ctx), "a second Destroy is not an error")
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrClosed)

	// The sandbox is gone: reattaching by its id finds nothing, or (where
	// the reuse rule says so) makes a new one.
	h2, err := s.f.New(t, Options{ID: id}).Attach(ctx)
	if err != nil {
		require.ErrorIs(t, err, sandagent.ErrNotFound)
		return
	}
	s.destroyLater(t, Options{}, h2)
	require.Equal(t, sandagent.Created, h2.Outcome())
	require.NotEqual(t, id, h2.ID())
}

func (s *suite) testConcurrency(t *testing.T) {
	t.Run("SameNameOneSandbox", func(t *testing.T) {
		s.need(t, NameReuse)
		t.Parallel()
		name := uniqueName()
		const n = 50
		handles := make([]*sandagent.Handle, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				handles[i], errs[i] = s.f.New(t, Options{Name: name}).Attach(s.ctx(t))
			}()
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		s.destroyLater(t, Options{Name: name}, handles[0])
		created := 0
		for _, h := range handles {
			assert.Equal(t, handles[0].ID(), h.ID(), "every caller gets the same sandbox")
			if h.Outcome() == sandagent.Created {
				created++
			}
		}
		require.Equal(t, 1, created, "exactly one caller creates")
	})

	t.Run("ParallelExecOnOneHandle", func(t *testing.T) {
		t.Parallel()
		h := s.fresh(t)
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want := []byte{byte('a' + i)}
				res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Args: []string{"printf", "%s", string(want)}})
				if assert.NoError(t, err) {
					assert.Equal(t, string(want), string(res.Stdout))
				}
			}()
		}
		wg.Wait()
	})
}
