package sandboxtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// lineWatcher is a Writer that reports when a line has been written.
type lineWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newLineWatcher(want string) *lineWatcher {
	return &lineWatcher{want: want, seen: make(chan struct{})}
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want+"\n") {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// waitSeen waits for the watched line, failing t if the process ends or
// the deadline passes first.
func waitSeen(t *testing.T, w *lineWatcher, p *sandagent.Process, timeout time.Duration) {
	t.Helper()
	select {
	case <-w.seen:
	case <-p.Done():
		res, err := p.Wait()
		t.Fatalf("process ended before printing %q: %v (result %+v)", w.want, err, res)
	case <-time.After(timeout):
		t.Fatalf("no %q within %s", w.want, timeout)
	}
}

// requireGone checks, from inside the sandbox, that the process whose pid
// is in pidFile no longer runs.
func (s *suite) requireGone(t *testing.T, h *sandagent.Handle, pidFile string) {
	t.Helper()
	res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: `kill -0 "$(cat ` + pidFile + `)" 2>/dev/null && echo alive || echo gone`})
	require.NoError(t, err)
	require.Equal(t, "gone\n", string(res.Stdout), "the command's process must be killed")
}

func (s *suite) testExec(t *testing.T) {
	h := s.fresh(t)

	t.Run("SeparateStdoutStderr", func(t *testing.T) {
		t.Parallel()
		var out, errb bytes.Buffer
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: "printf out; printf err >&2", Stdout: &out, Stderr: &errb})
		require.NoError(t, err)
		require.Equal(t, 0, res.ExitCode)
		require.Equal(t, "out", string(res.Stdout))
		require.Equal(t, "err", string(res.Stderr))
		require.Equal(t, "out", out.String())
		require.Equal(t, "err", errb.String())
		require.Positive(t, res.Duration)
	})

	t.Run("SameWriterForBoth", func(t *testing.T) {
		t.Parallel()
		var both bytes.Buffer // not safe for concurrent use: the Handle serializes
		_, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: "for i in 1 2 3 4 5; do echo o$i; echo e$i >&2; done", Stdout: &both, Stderr: &both})
		require.NoError(t, err)
		require.Len(t, strings.Fields(both.String()), 10)
	})

	t.Run("LiveOutput", func(t *testing.T) {
		s.need(t, LiveOutput)
		t.Parallel()
		dir := "live-" + uniqueName()
		require.NoError(t, h.MakeDir(s.ctx(t), dir))
		out, errw := newLineWatcher("first"), newLineWatcher("warn")
		p, err := h.Start(s.ctx(t), &sandagent.Cmd{
			Dir:    dir,
			Shell:  "echo first; echo warn >&2; while [ ! -f go.flag ]; do sleep 0.05; done; echo second",
			Stdout: out, Stderr: errw,
		})
		require.NoError(t, err)
		waitSeen(t, out, p, 30*time.Second) // the command is still waiting for go.flag
		waitSeen(t, errw, p, 30*time.Second)
		require.NoError(t, h.WriteFile(s.ctx(t), path.Join(dir, "go.flag"), nil))
		res, err := p.Wait()
		require.NoError(t, err)
		require.Equal(t, "first\nsecond\n", string(res.Stdout))
		require.Equal(t, "warn\n", string(res.Stderr))
	})

	t.Run("ExitCode", func(t *testing.T) {
		t.Parallel()
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: "echo bad >&2; exit 7"})
		var ee *sandagent.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 7, ee.ExitCode)
		require.Equal(t, 7, res.ExitCode)
		require.Equal(t, "bad\n", string(ee.Stderr))
		require.Equal(t, "exit status 7", err.Error())
	})

	t.Run("ArgsWithoutShell", func(t *testing.T) {
		t.Parallel()
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Args: []string{"printf", "%s|", "a b", "$HOME;*", `"'`}})
		require.NoError(t, err)
		require.Equal(t, `a b|$HOME;*|"'|`, string(res.Stdout))
	})

	t.Run("MissingProgram", func(t *testing.T) {
		t.Parallel()
		// One outcome everywhere: the shell's exit 127, which matches
		// ErrNotFound, with a message on stderr.
		for _, c := range []*sandagent.Cmd{
			{Args: []string{"sandagent-no-such-program", "arg"}},
			{Shell: "sandagent-no-such-program arg"},
		} {
			res, err := h.Exec(s.ctx(t), c)
			var ee *sandagent.ExitError
			require.ErrorAs(t, err, &ee, "%s", c)
			require.ErrorIs(t, err, sandagent.ErrNotFound)
			require.Equal(t, 127, res.ExitCode)
			require.Same(t, res, ee.Result)
			require.Contains(t, string(res.Stderr), "sandagent-no-such-program")
		}
	})

	t.Run("Dir", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		dir := "sub-" + uniqueName() + "/inner"
		require.NoError(t, h.MakeDir(ctx, dir))
		res, err := h.Exec(ctx, &sandagent.Cmd{Shell: "pwd", Dir: dir})
		require.NoError(t, err)
		require.Equal(t, path.Join(h.Workdir(), dir)+"\n", string(res.Stdout))

		res, err = h.Exec(ctx, &sandagent.Cmd{Args: []string{"pwd"}, Dir: path.Join(h.Workdir(), dir)})
		require.NoError(t, err)
		require.Equal(t, path.Join(h.Workdir(), dir)+"\n", string(res.Stdout))

		res, err = h.Exec(ctx, &sandagent.Cmd{Shell: "pwd"})
		require.NoError(t, err)
		require.Equal(t, h.Workdir()+"\n", string(res.Stdout), "the default Dir is Workdir")
	})

	t.Run("Env", func(t *testing.T) {
		t.Parallel()
		val := `a b 'c' "d" $e`
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Args: []string{"printenv", "SANDAGENT_TEST"}, Env: map[string]string{"SANDAGENT_TEST": val}})
		require.NoError(t, err)
		require.Equal(t, val+"\n", string(res.Stdout))
	})

	t.Run("TimeoutKills", func(t *testing.T) {
		t.Parallel()
		pid := "timeout-" + uniqueName() + ".pid"
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: "echo $$ > " + pid + "; exec sleep 60", Timeout: 500 * time.Millisecond})
		require.ErrorIs(t, err, sandagent.ErrTimeout)
		require.NotNil(t, res, "a timed-out command still has a Result")
		require.Less(t, res.Duration, 50*time.Second)
		s.requireGone(t, h, pid)
	})

	t.Run("CancelKills", func(t *testing.T) {
		t.Parallel()
		pid := "cancel-" + uniqueName() + ".pid"
		ctx, cancel := context.WithCancel(s.ctx(t))
		defer cancel()
		w := newLineWatcher("ready")
		p, err := h.Start(ctx, &sandagent.Cmd{Shell: "echo $$ > " + pid + "; echo ready; exec sleep 60", Stdout: w})
		require.NoError(t, err)
		if _, lacks := s.f.Lacks[LiveOutput]; !lacks {
			waitSeen(t, w, p, 30*time.Second)
		} else {
			s.waitFile(t, h, pid)
		}
		cancel()
		_, err = p.Wait()
		require.ErrorIs(t, err, context.Canceled)
		s.requireGone(t, h, pid)
	})

	t.Run("KillsTree", func(t *testing.T) {
		t.Parallel()
		// A timeout and a cancelled ctx end the command's children too: a
		// background job and both sides of a pipeline.
		for _, cancelled := range []bool{false, true} {
			name := "tree-" + uniqueName()
			line := "sleep 60 & echo $! > " + name + ".bg; sleep 60 | (echo $(exec sh -c 'echo $PPID') > " + name + ".pipe; cat); wait"
			ctx, cancel := context.WithCancel(s.ctx(t))
			c := &sandagent.Cmd{Shell: line}
			if !cancelled {
				c.Timeout = time.Second
			}
			p, err := h.Start(ctx, c)
			require.NoError(t, err)
			s.waitFile(t, h, name+".bg")
			s.waitFile(t, h, name+".pipe")
			if cancelled {
				cancel()
			}
			_, err = p.Wait()
			cancel()
			require.Error(t, err)
			for _, f := range []string{name + ".bg", name + ".pipe"} {
				res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: `p=$(cat ` + f + `); i=0
while [ $i -lt 100 ]; do st=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ] && break; sleep 0.05; i=$((i+1)); done
[ -z "$st" ] || [ "$st" = Z ] && echo gone || echo alive`})
				require.NoError(t, err)
				require.Equal(t, "gone\n", string(res.Stdout), "%s (cancelled: %v): the command's children must be killed", f, cancelled)
			}
		}
	})

	t.Run("Stdin", func(t *testing.T) {
		s.need(t, Stdin)
		t.Parallel()
		big := make([]byte, 256<<10)
		_, _ = rand.Read(big)
		in := base64.StdEncoding.EncodeToString(big)
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Args: []string{"wc", "-c"}, Stdin: strings.NewReader(in)})
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(len(in)), strings.TrimSpace(string(res.Stdout)))

		// An interactive stdin: write, read the echo, then close.
		r, wr := io.Pipe()
		out := newLineWatcher("hello")
		p, err := h.Start(s.ctx(t), &sandagent.Cmd{Args: []string{"cat"}, Stdin: r, Stdout: out})
		require.NoError(t, err)
		_, err = wr.Write([]byte("hello\n"))
		require.NoError(t, err)
		if _, lacks := s.f.Lacks[LiveOutput]; !lacks {
			waitSeen(t, out, p, 30*time.Second)
		}
		require.NoError(t, wr.Close())
		res, err = p.Wait()
		require.NoError(t, err)
		require.Equal(t, "hello\n", string(res.Stdout))
	})

	t.Run("NoStdinMeansEOF", func(t *testing.T) {
		t.Parallel()
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Args: []string{"cat"}})
		require.NoError(t, err)
		require.Empty(t, res.Stdout)
	})

	t.Run("Signal", func(t *testing.T) {
		s.need(t, Signal)
		t.Parallel()
		pid := "signal-" + uniqueName() + ".pid"
		p, err := h.Start(s.ctx(t), &sandagent.Cmd{Shell: "echo $$ > " + pid + "; exec sleep 60"})
		require.NoError(t, err)
		s.waitFile(t, h, pid)
		require.NoError(t, p.Signal(s.ctx(t), syscall.SIGTERM))
		res, err := p.Wait()
		var ee *sandagent.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, -1, res.ExitCode, "killed by a signal")
		require.ErrorIs(t, p.Signal(s.ctx(t), os.Kill), sandagent.ErrNotFound, "signalling an exited process")
	})

	t.Run("InvalidCmd", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		for _, c := range []*sandagent.Cmd{
			nil,
			{},
			{Args: []string{"echo"}, Shell: "echo"},
			{Args: []string{""}},
			{Shell: "echo", Timeout: -time.Second},
			{Args: []string{"echo", "a\x00b"}},
			{Shell: "echo", Env: map[string]string{"A=B": "c"}},
		} {
			_, err := h.Exec(ctx, c)
			require.ErrorIs(t, err, sandagent.ErrInvalid, "%+v", c)
		}
	})

	t.Run("BinaryOutput", func(t *testing.T) {
		s.need(t, BinaryOutput)
		t.Parallel()
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: `printf 'ok\377\376\303'; printf '\377' >&2`})
		require.NoError(t, err)
		require.Equal(t, "ok\xff\xfe\xc3", string(res.Stdout))
		require.Equal(t, "\xff", string(res.Stderr))
	})

	t.Run("HugeEnv", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{}
		for i := range 10_000 {
			env[fmt.Sprintf("VAR_%05d", i)] = "value"
		}
		o := Options{Env: env}
		if _, lacks := s.f.Lacks[NameReuse]; !lacks {
			o.Name = uniqueName()
		}
		he := s.attach(t, o)
		ctx := s.ctx(t)
		res, err := he.Exec(ctx, &sandagent.Cmd{Shell: `echo "$VAR_09999"; env | grep -c ^VAR_`})
		require.NoError(t, err, "10,000 variables at create")
		require.Equal(t, "value\n10000\n", string(res.Stdout))
		res, err = he.Exec(ctx, &sandagent.Cmd{Shell: `echo "$VAR_09999"`, Env: env})
		require.NoError(t, err, "10,000 variables on one command")
		require.Equal(t, "value\n", string(res.Stdout))
	})

	t.Run("LargeOutput", func(t *testing.T) {
		t.Parallel()
		var n countWriter
		res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: "head -c 3000000 /dev/zero", Stdout: &n})
		require.NoError(t, err)
		require.Equal(t, int64(3000000), n.n)
		require.Len(t, res.Stdout, 3000000)
	})
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// waitFile waits until a command has written path, by asking the sandbox.
func (s *suite) waitFile(t *testing.T, h *sandagent.Handle, name string) {
	t.Helper()
	res, err := h.Exec(s.ctx(t), &sandagent.Cmd{Shell: `i=0; while [ ! -s "` + name + `" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; test -s "` + name + `"`})
	require.NoError(t, err, "waiting for %s: %+v", name, res)
}
