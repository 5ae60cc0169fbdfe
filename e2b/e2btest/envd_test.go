//go:build unix

package e2btest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem/filesystemconnect"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
	"github.com/sandagent/sandagent/e2b/internal/envd/process/processconnect"
)

func processClient(s *e2btest.Server, c created, opts ...connect.ClientOption) processconnect.ProcessClient {
	return processconnect.NewProcessClient(envdHTTP(c), s.URL, opts...)
}

func bash(cmd string) *process.ProcessConfig {
	return &process.ProcessConfig{Cmd: "/bin/bash", Args: []string{"-l", "-c", cmd}}
}

// events collects a process stream: the pid, stdout, stderr, keepalives
// and the end, and the stream's error.
type events struct {
	pid            uint32
	stdout, stderr string
	data           int
	keepalives     int
	afterData      int // keepalives after the first data event
	end            *process.ProcessEvent_EndEvent
	err            error
}

func collect[T interface{ GetEvent() *process.ProcessEvent }](s interface {
	Receive() bool
	Msg() T
	Err() error
}) events {
	var ev events
	for s.Receive() {
		switch e := s.Msg().GetEvent().GetEvent().(type) {
		case *process.ProcessEvent_Start:
			ev.pid = e.Start.GetPid()
		case *process.ProcessEvent_Data:
			ev.data++
			ev.stdout += string(e.Data.GetStdout())
			ev.stderr += string(e.Data.GetStderr())
		case *process.ProcessEvent_Keepalive:
			ev.keepalives++
			if ev.data > 0 {
				ev.afterData++
			}
		case *process.ProcessEvent_End:
			ev.end = e.End
		}
	}
	ev.err = s.Err()
	return ev
}

func run(t *testing.T, pc processconnect.ProcessClient, req *process.StartRequest) events {
	t.Helper()
	stream, err := pc.Start(context.Background(), connect.NewRequest(req))
	require.NoError(t, err)
	defer stream.Close()
	return collect[*process.StartResponse](stream)
}

// inSandbox runs script in c's sandbox, in its home, and returns its
// output: the sandbox's files are not the host's.
func inSandbox(t *testing.T, s *e2btest.Server, c created, script string) string {
	t.Helper()
	ev := run(t, processClient(s, c), &process.StartRequest{Process: bash(script)})
	require.NoError(t, ev.err)
	require.NotNil(t, ev.end)
	require.Equal(t, int32(0), ev.end.GetExitCode(), ev.stderr)
	return ev.stdout
}

func TestExecAllProtocols(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"secure": true})
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(h2c.CloseIdleConnections)
	grpc := processconnect.NewProcessClient(&http.Client{Transport: envdTransport{id: c.SandboxID, token: c.EnvdAccessToken, base: h2c}}, s.URL, connect.WithGRPC())
	for name, pc := range map[string]processconnect.ProcessClient{
		"connect+json":  processClient(s, c, connect.WithProtoJSON()),
		"connect+proto": processClient(s, c),
		"grpc-web":      processClient(s, c, connect.WithGRPCWeb()),
		"grpc":          grpc,
	} {
		t.Run(name, func(t *testing.T) {
			ev := run(t, pc, &process.StartRequest{Process: bash("echo out; echo err >&2; exit 3")})
			require.NoError(t, ev.err)
			assert.NotZero(t, ev.pid)
			assert.Equal(t, "out\n", ev.stdout)
			assert.Equal(t, "err\n", ev.stderr)
			assert.Equal(t, int32(3), ev.end.GetExitCode())
			assert.True(t, ev.end.GetExited())
			assert.Equal(t, "exit status 3", ev.end.GetStatus())
			assert.Equal(t, "exit status 3", ev.end.GetError())
		})
	}
	ev := run(t, processClient(s, c), &process.StartRequest{Process: bash("true")})
	assert.Nil(t, ev.end.Error, "no error on success")
}

