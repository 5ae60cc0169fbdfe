//go:build unix

package sandbasetest_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// alive reports whether pid is a live (not zombie) process.
func alive(pid string) bool { return procState(pid) != "" && procState(pid) != "Z" }

// procState is the state letter of pid in /proc ("" when gone).
func procState(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func TestExec(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	path := "/sandboxes/" + sb.SandboxID + "/processes"
	work := c.workdir(sb.SandboxID)

	// cmd is a program and args its arguments, with no shell between.
	var res execResult
	c.call("POST", path, map[string]any{"cmd": "echo", "args": []string{"a b", "$HOME", "*"}}, 200, &res)
	require.Equal(t, execResult{ProcessID: res.ProcessID, Stdout: "a b $HOME *\n"}, res)
	_, err := strconv.Atoi(res.ProcessID)
	require.NoError(t, err, "processID is the native process id")
	c.fails("POST", path, map[string]any{"cmd": "echo hello"}, 502, `failed to run command: program "echo hello" not found in the sandbox's PATH`)

	// Separate streams; a non-zero exit is still 200.
	require.Equal(t, -1, c.sh(sb.SandboxID, "kill -9 $$").ExitCode, "killed by a signal")
	res = c.sh(sb.SandboxID, "echo out; echo err >&2; exit 3")
	require.Equal(t, "out\n", res.Stdout)
	require.Equal(t, "err\n", res.Stderr)
	require.Equal(t, 3, res.ExitCode)

	// The default cwd is the work tree /workspace and /home/user stand for.
	require.Equal(t, work+"\n", c.sh(sb.SandboxID, "pwd").Stdout)
	require.Equal(t, work+"\n", c.sh(sb.SandboxID, "echo $HOME").Stdout)
	c.sh(sb.SandboxID, "mkdir -p sub/dir")
	for _, cwd := range []string{"/workspace/sub", "/home/user/sub", "sub", work + "/sub"} {
		c.call("POST", path, map[string]any{"cmd": "pwd", "cwd": cwd}, 200, &res)
		require.Equal(t, filepath.Join(work, "sub")+"\n", res.Stdout, cwd)
	}
	c.fails("POST", path, map[string]any{"cmd": "pwd", "cwd": "/etc"}, 400, `path "/etc" is outside the sandbox's directory `+work+" (the sandbox is confined to a directory of the host: it has no filesystem root of its own)")
	resp, b := c.request("POST", path, map[string]any{"cmd": "pwd", "cwd": "/workspace/missing"})
	require.Equal(t, 502, resp.StatusCode, "%s", b)

	// Per-command environment variables.
	c.call("POST", path, map[string]any{"cmd": "sh", "args": []string{"-c", "echo $A"}, "envVars": map[string]string{"A": "1"}}, 200, &res)
	require.Equal(t, "1\n", res.Stdout)

	c.fails("POST", path, map[string]any{"args": []string{"x"}}, 400, "cmd is required")
	c.fails("POST", path, map[string]any{"cmd": "true", "timeout": -5}, 400, "timeout must be greater than 0")
}

func TestExecTimeout(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	start := time.Now()
	c.fails("POST", "/sandboxes/"+sb.SandboxID+"/processes",
		map[string]any{"cmd": "sh", "args": []string{"-c", "echo $$ > pid; exec sleep 30"}, "timeout": 1},
		502, "command timed out after 1s")
	require.Less(t, time.Since(start), 10*time.Second)
	pid := trim(c.sh(sb.SandboxID, "cat pid").Stdout)
	eventually(t, func() bool { return !alive(pid) }, "the timed-out command to be killed")
}

// TestExecEndsWithTheRequest: a client that hangs up kills its command.
func TestExecEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	work := c.workdir(sb.SandboxID)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		body := strings.NewReader(`{"cmd":"sh","args":["-c","echo $$ > pid; exec sleep 600"]}`)
		req, _ := http.NewRequestWithContext(ctx, "POST", c.srv.URL+"/sandboxes/"+sb.SandboxID+"/processes", body)
		req.Header.Set("X-API-Key", c.srv.APIKey())
		resp, err := c.hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	var pid string
	eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(work, "pid"))
		pid = trim(string(b))
		return err == nil && pid != ""
	}, "the command to start")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	eventually(t, func() bool { return !alive(pid) }, "the command to be killed")
}

