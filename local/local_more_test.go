//go:build unix

package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
	"github.com/sandagent/sandagent/local"
)

// TestMain doubles as a helper process for the cross-process tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SANDAGENT_TEST_ATTACH_DIR"); dir != "" {
		sb, err := local.New(local.WithDir(dir), local.WithName(os.Getenv("SANDAGENT_TEST_ATTACH_NAME")))
		if err == nil {
			var h *sandagent.Handle
			if h, err = sb.Attach(context.Background()); err == nil {
				fmt.Println(h.ID(), h.Outcome())
				os.Exit(0)
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

func attach(t *testing.T, opts ...local.Option) *sandagent.Handle {
	t.Helper()
	sb, err := local.New(opts...)
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	return h
}

func TestEightProcessesAttachingOneNameGetOneSandbox(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { destroyAll(t, dir) })
	const n = 8
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			// No pause at exit under -race (the race runtime waits a second by default).
			cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
				"SANDAGENT_TEST_ATTACH_DIR="+dir, "SANDAGENT_TEST_ATTACH_NAME=shared")
			out, err := cmd.Output()
			outs[i], errs[i] = strings.TrimSpace(string(out)), err
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	ids := map[string]int{}
	created := 0
	for _, o := range outs {
		id, outcome, _ := strings.Cut(o, " ")
		ids[id]++
		if outcome == "created" {
			created++
		}
	}
	require.Len(t, ids, 1, "one sandbox: %v", outs)
	require.Equal(t, 1, created, "one creator: %v", outs)
}

// destroyAll destroys every sandbox under dir.
func destroyAll(t *testing.T, dir string) {
	sb, err := local.New(local.WithDir(dir))
	require.NoError(t, err)
	for info, err := range sb.Managed(context.Background()) {
		require.NoError(t, err)
		require.NoError(t, sb.Kill(context.Background(), info.ID))
	}
}

func TestPathsCannotEscape(t *testing.T) {
	h := attach(t, local.WithDir(t.TempDir()), local.WithConfinedDir())
	ctx := t.Context()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
	_, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"ln", "-s", outside, "escape"}})
	require.NoError(t, err)
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "mkdir sub && ln -s sub inside"})
	require.NoError(t, err)

	for _, p := range []string{"../../etc/passwd", "/etc/passwd", "escape/secret", "escape", filepath.Dir(h.Workdir())} {
		_, err := h.ReadFile(ctx, p)
		require.ErrorIs(t, err, sandagent.ErrInvalid, p)
		require.ErrorIs(t, h.WriteFile(ctx, p, []byte("x")), sandagent.ErrInvalid, p)
		_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "pwd", Dir: p})
		require.ErrorIs(t, err, sandagent.ErrInvalid, p)
	}
	_, err = h.ListDir(ctx, "escape")
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.ErrorIs(t, h.Remove(ctx, h.Workdir()), sandagent.ErrInvalid)
	require.NoError(t, h.Remove(ctx, "escape"), "removing the link itself is fine")
	_, err = os.Stat(filepath.Join(outside, "secret"))
	require.NoError(t, err, "and leaves its target alone")

	// A symlink that stays inside is followed.
	require.NoError(t, h.WriteFile(ctx, "inside/f.txt", []byte("in")))
	got, err := h.ReadFile(ctx, "sub/f.txt")
	require.NoError(t, err)
	require.Equal(t, "in", string(got))
}

