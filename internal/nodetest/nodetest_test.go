//go:build unix

package nodetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeNPM writes an npm that logs each run to log and installs an empty
// package named by its last argument, or fails when fail exists.
func fakeNPM(t *testing.T) (npm, log, fail string) {
	dir := t.TempDir()
	npm, log, fail = filepath.Join(dir, "npm"), filepath.Join(dir, "runs"), filepath.Join(dir, "fail")
	script := `#!/bin/sh
echo "$@" >> "` + log + `"
[ -e "` + fail + `" ] && { echo "npm error network ENOTFOUND registry" >&2; exit 1; }
for a; do spec=$a; done
pkg=${spec%@*}
mkdir -p "node_modules/$pkg" && echo '{}' > "node_modules/$pkg/package.json"
`
	require.NoError(t, os.WriteFile(npm, []byte(script), 0o755))
	return npm, log, fail
}

func runs(t *testing.T, log string) int {
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}

func TestConcurrentInstallsShareOne(t *testing.T) {
	npm, log, _ := fakeNPM(t)
	root := t.TempDir()
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = install(context.Background(), root, npm, "@scope/sdk", "1.2.3")
		}()
	}
	wg.Wait()
	for i := range dirs {
		require.NoError(t, errs[i])
		require.Equal(t, dirs[0], dirs[i])
	}
	require.Equal(t, 1, runs(t, log), "one npm install for all")
	require.FileExists(t, Entry(dirs[0], "@scope/sdk", "package.json"))
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), ".install-"), "no temporary directory left: %s", e.Name())
	}
}

func TestHalfInstalledIsRedone(t *testing.T) {
	npm, log, _ := fakeNPM(t)
	root := t.TempDir()
	dir := filepath.Join(root, "sdk@2.0.0")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "node_modules", "sdk"), 0o755)) // no package.json, no mark
	got, err := install(context.Background(), root, npm, "sdk", "2.0.0")
	require.NoError(t, err)
	require.Equal(t, dir, got)
	require.FileExists(t, Entry(dir, "sdk", "package.json"))
	require.Equal(t, 1, runs(t, log))
	_, err = install(context.Background(), root, npm, "sdk", "2.0.0")
	require.NoError(t, err)
	require.Equal(t, 1, runs(t, log), "a finished install is reused")
}

func TestFailedInstallLeavesNothing(t *testing.T) {
	npm, _, fail := fakeNPM(t)
	require.NoError(t, os.WriteFile(fail, nil, 0o644))
	root := t.TempDir()
	_, err := install(context.Background(), root, npm, "sdk", "3.0.0")
	require.ErrorContains(t, err, "ENOTFOUND")
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		require.True(t, strings.HasSuffix(e.Name(), ".lock"), "only the lock file stays: %s", e.Name())
	}
}
