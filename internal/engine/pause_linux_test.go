package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// In the confined-directory mode, a process whose group leader has exited
// (`cmd &` from a command that returned) is still the sandbox's: Pause
// stops it before returning.
func TestPauseStopsOrphanedGroupMembers(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb, err := e.Create(Spec{Confined: true}, nil)
	require.NoError(t, err)
	defer sb.Destroy()

	var out bytes.Buffer
	p, err := sb.Spawn(context.Background(), Cmd{Shell: "sleep 600 >/dev/null 2>&1 & echo $!", Stdout: &out})
	require.NoError(t, err)
	_, err = p.Wait()
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	require.NoError(t, err)

	require.NoError(t, sb.Pause())
	state, _ := procStateGroup(pid)
	require.Equal(t, "T", state, "paused before Pause returned")
	require.NoError(t, sb.Resume())
	state, _ = procStateGroup(pid)
	require.NotEqual(t, "T", state, "SIGCONT takes effect when sent")
}

// A record left by a group that has ended must not let its sandbox signal
// another sandbox's group that has since got the same process group id
// (pids wrap around quickly on a busy machine).
func TestStaleRecordSparesAnotherSandboxsGroup(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	a, err := e.Create(Spec{Confined: true}, nil)
	require.NoError(t, err)
	defer a.Destroy()
	b, err := e.Create(Spec{Confined: true}, nil)
	require.NoError(t, err)
	defer b.Destroy()

	// In b, a group whose leader has exited and whose member lives on.
	var out bytes.Buffer
	p, err := b.Spawn(context.Background(), Cmd{Shell: "sleep 600 >/dev/null 2>&1 & echo $!", Stdout: &out})
	require.NoError(t, err)
	_, err = p.Wait()
	require.NoError(t, err)
	member, err := strconv.Atoi(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	_, pgid := procStateGroup(member)

	// a holds a record with that group id, as if its own group had had it.
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "procs", strconv.Itoa(pgid)), []byte(strconv.Itoa(pgid)+" 1"), 0o644))
	require.NoError(t, a.Pause())
	state, _ := procStateGroup(member)
	require.NotEqual(t, "T", state, "b's process was not a's to stop")
	require.NoError(t, b.Pause())
	state, _ = procStateGroup(member)
	require.Equal(t, "T", state, "b stops its own")
}