func TestVolumesOutliveTheSandbox(t *testing.T) {
	dir, vol := t.TempDir(), t.TempDir()
	ctx := t.Context()
	h := attach(t, local.WithDir(dir), local.WithName("vol"), local.WithVolume(vol, "data"))
	require.Equal(t, []sandagent.Volume{{Name: vol, MountPath: filepath.Join(h.Workdir(), "data")}}, h.Volumes())
	require.NoError(t, h.WriteFile(ctx, "data/keep.txt", []byte("kept")))
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo cmd > data/cmd.txt"})
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(vol, "keep.txt"))
	require.NoError(t, err)
	require.Equal(t, "kept", string(got), "the file is on the host directory")
	require.ErrorIs(t, h.Remove(ctx, "data"), sandagent.ErrInvalid, "the mount point stays")
	require.NoError(t, h.Destroy(ctx))

	h2 := attach(t, local.WithDir(dir), local.WithName("vol"), local.WithVolume(vol, "data"))
	require.Equal(t, sandagent.Created, h2.Outcome())
	res, err := h2.Exec(ctx, &sandagent.Cmd{Shell: "cat data/keep.txt data/cmd.txt"})
	require.NoError(t, err)
	require.Equal(t, "keptcmd\n", string(res.Stdout))
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestTimeoutStopsLazily(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := []local.Option{local.WithDir(dir), local.WithName("to"), local.WithTimeout(time.Minute), local.WithClock(c.now)}
	h := attach(t, opts...)
	ctx := t.Context()
	require.NoError(t, h.WriteFile(ctx, "f", []byte("x")))

	c.advance(59 * time.Second)
	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateRunning, st)
	require.NoError(t, h.SetTimeout(ctx, time.Minute), "keep-alive")
	c.advance(59 * time.Second)
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.NoError(t, err, "SetTimeout moved the deadline")

	c.advance(time.Minute)
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.ErrorIs(t, err, sandagent.ErrState)
	require.ErrorContains(t, err, "stopped")
	st, err = h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateStopped, st)

	h2 := attach(t, opts...)
	require.Equal(t, sandagent.Started, h2.Outcome())
	got, err := h2.ReadFile(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
}

func TestTimeoutAutoPauseKeepsProcesses(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := []local.Option{local.WithDir(dir), local.WithName("ap"), local.WithTimeout(time.Minute), local.WithAutoPause(true), local.WithClock(c.now), local.WithConfinedDir()}
	h := attach(t, opts...)
	ctx := t.Context()
	p, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"sleep", "600"}})
	require.NoError(t, err)

	c.advance(2 * time.Minute)
	st, err := h.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StatePaused, st)
	require.Equal(t, "T", procState(t, p.PID()), "the process is stopped, not killed")

	h2 := attach(t, opts...)
	require.Equal(t, sandagent.Resumed, h2.Outcome())
	require.NotEqual(t, "T", procState(t, p.PID()), "and continues on resume")
}

// procState returns the state letter of a process from /proc.
func procState(t *testing.T, pid int) string {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	return strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))[0]
}

func TestEnvLabelsAndNoHostEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SANDAGENT_HOST_SECRET", "do-not-leak")
	h := attach(t, local.WithDir(dir), local.WithEnv(map[string]string{"GREETING": "hi there"}), local.WithLabels(map[string]string{"team": "a"}))
	ctx := t.Context()
	res, err := h.Exec(ctx, &sandagent.Cmd{Shell: `echo "$GREETING"; echo "[$SANDAGENT_HOST_SECRET]"; echo "$HOME"`})
	require.NoError(t, err)
	require.Equal(t, "hi there\n[]\n"+h.Workdir()+"\n", string(res.Stdout))
	res, err = h.Exec(ctx, &sandagent.Cmd{Shell: `echo "$GREETING"`, Env: map[string]string{"GREETING": "per command"}})
	require.NoError(t, err)
	require.Equal(t, "per command\n", string(res.Stdout))

	e, err := engine.Open(dir)
	require.NoError(t, err)
	metas, err := e.List(nil)
	require.NoError(t, err)
	require.Len(t, metas, 1)
	require.Equal(t, map[string]string{"team": "a", "sandagent.managed": "true"}, metas[0].Labels)
}

func TestAttachByUnknownIDIsNotFound(t *testing.T) {
	sb, err := local.New(local.WithDir(t.TempDir()), local.WithID("sb-nosuchsandbox"))
	require.NoError(t, err)
	_, err = sb.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "local", e.Provider)
	require.Equal(t, "attach", e.Op)
}

