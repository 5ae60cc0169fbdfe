//go:build linux

package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSignalsKillTheRemoteCommand: SIGINT and SIGTERM (what systemd,
// container runtimes and CI send) both kill the command in the sandbox,
// and sandagent exits 130 or 143 once it is gone.
func TestSignalsKillTheRemoteCommand(t *testing.T) {
	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143} {
		t.Run(sig.String(), func(t *testing.T) {
			url := "local://sig?dir=" + t.TempDir()
			marker := "1000." + strconv.Itoa(int(sig)) + strconv.Itoa(os.Getpid()) // a sleep no one else runs
			cmd := exec.Command(os.Args[0], "exec", "--url", url, "--", "sh", "-c", "echo ready; exec sleep "+marker)
			cmd.Env = append(childEnv(), "SANDAGENT_TEST_BE_CLI=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "ready\n", line)
			require.NotEmpty(t, running(t, marker), "the remote command runs")

			require.NoError(t, cmd.Process.Signal(sig))
			err = cmd.Wait()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
			require.Equal(t, want, ee.ExitCode(), "stderr: %s", stderr.String())
			require.Empty(t, running(t, marker), "the remote command is gone when sandagent exits")
			cli(t, nil, "", "kill", "--url", url)
		})
	}
}

// running returns the pids of processes whose command line holds marker.
func running(t *testing.T, marker string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	var pids []string
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(marker)) && !bytes.Contains(b, []byte("sh\x00-c")) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// TestLookupCommandsNeverCreate: pause, stop and kill only look up the
// sandbox: a name that does not exist is an error, and no create is sent.
func TestLookupCommandsNeverCreate(t *testing.T) {
	env, _, requests := startEmulator(t, "e2b")
	for _, op := range []string{"kill", "pause", "stop"} {
		_, errOut, code := cli(t, env, "", op, "--url", "e2b://typo")
		require.Equal(t, 1, code, op)
		require.Equal(t, "sandagent: no sandbox named typo\n", errOut, op)
	}
	creates := func() int { return countExact(requests.Requests(), createRequest["e2b"]) }
	require.Zero(t, creates(), "no create: %v", requests.Requests())

	// A sandbox that exists is found and acted on.
	_, errOut, code := cli(t, env, "", "attach", "--url", "e2b://real")
	require.Equal(t, 0, code, errOut)
	_, errOut, code = cli(t, env, "", "pause", "--url", "e2b://real")
	require.Equal(t, 0, code, errOut)
	_, errOut, code = cli(t, env, "", "kill", "--url", "e2b://real")
	require.Equal(t, 0, code, errOut)
	_, errOut, code = cli(t, env, "", "kill", "--url", "e2b://real")
	require.Equal(t, 1, code, "gone: %s", errOut)
	require.Equal(t, 1, creates(), "the one attach created: %v", requests.Requests())
}

// TestUnnamedLeavesNothing: exec and cp on a URL that names no sandbox
// destroy the one they created when they end; a missing program exits 127
// with one error prefix; reap --apply says what it destroyed.
func TestUnnamedLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	url := "local://?dir=" + dir
	out, errOut, code := cli(t, nil, "", "exec", "--url", url, "--", "echo", "hi")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "hi\n", out)
	_, errOut, code = cli(t, nil, "", "exec", "--url", url, "--", "no-such-program")
	require.Equal(t, 127, code, errOut)
	require.Contains(t, errOut, "no-such-program", "the shell's message, as a sandbox prints it")
	require.LessOrEqual(t, strings.Count(errOut, "sandagent:"), 1, "one prefix at most: %s", errOut)
	src := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(src, []byte("x"), 0o644))
	_, errOut, code = cli(t, nil, "", "cp", "--url", url, src, ":f")
	require.Equal(t, 0, code, errOut)
	out, errOut, code = cli(t, nil, "", "ls", "--json", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out, "nothing left behind")

	_, errOut, code = cli(t, nil, "", "attach", "--url", "local://kept?dir="+dir)
	require.Equal(t, 0, code, errOut)
	out, errOut, code = cli(t, nil, "", "reap", "--apply", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^destroyed \S+\tkept\n$`, out)
	require.Equal(t, "1 destroyed\n", errOut)
}
