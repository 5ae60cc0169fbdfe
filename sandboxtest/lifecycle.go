package sandboxtest

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

func (s *suite) testLifecycle(t *testing.T) {
	t.Run("PauseResumeKeepsFilesAndProcesses", func(t *testing.T) {
		s.need(t, Pause)
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		require.NoError(t, h.WriteFile(ctx, "before.txt", []byte("paused")))
		// A background process that must survive the pause.
		bg, err := h.Start(context.WithoutCancel(ctx), &sandagent.Cmd{Shell: "echo $$ > bg.pid; exec sleep 600"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = bg.Signal(context.Background(), os.Kill) })
		s.waitFile(t, h, "bg.pid")

		require.NoError(t, h.Pause(ctx))
		st, err := h.State(ctx)
		require.NoError(t, err)
		require.Equal(t, sandagent.StatePaused, st)
		_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
		require.ErrorIs(t, err, sandagent.ErrState, "exec on a paused sandbox")
		require.NoError(t, h.Close())

		h2 := s.attach(t, Options{ID: h.ID()})
		require.Equal(t, sandagent.Resumed, h2.Outcome())
		got, err := h2.ReadFile(ctx, "before.txt")
		require.NoError(t, err)
		require.Equal(t, "paused", string(got))
		res, err := h2.Exec(ctx, &sandagent.Cmd{Shell: `kill -0 "$(cat bg.pid)" && echo alive`})
		require.NoError(t, err)
		require.Equal(t, "alive\n", string(res.Stdout), "the background process survives pause and resume")
	})

	t.Run("StopThenStart", func(t *testing.T) {
		s.need(t, Stop)
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		require.NoError(t, h.WriteFile(ctx, "kept.txt", []byte("stopped")))
		require.NoError(t, h.Stop(ctx))
		st, err := h.State(ctx)
		require.NoError(t, err)
		require.Equal(t, sandagent.StateStopped, st)
		_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
		require.ErrorIs(t, err, sandagent.ErrState)
		require.NoError(t, h.Close())

		h2 := s.attach(t, Options{ID: h.ID()})
		if h2.Outcome() == sandagent.Created { // the provider's rule: a stopped sandbox is replaced
			require.NotEqual(t, h.ID(), h2.ID())
			return
		}
		require.Equal(t, sandagent.Started, h2.Outcome())
		got, err := h2.ReadFile(ctx, "kept.txt")
		require.NoError(t, err)
		require.Equal(t, "stopped", string(got))
	})

	t.Run("SetTimeout", func(t *testing.T) {
		s.need(t, SetTimeout)
		t.Parallel()
		h := s.fresh(t)
		ctx := s.ctx(t)
		require.NoError(t, h.SetTimeout(ctx, 10*time.Minute))
		require.ErrorIs(t, h.SetTimeout(ctx, 0), sandagent.ErrInvalid)
		st, err := h.State(ctx)
		require.NoError(t, err)
		require.Equal(t, sandagent.StateRunning, st)
	})
}

func (s *suite) testUnsupported(t *testing.T) {
	if len(s.f.Lacks) == 0 {
		t.Log("the provider declares no missing capability; the other tests use them all")
		return
	}
	h := s.fresh(t)
	ctx := s.ctx(t)
	for c, why := range s.f.Lacks {
		var err error
		switch c {
		case Pause:
			err = h.Pause(ctx)
		case Stop:
			err = h.Stop(ctx)
		case SetTimeout:
			err = h.SetTimeout(ctx, time.Minute)
		case Stdin:
			_, err = h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat"}, Stdin: eofReader{}})
		case Signal:
			var p *sandagent.Process
			p, err = h.Start(ctx, &sandagent.Cmd{Shell: "sleep 1"})
			require.NoError(t, err)
			err = p.Signal(ctx, os.Kill)
			_, _ = p.Wait()
		default:
			var checked bool
			if checked, err = capabilityErr(ctx, h, c); !checked {
				t.Logf("%s (%s): not checkable through the Handle", c, why)
				continue
			}
		}
		require.ErrorIs(t, err, sandagent.ErrUnsupported, "%s is declared missing (%s)", c, why)
		require.True(t, errors.Is(err, errors.ErrUnsupported), "ErrUnsupported matches errors.ErrUnsupported")
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