func TestAttachWithEndedContext(t *testing.T) {
	sb, err := local.New(local.WithDir(t.TempDir()), local.WithName("x"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = sb.Attach(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestBadOptions(t *testing.T) {
	for _, opt := range []local.Option{
		local.WithName(""),
		local.WithName("has space"),
		local.WithName("-leading"),
		local.WithName(strings.Repeat("a", 64)),
		local.WithName("../up"),
		local.WithID(""),
		local.WithDir(""),
		local.WithTimeout(-time.Second),
		local.WithVolume("", "data"),
		local.WithVolume("/tmp/x", ""),
		local.WithVolume("/tmp/x", "/abs"),
		local.WithVolume("/tmp/x", "../up"),
		local.WithEnv(map[string]string{"A=B": "c"}),
	} {
		_, err := local.New(opt)
		require.ErrorIs(t, err, sandagent.ErrInvalid)
	}
	_, err := local.New(local.WithName("a"), local.WithID("b"))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	h, err := sandagent.Open(t.Context(), "local://from-url?dir="+dir+"&timeout=10m")
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	require.Equal(t, "from-url", h.Name())
	require.Equal(t, sandagent.Created, h.Outcome())
	h2, err := sandagent.Open(t.Context(), "local://?dir="+dir+"&id="+h.ID())
	require.NoError(t, err)
	require.Equal(t, h.ID(), h2.ID())

	for url, part := range map[string]string{
		"local://x?bogus=1":          "bogus",
		"local://x?timeout=soon":     "timeout",
		"local://x?isolate=maybe":    "isolate",
		"local://x/extra?dir=" + dir: "path",
		"local://-bad?dir=/tmp":      "name",
		"nosuch://x":                 "nosuch",
		"no-scheme":                  "scheme",
		"local://x?dir=%zz":          "malformed",
	} {
		_, err := sandagent.Open(t.Context(), url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part, url)
	}
}

func TestIsolation(t *testing.T) {
	sb, err := local.New(local.WithDir(t.TempDir()), local.WithIsolation())
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	if errors.Is(err, sandagent.ErrUnsupported) {
		t.Skipf("this system cannot create namespaces: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: `echo $$; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`})
	require.NoError(t, err)
	sc := bufio.NewScanner(strings.NewReader(string(res.Stdout)))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Equal(t, []string{"1", "lo"}, lines, "PID 1 in its own namespace, and no network but loopback")
}

func TestManagedAndReap(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	old := attach(t, local.WithDir(dir), local.WithName("old"), local.WithLabels(map[string]string{"env": "ci"}), local.WithClock(c.now))
	c.advance(48 * time.Hour)
	young := attach(t, local.WithDir(dir), local.WithLabels(map[string]string{"env": "ci"}), local.WithClock(c.now))
	other := attach(t, local.WithDir(dir), local.WithLabels(map[string]string{"env": "prod"}), local.WithClock(c.now))

	sb, err := local.New(local.WithDir(dir), local.WithClock(c.now))
	require.NoError(t, err)
	var ids []string
	for info, err := range sb.Managed(ctx) {
		require.NoError(t, err)
		require.Equal(t, "local", info.Provider)
		require.Equal(t, "true", info.Labels[sandagent.ManagedLabel])
		ids = append(ids, info.ID)
	}
	require.ElementsMatch(t, []string{old.ID(), young.ID(), other.ID()}, ids)

	// Reap's age test uses the real clock: the old sandbox was created
	// 48 h before the fake clock's start, which is in the past.
	dry, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{Labels: map[string]string{"env": "ci"}})
	require.NoError(t, err)
	require.Len(t, dry, 2, "dry run picks both ci sandboxes")
	st, err := young.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateRunning, st, "and destroys nothing")

	reaped, err := sandagent.Reap(ctx, sb, sandagent.ReapOptions{Labels: map[string]string{"env": "ci"}, OlderThan: time.Hour, Apply: true})
	require.NoError(t, err)
	require.Len(t, reaped, 2)
	_, err = old.State(ctx)
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.NoError(t, sb.Kill(ctx, old.ID()), "killing what is gone is fine")

	again := attach(t, local.WithDir(dir), local.WithName("old"))
	require.Equal(t, sandagent.Created, again.Outcome(), "the name was released")
	st, err = other.State(ctx)
	require.NoError(t, err)
	require.Equal(t, sandagent.StateRunning, st, "other labels are left alone")
}
