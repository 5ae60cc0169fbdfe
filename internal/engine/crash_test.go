//go:build linux

package engine

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A process killed at any moment of a Create leaves a sandbox that List
// shows (and Destroy removes, cgroup and all) or nothing List does not
// sweep: nothing on disk that nothing lists.
func TestCreationCutShortIsListedOrSwept(t *testing.T) {
	if root := os.Getenv("ENGINE_TEST_CREATE_LOOP"); root != "" {
		e, err := Open(root)
		require.NoError(t, err)
		for {
			_, _ = e.Create(Spec{}, nil)
		}
	}
	root := t.TempDir()
	for range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCreationCutShortIsListedOrSwept$")
		cmd.Env = append(os.Environ(), "ENGINE_TEST_CREATE_LOOP="+root)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(rand.IntN(15_000)) * time.Microsecond) // the moment of the kill
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	e, err := Open(root)
	require.NoError(t, err)
	t.Cleanup(func() { // what a failed check left
		metas, _ := e.List(nil)
		for _, m := range metas {
			if sb, err := e.Get(m.ID, nil); err == nil {
				_ = sb.Destroy()
			}
		}
	})
	// A child the killed creator forked may hold its lock a moment longer,
	// until it execs: a later listing sweeps what an earlier one could not.
	var metas []Meta
	var unlisted []string
	for range 100 {
		metas, err = e.List(nil)
		require.NoError(t, err)
		listed := map[string]bool{}
		for _, m := range metas {
			listed[m.ID] = true
		}
		ents, err := os.ReadDir(filepath.Join(root, "sandboxes"))
		require.NoError(t, err)
		unlisted = unlisted[:0]
		for _, ent := range ents {
			if !listed[ent.Name()] {
				unlisted = append(unlisted, ent.Name())
			}
		}
		if len(unlisted) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Empty(t, unlisted, "on disk but not listed")
	var cgroups []string
	for _, m := range metas {
		sb, err := e.Get(m.ID, nil)
		require.NoError(t, err)
		require.NoError(t, sb.Destroy())
		if m.Cgroup != "" {
			cgroups = append(cgroups, m.Cgroup)
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, "sandboxes"))
	require.NoError(t, err)
	require.Empty(t, ents, "destroyed, all of it")
	for _, cg := range cgroups {
		_, err := os.Stat(cg)
		require.ErrorIs(t, err, os.ErrNotExist, "cgroup %s", cg)
	}
	if len(cgroups) > 0 { // and no cgroup of this engine that no sandbox names
		base := filepath.Dir(cgroups[0])
		prefix := strings.TrimSuffix(filepath.Base(cgroups[0]), metas[0].ID)
		left, _ := filepath.Glob(filepath.Join(base, prefix+"*"))
		require.Empty(t, left)
	}
}
