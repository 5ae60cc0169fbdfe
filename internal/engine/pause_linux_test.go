package engine

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A process whose group leader has exited (`cmd &` from a command that
// returned) is still the sandbox's: Pause stops it before returning.
func TestPauseStopsOrphanedGroupMembers(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb, err := e.Create(Spec{}, nil)
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
