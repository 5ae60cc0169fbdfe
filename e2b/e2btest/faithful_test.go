//go:build unix

package e2btest_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem/filesystemconnect"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
)

// The tests of this file check, point by point, that the emulator starts and
// ends processes as envd 0.6.13 does (e2b-dev/infra,
// packages/envd/internal/services/process).

// A missing program is no Start error: envd's sh wrapper execs it, fails,
// and the process ends with the shell's 127 and message.
func TestEnvdMissingProgramIsExit127(t *testing.T) {
	s := start(t)
	pc := processClient(s, create(t, s, map[string]any{}))
	ev := run(t, pc, &process.StartRequest{Process: &process.ProcessConfig{Cmd: "sandagent-no-such-program", Args: []string{"x"}}})
	require.NoError(t, ev.err)
	assert.NotZero(t, ev.pid)
	assert.Equal(t, int32(127), ev.end.GetExitCode())
	assert.Equal(t, "exit status 127", ev.end.GetStatus())
	assert.Contains(t, ev.stderr, "sandagent-no-such-program")
	assert.Contains(t, ev.stderr, "not found")
}

// The environment is built from scratch: envd's PATH, the user's HOME, USER
// and LOGNAME, E2B_SANDBOX, E2B_SANDBOX_ID, E2B_TEMPLATE_ID, the create's
// envVars and the request's envs, nothing else.
func TestEnvdEnvironmentFromScratch(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"envVars": map[string]string{"A": "sandbox", "B": "sandbox"}})
	pc := processClient(s, c)
	ev := run(t, pc, &process.StartRequest{Process: &process.ProcessConfig{Cmd: "env", Envs: map[string]string{"B": "request"}}})
	require.NoError(t, ev.err)
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(ev.stdout), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range env {
			if !yield(k) {
				return
			}
		}
	})
	// PWD is the wrapper shell's (dash exports it), on envd too.
	assert.Equal(t, []string{"A", "B", "E2B_SANDBOX", "E2B_SANDBOX_ID", "E2B_TEMPLATE_ID", "HOME", "LOGNAME", "PATH", "PWD", "USER"}, keys,
		"no SHELL, LANG or marker of the emulator's own")
	assert.Equal(t, "true", env["E2B_SANDBOX"])
	assert.Equal(t, c.SandboxID, env["E2B_SANDBOX_ID"])
	assert.Equal(t, "base", env["E2B_TEMPLATE_ID"])
	assert.Equal(t, "user", env["USER"])
	assert.Equal(t, "user", env["LOGNAME"])
	assert.Equal(t, home(s, c.SandboxID), env["HOME"])
	assert.Equal(t, "sandbox", env["A"])
	assert.Equal(t, "request", env["B"])

	// The user of the Authorization header.
	req := connect.NewRequest(&process.StartRequest{Process: bash(`echo "$USER $LOGNAME"`)})
	req.Header().Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("root:")))
	stream, err := pc.Start(context.Background(), req)
	require.NoError(t, err)
	ev = collect[*process.StartResponse](stream)
	require.NoError(t, ev.err)
	assert.Equal(t, "root root\n", ev.stdout)
}

// A relative cwd is relative to the user's home.
func TestEnvdRelativeCwdIsHome(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)
	h := home(s, c.SandboxID)
	inSandbox(t, s, c, "mkdir -p rel/dir")
	cwd := "rel/dir"
	ev := run(t, pc, &process.StartRequest{Process: &process.ProcessConfig{Cmd: "pwd", Cwd: &cwd}})
	require.NoError(t, ev.err)
	assert.Equal(t, h+"/rel/dir\n", ev.stdout)
}

// End waits for the output pipes to close: a background child that holds
// them delays it, and its output is delivered.
func TestEnvdEndAfterPipesClose(t *testing.T) {
	s := start(t)
	pc := processClient(s, create(t, s, map[string]any{}))
	ev := run(t, pc, &process.StartRequest{Process: bash(`(sleep 0.2; echo late) & echo early`)})
	require.NoError(t, ev.err)
	assert.Equal(t, "early\nlate\n", ev.stdout)
	assert.Equal(t, int32(0), ev.end.GetExitCode())
}