// TestPauseKeepsMemory: a process started before pause is stopped while
// paused and continues after resume with its in-memory counter intact.
func TestPauseKeepsMemory(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	id := "/sandboxes/" + sb.SandboxID
	work := c.workdir(sb.SandboxID)

	// exec is synchronous: the loop goes to the background (nohup, output
	// redirected) so the call returns. It stays in the command's process
	// group, which is what pause stops (setsid would take it out).
	c.sh(sb.SandboxID, `nohup sh -c 'echo $$ > pid; i=0; while :; do i=$((i+1)); echo $i > count.tmp; mv count.tmp count; sleep 0.01; done' >/dev/null 2>&1 &`)
	count := func() int {
		b, err := os.ReadFile(filepath.Join(work, "count"))
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(trim(string(b)))
		return n
	}
	eventually(t, func() bool { return count() >= 10 }, "the counter to run")
	pid := trim(c.sh(sb.SandboxID, "cat pid").Stdout)

	c.call("POST", id+"/pause", nil, 204, nil)
	// Pause stops every process; the stop of a member other than the group
	// leader may land just after the request returns.
	// "D": the loop's shell waits, in the kernel, on a child it vforked that
	// the pause stopped; it runs no code of its own until resumed either.
	eventually(t, func() bool { st := procState(pid); return st == "T" || st == "D" }, "the process to be stopped, not killed")
	// Read on the host: the API does not serve files of a paused sandbox.
	paused := count()
	time.Sleep(50 * time.Millisecond) // the loop counts every 10ms when running
	require.Equal(t, paused, count(), "the counter does not move while paused")
	c.fails("POST", id+"/processes", map[string]any{"cmd": "cat", "args": []string{"count"}}, 409, "sandbox is paused")

	c.call("POST", id+"/connect", nil, 201, nil)
	require.GreaterOrEqual(t, count(), paused, "the counter continues from where it was")
	eventually(t, func() bool { return count() > paused+5 }, "the counter to continue")
	require.Equal(t, pid, trim(c.sh(sb.SandboxID, "cat pid").Stdout), "the same process")
	require.Equal(t, "alive\n", c.sh(sb.SandboxID, "kill -0 "+pid+" && echo alive").Stdout)
	n, err := strconv.Atoi(trim(c.sh(sb.SandboxID, "cat count").Stdout))
	require.NoError(t, err)
	require.Greater(t, n, paused, "the in-memory counter was not reset")
}

func TestRuntimeEndpoints(t *testing.T) {
	t.Parallel()
	c := start(t)
	c.srv.Clock.Set(time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC))
	sb := c.create(map[string]any{"envVars": map[string]string{"MY_VAR": "v"}})
	id := "/sandboxes/" + sb.SandboxID
	work := c.workdir(sb.SandboxID)

	resp, b := c.request("GET", id+"/health", nil)
	require.Equal(t, 204, resp.StatusCode)
	require.Empty(t, b)

	var env map[string]string
	c.call("GET", id+"/envs", nil, 200, &env)
	require.Equal(t, "v", env["MY_VAR"])
	require.Equal(t, work, env["HOME"])
	require.NotEmpty(t, env["PATH"])

	c.sh(sb.SandboxID, "head -c 1000 /dev/zero > f")
	var m map[string]float64
	c.call("GET", id+"/metrics", nil, 200, &m)
	for _, k := range []string{"ts", "cpu_count", "cpu_used_pct", "mem_total", "mem_used", "mem_cache", "mem_total_mib", "mem_used_mib", "disk_total", "disk_used"} {
		require.Contains(t, m, k)
	}
	require.Len(t, m, 10)
	require.EqualValues(t, c.srv.Clock.Now().Unix(), m["ts"])
	require.EqualValues(t, 2, m["cpu_count"])
	require.EqualValues(t, 1000, m["disk_used"])
}
