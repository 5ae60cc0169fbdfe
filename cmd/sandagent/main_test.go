package main

import (
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
)

// TestMain doubles as the command itself, so tests can run it as a
// subprocess exactly as a user would.
func TestMain(m *testing.M) {
	if os.Getenv("SANDAGENT_TEST_BE_CLI") == "1" {
		main()
	}
	goleak.VerifyTestMain(m)
}

// cli runs the command in a subprocess and returns its output and status.
func cli(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "SANDAGENT_TEST_BE_CLI=1"), env...)
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

	out, _, code = cli(t, env, "piped input", "exec", "--", "cat")
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
	var stderr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"help"}, nil, nil, &stderr))
	require.Contains(t, stderr.String(), "Exit status")
	require.Equal(t, 1, run(context.Background(), []string{"attach", "--url", "nosuch://x"}, nil, nil, &stderr))
}