func TestExecEnvCwd(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"envVars": map[string]string{"A": "sandbox", "B": "sandbox"}})
	pc := processClient(s, c)
	cfg := bash(`echo "$PWD|$HOME|$USER|$A|$B"`)
	cfg.Envs = map[string]string{"B": "request"}
	ev := run(t, pc, &process.StartRequest{Process: cfg})
	h := home(s, c.SandboxID)
	assert.Equal(t, fmt.Sprintf("%s|%s|user|sandbox|request\n", h, h), ev.stdout)

	run(t, pc, &process.StartRequest{Process: bash("mkdir sub")})
	cfg = bash("pwd")
	cfg.Cwd = new(string)
	*cfg.Cwd = "sub"
	assert.Equal(t, h+"/sub\n", run(t, pc, &process.StartRequest{Process: cfg}).stdout)

	*cfg.Cwd = "nope"
	stream, err := pc.Start(context.Background(), connect.NewRequest(&process.StartRequest{Process: cfg}))
	require.NoError(t, err)
	ev = collect[*process.StartResponse](stream)
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(ev.err))
	assert.ErrorContains(t, ev.err, fmt.Sprintf("cwd '%s/nope' does not exist", h))
}

func TestStdinSignalsConnect(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)
	ctx := context.Background()

	stream, err := pc.Start(ctx, connect.NewRequest(&process.StartRequest{Process: bash("cat"), Tag: new(string)}))
	require.NoError(t, err)
	defer stream.Close()
	require.True(t, stream.Receive())
	pid := stream.Msg().GetEvent().GetStart().GetPid()
	require.NotZero(t, pid)

	list, err := pc.List(ctx, connect.NewRequest(&process.ListRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Processes, 1)
	assert.Equal(t, pid, list.Msg.Processes[0].Pid)
	assert.Equal(t, "/bin/bash", list.Msg.Processes[0].Config.Cmd)

	// A second subscriber by tag sees the same output.
	conn, err := pc.Connect(ctx, connect.NewRequest(&process.ConnectRequest{Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Tag{Tag: ""}}}))
	require.NoError(t, err)
	defer conn.Close()
	require.True(t, conn.Receive())
	assert.Equal(t, pid, conn.Msg().GetEvent().GetStart().GetPid())

	sel := &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: pid}}
	_, err = pc.SendInput(ctx, connect.NewRequest(&process.SendInputRequest{Process: sel, Input: &process.ProcessInput{Input: &process.ProcessInput_Stdin{Stdin: []byte("one\n")}}}))
	require.NoError(t, err)
	in := pc.StreamInput(ctx)
	require.NoError(t, in.Send(&process.StreamInputRequest{Event: &process.StreamInputRequest_Start{Start: &process.StreamInputRequest_StartEvent{Process: sel}}}))
	require.NoError(t, in.Send(&process.StreamInputRequest{Event: &process.StreamInputRequest_Data{Data: &process.StreamInputRequest_DataEvent{Input: &process.ProcessInput{Input: &process.ProcessInput_Stdin{Stdin: []byte("two\n")}}}}}))
	_, err = in.CloseAndReceive()
	require.NoError(t, err)
	_, err = pc.CloseStdin(ctx, connect.NewRequest(&process.CloseStdinRequest{Process: sel}))
	require.NoError(t, err)

	for _, ev := range []events{collect[*process.StartResponse](stream), collect[*process.ConnectResponse](conn)} {
		require.NoError(t, ev.err)
		assert.Equal(t, "one\ntwo\n", ev.stdout)
		assert.Equal(t, int32(0), ev.end.GetExitCode())
	}

	// Late Connect: the exit is kept; signals to it are not_found.
	late, err := pc.Connect(ctx, connect.NewRequest(&process.ConnectRequest{Process: sel}))
	require.NoError(t, err)
	ev := collect[*process.ConnectResponse](late)
	assert.Equal(t, "exit status 0", ev.end.GetStatus())
	_, err = pc.SendSignal(ctx, connect.NewRequest(&process.SendSignalRequest{Process: sel, Signal: process.Signal_SIGNAL_SIGKILL}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	assert.ErrorContains(t, err, fmt.Sprintf("process with pid %d not found", pid))

	// SIGTERM ends a running process.
	stream2, err := pc.Start(ctx, connect.NewRequest(&process.StartRequest{Process: &process.ProcessConfig{Cmd: "sleep", Args: []string{"30"}}}))
	require.NoError(t, err)
	defer stream2.Close()
	require.True(t, stream2.Receive())
	sel = &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: stream2.Msg().GetEvent().GetStart().GetPid()}}
	_, err = pc.SendSignal(ctx, connect.NewRequest(&process.SendSignalRequest{Process: sel, Signal: process.Signal_SIGNAL_SIGTERM}))
	require.NoError(t, err)
	ev = collect[*process.StartResponse](stream2)
	assert.Equal(t, int32(-1), ev.end.GetExitCode())
	assert.False(t, ev.end.GetExited())
	assert.Equal(t, "signal: terminated", ev.end.GetStatus())
}

