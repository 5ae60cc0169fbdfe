package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent/driver"
)

// TestMain doubles as the command itself, so tests can run it as a
// subprocess exactly as a user would.
func TestMain(m *testing.M) {
	if os.Getenv("SANDAGENT_TEST_BE_CLI") == "1" {
		main()
	}
	// The emulators list a sandbox as soon as it exists, unless a test
	// sets a list lag (and a convergence window of its own).
	os.Setenv(driver.ConvergenceWindowEnv, "0")
	goleak.VerifyTestMain(m)
}

// cli runs the command in a subprocess and returns its output and status.
func cli(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(childEnv(), "SANDAGENT_TEST_BE_CLI=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// childEnv is the environment of a subprocess: this one's, with no pause at
// exit when built with -race (the race runtime waits a second by default).
func childEnv() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

func TestEndToEndLocal(t *testing.T) {
	dir := t.TempDir()
	url := "local://cli-test?dir=" + dir
	env := []string{"SANDAGENT_URL=" + url}

	out, errOut, code := cli(t, nil, "", "attach", "--json", "--url", url)
	require.Equal(t, 0, code, errOut)
	var info map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	require.Equal(t, "created", info["outcome"])
	require.Equal(t, "local", info["provider"])

	out, _, code = cli(t, env, "", "attach")
	require.Equal(t, 0, code)
	require.Contains(t, out, "\treused\t")

	out, errOut, code = cli(t, env, "", "exec", "-e", "WHO=cli", "--", "sh", "-c", `echo "hi $WHO"; echo oops >&2; exit 3`)
	require.Equal(t, 3, code, "exec exits with the command's status")
	require.Equal(t, "hi cli\n", out)
	require.Equal(t, "oops\n", errOut)

	out, _, code = cli(t, env, "piped input", "exec", "-i", "--", "cat")
	require.Equal(t, 0, code)
	require.Equal(t, "piped input", out)

	_, errOut, code = cli(t, env, "", "exec", "--timeout", "100ms", "--", "sleep", "10")
	require.Equal(t, 124, code, errOut)

	src := filepath.Join(t.TempDir(), "in.bin")
	require.NoError(t, os.WriteFile(src, []byte{0, 1, 2, 255}, 0o644))
	_, errOut, code = cli(t, env, "", "cp", src, ":copied/in.bin")
	require.Equal(t, 0, code, errOut)
	dst := filepath.Join(t.TempDir(), "out.bin")
	_, errOut, code = cli(t, env, "", "cp", ":copied/in.bin", dst)
	require.Equal(t, 0, code, errOut)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 2, 255}, got)

	_, _, code = cli(t, env, "", "pause")
	require.Equal(t, 0, code)
	out, _, _ = cli(t, env, "", "attach")
	require.Contains(t, out, "\tresumed\t")
	_, _, code = cli(t, env, "", "stop")
	require.Equal(t, 0, code)
	out, _, _ = cli(t, env, "", "attach")
	require.Contains(t, out, "\tstarted\t")
	_, _, code = cli(t, env, "", "kill")
	require.Equal(t, 0, code)
	out, _, _ = cli(t, env, "", "attach")
	require.Contains(t, out, "\tcreated\t", "kill destroyed it")
	cli(t, env, "", "kill")
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"bogus", "--url", "local://x"},
		{"attach"},
		{"exec", "--url", "local://x"},
		{"cp", "--url", "local://x", "a", "b"},
		{"attach", "--no-such-flag"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		require.Equal(t, 2, code, "%v: %s", args, stderr.String())
		require.NotEmpty(t, stderr.String())
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"help"}, nil, &stdout, &stderr))
	require.Contains(t, stdout.String(), "Exit status", "help is asked for: it goes to stdout")
	require.Empty(t, stderr.String())
	require.Equal(t, 1, run(context.Background(), []string{"attach", "--url", "nosuch://x"}, nil, nil, &stderr))
}

// TestCommandHelp: each command's -h shows its own flags, on stdout; an
// unknown command is bad usage, whatever else is given.
func TestCommandHelp(t *testing.T) {
	for cmd, want := range map[string][]string{
		"exec":    {"-timeout", "-dir", "-e NAME=VALUE", "-url"},
		"reap":    {"-apply", "-older-than", "-label"},
		"kill":    {"-url"},
		"emulate": {"-addr"},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, run(context.Background(), []string{cmd, "-h"}, nil, &stdout, &stderr), cmd)
		for _, w := range want {
			require.Contains(t, stdout.String(), w, cmd)
		}
		require.Empty(t, stderr.String(), cmd)
		if cmd != "reap" {
			require.NotContains(t, stdout.String(), "-apply", "%s -h lists only its own flags", cmd)
		}
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run(context.Background(), []string{"bogus"}, nil, &stdout, &stderr))
	require.Contains(t, stderr.String(), `unknown command "bogus"`)
	require.NotContains(t, stderr.String(), "give --url")
}

func TestListAndReapLocal(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SANDAGENT_URL=local://?dir=" + dir}
	for _, name := range []string{"one", "two"} {
		_, errOut, code := cli(t, nil, "", "attach", "--url", "local://"+name+"?dir="+dir)
		require.Equal(t, 0, code, errOut)
	}
	out, errOut, code := cli(t, env, "", "ls")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "ID")
	require.Contains(t, out, "one")
	require.Contains(t, out, "two")

	out, _, code = cli(t, env, "", "ls", "--json")
	require.Equal(t, 0, code)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2)

	out, errOut, code = cli(t, env, "", "reap")
	require.Equal(t, 0, code)
	require.Contains(t, errOut, "dry run")
	require.Contains(t, out, "one")
	out, _, _ = cli(t, env, "", "ls")
	require.Contains(t, out, "one", "a dry run destroys nothing")

	_, _, code = cli(t, env, "", "reap", "--older-than", "1h", "--apply")
	require.Equal(t, 0, code)
	out, _, _ = cli(t, env, "", "ls")
	require.Contains(t, out, "one", "too young to reap")

	_, _, code = cli(t, env, "", "reap", "--apply")
	require.Equal(t, 0, code)
	out, _, _ = cli(t, env, "", "ls", "--json")
	require.Empty(t, strings.TrimSpace(out))
}

// TestEmulate serves each emulator from the command and drives it with the
// command, as a user would: the printed environment is all it takes.
func TestEmulate(t *testing.T) {
	for _, provider := range []string{"e2b", "sandbase", "daytona", "sandock"} {
		t.Run(provider, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "emulate", provider, "--addr", "127.0.0.1:0")
			cmd.Env = append(childEnv(), "SANDAGENT_TEST_BE_CLI=1")
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() {
				_ = cmd.Process.Signal(os.Interrupt)
				_ = cmd.Wait()
			})
			r := bufio.NewReader(stdout)
			first, err := r.ReadString('\n')
			require.NoError(t, err)
			require.Contains(t, first, provider+" emulator listening on http://127.0.0.1:")
			export, err := r.ReadString('\n')
			require.NoError(t, err)
			env := strings.Fields(strings.TrimPrefix(strings.TrimSpace(export), "export "))

			url := provider + "://cli-emulate"
			if provider == "sandock" { // sandock has no names: a new sandbox each time
				url = "sandock://"
			}
			out, errOut, code := cli(t, env, "", "exec", "--url", url, "--", "sh", "-c", "echo hi from $0")
			require.Equal(t, 0, code, errOut)
			require.Equal(t, "hi from sh\n", out)
		})
	}
}