// SendSignal signals the pid alone; End follows its exit at once, though a
// child still holds the pipes, and the child lives on.
func TestEnvdSignalReachesThePIDOnly(t *testing.T) {
	for _, sig := range []process.Signal{process.Signal_SIGNAL_SIGTERM, process.Signal_SIGNAL_SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			s := start(t)
			pc := processClient(s, create(t, s, map[string]any{}))
			stream, err := pc.Start(context.Background(), connect.NewRequest(&process.StartRequest{
				Process: &process.ProcessConfig{Cmd: "/bin/sh", Args: []string{"-c", "sleep 60 & echo $!; wait"}},
			}))
			require.NoError(t, err)
			defer stream.Close()
			var pid uint32
			var out string
			for out == "" || !strings.HasSuffix(out, "\n") {
				require.True(t, stream.Receive(), "%v", stream.Err())
				ev := stream.Msg().GetEvent()
				if st := ev.GetStart(); st != nil {
					pid = st.GetPid()
				}
				out += string(ev.GetData().GetStdout())
			}
			child, err := strconv.Atoi(strings.TrimSpace(out))
			require.NoError(t, err)
			defer syscall.Kill(child, syscall.SIGKILL)

			_, err = pc.SendSignal(context.Background(), connect.NewRequest(&process.SendSignalRequest{
				Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: pid}},
				Signal:  sig,
			}))
			require.NoError(t, err)
			ev := collect[*process.StartResponse](stream)
			require.NoError(t, ev.err)
			require.NotNil(t, ev.end, "End despite the child holding the pipes")
			assert.Equal(t, int32(-1), ev.end.GetExitCode())
			assert.Equal(t, "signal: "+map[process.Signal]string{process.Signal_SIGNAL_SIGTERM: "terminated", process.Signal_SIGNAL_SIGKILL: "killed"}[sig], ev.end.GetStatus())
			require.NoError(t, syscall.Kill(child, 0), "the child lives on")
		})
	}
}

// The request's timeout (Connect-Timeout-Ms) kills the pid alone.
func TestEnvdTimeoutKillsThePIDOnly(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	stream, err := pc.Start(ctx, connect.NewRequest(&process.StartRequest{
		Process: &process.ProcessConfig{Cmd: "/bin/sh", Args: []string{"-c", "sleep 60 & echo $! > child.pid; wait"}},
	}))
	require.NoError(t, err)
	ev := collect[*process.StartResponse](stream)
	_ = stream.Close()
	require.Error(t, ev.err)
	child, err := strconv.Atoi(strings.TrimSpace(inSandbox(t, s, c, "cat child.pid")))
	require.NoError(t, err)
	defer syscall.Kill(child, syscall.SIGKILL)
	// The pid is gone (List shows live processes only), the child is not.
	require.Eventually(t, func() bool {
		list, err := pc.List(context.Background(), connect.NewRequest(&process.ListRequest{}))
		return err == nil && len(list.Msg.GetProcesses()) == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, syscall.Kill(child, 0), fmt.Sprintf("child %d lives on", child))
}

// A symlink is reported with its target's type and permissions, a broken one
// as UNSPECIFIED: envd never sends FILE_TYPE_SYMLINK.
func TestEnvdSymlinkTypes(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	fc := filesystemconnect.NewFilesystemClient(envdHTTP(c), s.URL)
	inSandbox(t, s, c, "printf abc > f && chmod 640 f && mkdir -m 755 d && ln -s f f.link && ln -s d d.link && ln -s nowhere broken.link")
	for name, want := range map[string]struct {
		typ  filesystem.FileType
		mode uint32
	}{
		"f.link":      {filesystem.FileType_FILE_TYPE_FILE, 0o640},
		"d.link":      {filesystem.FileType_FILE_TYPE_DIRECTORY, 0o755},
		"broken.link": {filesystem.FileType_FILE_TYPE_UNSPECIFIED, 0},
	} {
		st, err := fc.Stat(context.Background(), connect.NewRequest(&filesystem.StatRequest{Path: name}))
		require.NoError(t, err)
		assert.Equal(t, want.typ, st.Msg.Entry.GetType(), name)
		assert.Equal(t, want.mode, st.Msg.Entry.GetMode(), name)
		assert.NotEmpty(t, st.Msg.Entry.GetSymlinkTarget(), name)
		assert.True(t, strings.HasPrefix(st.Msg.Entry.GetPermissions(), "L"), name)
	}
	ls, err := fc.ListDir(context.Background(), connect.NewRequest(&filesystem.ListDirRequest{Path: ""}))
	require.NoError(t, err)
	for _, e := range ls.Msg.GetEntries() {
		assert.NotEqual(t, filesystem.FileType_FILE_TYPE_SYMLINK, e.GetType(), e.GetName())
	}
}

// GET /files sniffs the content type when the extension tells none.
func TestEnvdFilesContentSniffed(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	inSandbox(t, s, c, "echo plain words > noext && cp noext page.json")
	for name, want := range map[string]string{"noext": "text/plain; charset=utf-8", "page.json": "application/json"} {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/files?path="+name, nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Encoding", "identity") // gzip: by extension, else octet-stream
		resp, err := envdHTTP(c).Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, want, resp.Header.Get("Content-Type"), name)
	}
}