func TestProcessTimeoutAndKeepalive(t *testing.T) {
	s := start(t, e2btest.WithKeepaliveInterval(20*time.Millisecond))
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)

	ev := run(t, pc, &process.StartRequest{Process: bash("sleep 0.3; echo done")})
	assert.Equal(t, "done\n", ev.stdout)
	assert.Positive(t, ev.keepalives)

	// Connect-Timeout-Ms (set by the client from the deadline) kills the process.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	stream, err := pc.Start(ctx, connect.NewRequest(&process.StartRequest{Process: &process.ProcessConfig{Cmd: "sleep", Args: []string{"30"}}}))
	require.NoError(t, err)
	require.True(t, stream.Receive())
	pid := stream.Msg().GetEvent().GetStart().GetPid()
	ev = collect[*process.StartResponse](stream)
	require.Error(t, ev.err)
	late, err := pc.Connect(context.Background(), connect.NewRequest(&process.ConnectRequest{Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: pid}}}))
	require.NoError(t, err)
	ev = collect[*process.ConnectResponse](late)
	assert.Equal(t, "signal: killed", ev.end.GetStatus())
}

func TestCutStreams(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	s.CutStreams(2)
	ev := run(t, processClient(s, c, connect.WithProtoJSON()), &process.StartRequest{Process: bash("for i in 1 2 3 4 5; do echo $i; sleep 0.05; done")})
	require.Error(t, ev.err)
	assert.Equal(t, 2, ev.data)
	assert.Nil(t, ev.end)
	ev = run(t, processClient(s, c), &process.StartRequest{Process: bash("echo ok")})
	require.NoError(t, ev.err, "only the next stream is cut")
}

func TestProcessErrors(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)
	ctx := context.Background()
	_, err := pc.SendSignal(ctx, connect.NewRequest(&process.SendSignalRequest{Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: 999999}}, Signal: process.Signal_SIGNAL_SIGKILL}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	assert.EqualError(t, err, "not_found: process with pid 999999 not found")

	req := connect.NewRequest(&process.StartRequest{Process: bash("true")})
	req.Header().Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("mallory:")))
	stream, err := pc.Start(ctx, req)
	require.NoError(t, err)
	ev := collect[*process.StartResponse](stream)
	assert.EqualError(t, ev.err, "unauthenticated: invalid username: 'mallory'")
}

