//go:build unix

// Package nodetest runs official JavaScript SDKs in tests: it finds node
// and npm and installs an npm package at an exact version once per machine,
// in the user's cache directory, so that later runs work offline.
//
// Installs are atomic: the package is installed into a temporary directory,
// marked complete, and renamed into place. A file lock makes concurrent test
// processes on one machine share one install: the first installs, the
// others wait and use it. A directory without the completion mark (a run
// killed mid-install by an older installer) is removed and installed again.
//
// With CI=true, a missing node or npm, or an install that fails (the
// registry unreachable), fails the test; elsewhere the test is skipped with
// the reason.
package nodetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// complete names the file that marks a finished install.
const complete = ".complete"

// installTimeout bounds one npm install.
const installTimeout = 5 * time.Minute

// unavailable skips t with the reason, or fails it under CI.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: the SDK compatibility tests must run)", args...)
	}
	t.Skipf(format, args...)
}

// Node returns the path of node.
func Node(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node is not on PATH: the official JavaScript SDK cannot run")
	}
	return node
}

// Install installs pkg@version (once per machine) and returns the
// directory whose node_modules holds it. Run scripts with NODE_PATH set to
// NodePath(dir) to require it, or import Entry's path.
func Install(t testing.TB, pkg, version string) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, "npm is not on PATH: %s@%s cannot be installed", pkg, version)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		unavailable(t, "no user cache directory to install %s@%s into: %v", pkg, version, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	dir, err := install(ctx, filepath.Join(cache, "sandagent-test", "npm"), npm, pkg, version)
	if err != nil {
		unavailable(t, "cannot install %s@%s (registry unreachable?): %v", pkg, version, err)
	}
	return dir
}

// NodePath is the NODE_PATH under which require finds what Install put in
// dir.
func NodePath(dir string) string { return filepath.Join(dir, "node_modules") }

// Entry is the path of a file of the installed package pkg, such as its
// ESM entry point "dist/index.mjs".
func Entry(dir, pkg, file string) string {
	return filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), filepath.FromSlash(file))
}

// install installs pkg@version under root with npm, unless it is there.
func install(ctx context.Context, root, npm, pkg, version string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	name := strings.NewReplacer("/", "+", "@", "").Replace(pkg) + "@" + version
	dir := filepath.Join(root, name)
	if done(dir) {
		return dir, nil
	}
	unlock, err := lock(filepath.Join(root, "."+name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if done(dir) { // another process installed it while we waited
		return dir, nil
	}
	// Half installed, or installed by an older installer without the mark:
	// start again.
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, ".install-"+name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up a failure
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(`{"private":true}`+"\n"), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", "--fetch-retries=1", "--fetch-retry-maxtimeout=10000", pkg+"@"+version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s@%s: %w\n%s", pkg, version, err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
		return "", fmt.Errorf("npm install %s@%s left no package: %w", pkg, version, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, complete), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// done reports whether dir holds a finished install.
func done(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, complete))
	return err == nil
}

// lock takes an exclusive lock on the file at path, waiting for it, and
// returns its release. The lock ends with the process too.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, &fs.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() { _ = f.Close() }, nil
}

// runTimeout bounds one script.
const runTimeout = 2 * time.Minute

// Run runs script (an ES module when esm, else CommonJS) with node in a
// temporary directory, with env added to the test's environment, and
// returns its output. A script that fails fails the test, with its output.
func Run(t testing.TB, esm bool, script string, env ...string) string {
	t.Helper()
	node := Node(t)
	name := "script.cjs"
	if esm {
		name = "script.mjs"
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", name, err, out)
	}
	return string(out)
}

// FileURL is the file: URL of path, for an ES module's import().
func FileURL(path string) string { return (&url.URL{Scheme: "file", Path: path}).String() }
