//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

func TestURLAndFork(t *testing.T) {
	url := "local://cli-caps?dir=" + t.TempDir()
	out, errOut, code := cli(t, nil, "", "url", "--url", url, "8123")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "http://127.0.0.1:8123\n", out)
	_, errOut, code = cli(t, nil, "", "url", "--url", url, "http")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "not a number")
	_, errOut, code = cli(t, nil, "", "url", "--url", url, "0")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "between 1 and 65535")

	_, errOut, code = cli(t, nil, "", "exec", "--url", url, "--", "sh", "-c", "echo kept > f.txt")
	require.Equal(t, 0, code, errOut)
	out, errOut, code = cli(t, nil, "", "fork", "--url", url, "-n", "2")
	require.Equal(t, 0, code, errOut)
	ids := strings.Fields(out)
	require.Len(t, ids, 2)
	for _, id := range ids {
		h, err := sandagent.Open(t.Context(), strings.Replace(url, "cli-caps?", "?id="+id+"&", 1))
		require.NoError(t, err)
		got, err := h.ReadFile(t.Context(), "f.txt")
		require.NoError(t, err)
		require.Equal(t, "kept\n", string(got))
		require.NoError(t, h.Destroy(t.Context()))
	}
}

func TestPTYWithoutATerminal(t *testing.T) {
	url := "local://?dir=" + t.TempDir()
	out, errOut, code := cli(t, nil, "echo typed\nexit 3\n", "pty", "--url", url)
	require.Equal(t, 3, code, errOut)
	require.Contains(t, out, "typed")
	out, errOut, code = cli(t, nil, "", "pty", "--url", url, "--", "sh", "-c", "tty; stty size")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `/dev/pts/\d+\r?\n24 80`, out, "the default size without a terminal")
}

// The command on a real terminal: raw mode meanwhile, the window's size,
// resizes followed, and the terminal's mode restored at exit.
func TestPTYOnATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 90}))
	mode := func() string {
		c := exec.Command("stty", "-g")
		c.Stdin = tty
		b, err := c.Output()
		require.NoError(t, err)
		return string(b)
	}
	before := mode()

	cmd := exec.Command(os.Args[0], "pty", "--url", "local://?dir="+t.TempDir(), "--", "sh", "-c", "stty size; read x; stty size; exit 4")
	cmd.Env = append(childEnv(), "SANDAGENT_TEST_BE_CLI=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true} // its window, its SIGWINCH
	require.NoError(t, cmd.Start())

	var mu sync.Mutex
	var shown bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		b := make([]byte, 1024)
		for {
			n, err := ptmx.Read(b)
			mu.Lock()
			shown.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(want string) {
		t.Helper()
		// Polls what the reader collected, for a minute at most.
		deadline := time.Now().Add(time.Minute)
		for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
			mu.Lock()
			s := shown.String()
			mu.Unlock()
			if strings.Contains(s, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q not shown; the terminal shows %q", want, s)
			}
			time.Sleep(delay)
		}
	}
	waitFor("30 90")
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 120}))
	// Raw mode here: the Enter key is a bare "\r", which the sandbox's
	// terminal turns into a newline.
	_, err = ptmx.Write([]byte("go\r"))
	require.NoError(t, err)
	waitFor("50 120")
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 4, ee.ExitCode())
	require.Equal(t, before, mode(), "the terminal's mode is restored")
	// The reader ends with EIO once no one has the terminal open.
	tty.Close()
	<-readDone
	ptmx.Close()
}