// upload posts content as a multipart "file" part to /files?path=p.
func upload(t *testing.T, client *http.Client, base, p string, content []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", p)
	require.NoError(t, err)
	_, _ = fw.Write(content)
	require.NoError(t, mw.Close())
	resp, err := client.Post(base+"/files?path="+url.QueryEscape(p), mw.FormDataContentType(), &body)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func download(t *testing.T, client *http.Client, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := client.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

func TestFilesRoundTrip(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	client := envdHTTP(c)
	h := home(s, c.SandboxID)
	blob := bytes.Repeat([]byte{0, 1, 2, 0xff, '\r', '\n', 0x80}, 50000)

	status, body := upload(t, client, s.URL, "data/blob.bin", blob)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, fmt.Sprintf(`[{"path":"%s/data/blob.bin","name":"blob.bin","type":"file"}]`, h), body)
	status, hdr, got := download(t, client, s.URL+"/files?path=data/blob.bin")
	require.Equal(t, http.StatusOK, status)
	assert.True(t, bytes.Equal(blob, got), "binary-safe")
	assert.Equal(t, "inline; filename=blob.bin", hdr.Get("Content-Disposition"))
	req, _ := http.NewRequest("GET", s.URL+"/files?path=data/blob.bin", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"), "envd compresses when asked")

	// Raw body upload to "~/…"; the commands see the file.
	resp, err = client.Post(s.URL+"/files?path="+url.QueryEscape("~/raw.bin"), "application/octet-stream", bytes.NewReader(blob[:1000]))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ev := run(t, processClient(s, c), &process.StartRequest{Process: bash("wc -c < raw.bin; wc -c < data/blob.bin")})
	assert.Equal(t, fmt.Sprintf("1000\n%d\n", len(blob)), ev.stdout)

	status, _, got = download(t, client, s.URL+"/files?path=missing")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, fmt.Sprintf(`{"code":404,"message":"path '%s/missing' does not exist"}`, h), strings.TrimSpace(string(got)))
	status, _, got = download(t, client, s.URL+"/files?path=data")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, fmt.Sprintf(`{"code":400,"message":"path '%s/data' is a directory"}`, h), strings.TrimSpace(string(got)))
}

func TestFilesystemRPC(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	fc := filesystemconnect.NewFilesystemClient(envdHTTP(c), s.URL, connect.WithProtoJSON())
	ctx := context.Background()
	h := home(s, c.SandboxID)

	mk, err := fc.MakeDir(ctx, connect.NewRequest(&filesystem.MakeDirRequest{Path: "a/b"}))
	require.NoError(t, err)
	assert.Equal(t, filesystem.FileType_FILE_TYPE_DIRECTORY, mk.Msg.Entry.Type)
	assert.Equal(t, h+"/a/b", mk.Msg.Entry.Path)
	_, err = fc.MakeDir(ctx, connect.NewRequest(&filesystem.MakeDirRequest{Path: "a/b"}))
	assert.Equal(t, connect.CodeAlreadyExists, connect.CodeOf(err))

	run(t, processClient(s, c), &process.StartRequest{Process: bash("printf 12345 > a/b/f.txt")})
	st, err := fc.Stat(ctx, connect.NewRequest(&filesystem.StatRequest{Path: "~/a/b/f.txt"}))
	require.NoError(t, err)
	assert.Equal(t, filesystem.FileType_FILE_TYPE_FILE, st.Msg.Entry.Type)
	assert.Equal(t, int64(5), st.Msg.Entry.Size)
	assert.Equal(t, "-rw-r--r--", st.Msg.Entry.Permissions)
	assert.Equal(t, uint32(0o644), st.Msg.Entry.Mode)

	ls, err := fc.ListDir(ctx, connect.NewRequest(&filesystem.ListDirRequest{Path: "a"}))
	require.NoError(t, err)
	require.Len(t, ls.Msg.Entries, 1)
	ls, err = fc.ListDir(ctx, connect.NewRequest(&filesystem.ListDirRequest{Path: "a", Depth: 2}))
	require.NoError(t, err)
	require.Len(t, ls.Msg.Entries, 2)
	assert.Equal(t, h+"/a/b/f.txt", ls.Msg.Entries[1].Path)
	_, err = fc.ListDir(ctx, connect.NewRequest(&filesystem.ListDirRequest{Path: "a/b/f.txt"}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))

	mv, err := fc.Move(ctx, connect.NewRequest(&filesystem.MoveRequest{Source: "a/b/f.txt", Destination: "c/g.txt"}))
	require.NoError(t, err)
	assert.Equal(t, h+"/c/g.txt", mv.Msg.Entry.Path)
	_, err = fc.Move(ctx, connect.NewRequest(&filesystem.MoveRequest{Source: "a/b/f.txt", Destination: "x"}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))

	for range 2 {
		_, err = fc.Remove(ctx, connect.NewRequest(&filesystem.RemoveRequest{Path: "c"}))
		require.NoError(t, err, "removing what is missing is no error")
	}
	_, err = fc.Stat(ctx, connect.NewRequest(&filesystem.StatRequest{Path: "c/g.txt"}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	_, err = fc.Stat(ctx, connect.NewRequest(&filesystem.StatRequest{Path: "/etc/passwd"}))
	assert.NoError(t, err, "the sandbox's own /etc")
	_, err = fc.CreateWatcher(ctx, connect.NewRequest(&filesystem.CreateWatcherRequest{Path: "a"}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err))
}

func TestSecureSandbox(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{"secure": true, "timeout": 600})
	noToken := c
	noToken.EnvdAccessToken = ""

	// RPCs need the token: 401 with envd's JSON body.
	_, err := processClient(s, noToken).List(context.Background(), connect.NewRequest(&process.ListRequest{}))
	assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
	req, _ := http.NewRequest("POST", s.URL+"/process.Process/List", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := envdHTTP(noToken).Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `{"code":401,"message":"unauthorized access, please provide a valid access token or method signing if supported"}`, strings.TrimSpace(string(b)))
	_, err = processClient(s, c).List(context.Background(), connect.NewRequest(&process.ListRequest{}))
	require.NoError(t, err)

	// Health is open; files want the token or a signature.
	status, _, _ := download(t, envdHTTP(noToken), s.URL+"/health")
	assert.Equal(t, http.StatusNoContent, status)
	status, body := upload(t, envdHTTP(c), s.URL, "f.txt", []byte("secret"))
	require.Equal(t, http.StatusOK, status, body)
	status, _, b = download(t, envdHTTP(noToken), s.URL+"/files?path=f.txt")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, `{"code":401,"message":"missing signature query parameter"}`, strings.TrimSpace(string(b)))
	sign := func(raw string) string {
		sum := sha256.Sum256([]byte(raw))
		return "v1_" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	exp := s.Clock.Now().Add(time.Minute).Unix()
	u := fmt.Sprintf("%s/files?path=f.txt&signature=%s&signature_expiration=%d", s.URL, url.QueryEscape(sign(fmt.Sprintf("f.txt:read::%s:%d", c.EnvdAccessToken, exp))), exp)
	status, _, b = download(t, envdHTTP(noToken), u)
	assert.Equal(t, http.StatusOK, status, string(b))
	assert.Equal(t, "secret", string(b))
	s.Clock.Advance(2 * time.Minute)
	status, _, b = download(t, envdHTTP(noToken), u)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, string(b), "signature is already expired")
}

