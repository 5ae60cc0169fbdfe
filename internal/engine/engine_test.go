//go:build unix

package engine

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCreateWithGivenID(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb, err := e.Create(Spec{ID: "ixyz123", Labels: map[string]string{"k": "v"}}, nil)
	require.NoError(t, err)
	require.Equal(t, "ixyz123", sb.ID())
	_, err = e.Create(Spec{ID: "ixyz123"}, nil)
	require.ErrorIs(t, err, sandagent.ErrConflict)
	_, err = e.Create(Spec{ID: "../evil"}, nil)
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	_, err = e.Get("../evil", nil)
	require.ErrorIs(t, err, sandagent.ErrNotFound)

	metas, err := e.List(nil)
	require.NoError(t, err)
	require.Len(t, metas, 1)
	require.Equal(t, "v", metas[0].Labels["k"])
	require.NoError(t, sb.Destroy())
	require.NoError(t, sb.Destroy(), "idempotent")
	_, err = e.Get("ixyz123", nil)
	require.ErrorIs(t, err, sandagent.ErrNotFound)
}

func TestSpawnStreamsAndSignals(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb, err := e.Create(Spec{Env: map[string]string{"A": "1"}}, nil)
	require.NoError(t, err)
	defer sb.Destroy()

	var out, errb bytes.Buffer
	p, err := sb.Spawn(context.Background(), Cmd{Shell: `echo "$A $B"; echo e >&2; exit 4`, Env: map[string]string{"B": "2"}, Stdout: &out, Stderr: &errb})
	require.NoError(t, err)
	code, err := p.Wait()
	require.NoError(t, err)
	require.Equal(t, 4, code)
	require.Equal(t, "1 2\n", out.String())
	require.Equal(t, "e\n", errb.String())

	p, err = sb.Spawn(context.Background(), Cmd{Args: []string{"sleep", "60"}})
	require.NoError(t, err)
	require.NoError(t, p.Signal(sigterm))
	code, _ = p.Wait()
	require.Equal(t, -1, code)
	require.ErrorIs(t, p.Signal(sigterm), sandagent.ErrNotFound)
}

func TestStoppedSandboxRefusesWork(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sb, err := e.Create(Spec{Timeout: time.Minute}, func() time.Time { return now })
	require.NoError(t, err)
	defer sb.Destroy()
	require.NoError(t, sb.Write(sb.Workdir()+"/f", strings.NewReader("x")))
	now = now.Add(time.Hour)
	_, err = sb.Spawn(context.Background(), Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)
	_, err = sb.Open(sb.Workdir() + "/f")
	require.ErrorIs(t, err, sandagent.ErrState)
	m, err := sb.Meta()
	require.NoError(t, err)
	require.Equal(t, Stopped, m.State)
	require.NoError(t, sb.Start())
	r, err := sb.Open(sb.Workdir() + "/f")
	require.NoError(t, err)
	r.Close()
}

var sigterm = syscall.SIGTERM