func TestPausedSandboxKeepsProcessesAndFiles(t *testing.T) {
	s := start(t)
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)
	stream, err := pc.Start(context.Background(), connect.NewRequest(&process.StartRequest{Process: bash("read x; echo got $x")}))
	require.NoError(t, err)
	defer stream.Close()
	require.True(t, stream.Receive())
	pid := stream.Msg().GetEvent().GetStart().GetPid()

	status, _, _ := call(t, s, "POST", "/sandboxes/"+c.SandboxID+"/pause", nil)
	require.Equal(t, http.StatusNoContent, status)
	_, err = pc.List(context.Background(), connect.NewRequest(&process.ListRequest{}))
	assert.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "502 from the proxy")
	status, _, _ = call(t, s, "POST", "/sandboxes/"+c.SandboxID+"/connect", map[string]any{"timeout": 60})
	require.Equal(t, http.StatusCreated, status)
	list, err := pc.List(context.Background(), connect.NewRequest(&process.ListRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Processes, 1)
	assert.Equal(t, pid, list.Msg.Processes[0].Pid, "the process survived the pause")
	_, err = pc.SendSignal(context.Background(), connect.NewRequest(&process.SendSignalRequest{
		Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: pid}}, Signal: process.Signal_SIGNAL_SIGKILL}))
	require.NoError(t, err)
	ev := collect[*process.StartResponse](stream)
	assert.Equal(t, "signal: killed", ev.end.GetStatus())
	assert.False(t, errors.Is(ev.err, io.EOF))
}
