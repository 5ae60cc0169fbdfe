//go:build unix

package daytonatest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/daytona/daytonatest"
)

// box is one emulated sandbox, driven over HTTP as a client would.
type box struct {
	t    *testing.T
	srv  *daytonatest.Server
	id   string
	tb   string // the toolbox base URL
	work string // the work directory's real path
}

func newBox(t *testing.T, opts ...daytonatest.Option) *box {
	t.Helper()
	srv := daytonatest.NewServer(opts...)
	t.Cleanup(srv.Close)
	b := &box{t: t, srv: srv}
	status, body := b.call(http.MethodPost, srv.URL+"/sandbox", `{}`, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var sb struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &sb))
	b.id, b.tb = sb.ID, srv.ToolboxURL()+"/"+sb.ID
	var wd struct{ Dir string }
	_, body = b.toolbox(http.MethodGet, "/work-dir", "")
	require.NoError(t, json.Unmarshal(body, &wd))
	b.work = wd.Dir
	return b
}

func (b *box) call(method, url, body string, hdr map[string]string) (int, []byte) {
	b.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, url, r)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+b.srv.APIKey())
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, out
}

func (b *box) toolbox(method, path, body string) (int, []byte) {
	b.t.Helper()
	return b.call(method, b.tb+path, body, map[string]string{"X-Daytona-SDK-Version": "0.218.0"})
}

func (b *box) session() string {
	b.t.Helper()
	id := "s-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	status, body := b.toolbox(http.MethodPost, "/process/session", `{"sessionId":"`+id+`"}`)
	require.Equal(b.t, http.StatusCreated, status, "%s", body)
	return id
}

type execResult struct {
	CmdID    string  `json:"cmdId"`
	ExitCode *int    `json:"exitCode"`
	Stdout   *string `json:"stdout"`
	Stderr   *string `json:"stderr"`
}

func (b *box) exec(ses, command string, async bool, extra ...string) execResult {
	b.t.Helper()
	req := map[string]any{"command": command, "runAsync": async}
	for _, e := range extra {
		req[e] = true
	}
	body, _ := json.Marshal(req)
	status, out := b.toolbox(http.MethodPost, "/process/session/"+ses+"/exec", string(body))
	want := http.StatusOK
	if async {
		want = http.StatusAccepted
	}
	require.Equal(b.t, want, status, "%s", out)
	var res execResult
	require.NoError(b.t, json.Unmarshal(out, &res))
	return res
}

// command reads a command's exit code (nil while it runs) and its stdout.
func (b *box) command(ses, cmd string) (*int, string) {
	b.t.Helper()
	_, body := b.toolbox(http.MethodGet, "/process/session/"+ses+"/command/"+cmd, "")
	var c struct{ ExitCode *int }
	require.NoError(b.t, json.Unmarshal(body, &c))
	_, body = b.toolbox(http.MethodGet, "/process/session/"+ses+"/command/"+cmd+"/logs", "")
	var logs struct{ Stdout string }
	require.NoError(b.t, json.Unmarshal(body, &logs))
	return c.ExitCode, logs.Stdout
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A session is one shell that sources its commands: cd and exports carry
// over, as on the daemon.
func TestSessionSourcesCommands(t *testing.T) {
	b := newBox(t)
	ses := b.session()
	require.Equal(t, 0, *b.exec(ses, "mkdir -p sub && cd sub && export GREETING=hi", false).ExitCode)
	res := b.exec(ses, `pwd; echo "$GREETING"; echo oops >&2; exit_code_is_kept() { return 3; }; exit_code_is_kept`, false)
	require.Equal(t, 3, *res.ExitCode)
	require.Equal(t, filepath.Join(b.work, "sub")+"\nhi\n", *res.Stdout)
	require.Equal(t, "oops\n", *res.Stderr)
}

// A sync command reads end of file on stdin at once.
func TestSyncCommandStdinIsAtEOF(t *testing.T) {
	b := newBox(t)
	res := b.exec(b.session(), "cat; echo done", false)
	require.Equal(t, "done\n", *res.Stdout)
}

// Async commands of one session run one after another: the second starts
// when the first ends.
func TestAsyncCommandsRunInOrder(t *testing.T) {
	b := newBox(t)
	ses := b.session()
	first := b.exec(ses, "while [ ! -f go ]; do sleep 0.01; done; echo first >> order", true)
	second := b.exec(ses, "echo second >> order", true)
	code, _ := b.command(ses, second.CmdID)
	require.Nil(t, code, "the second command waits for the first")
	_, err := os.Stat(filepath.Join(b.work, "order"))
	require.True(t, os.IsNotExist(err), "the second command has not run")
	require.NoError(t, os.WriteFile(filepath.Join(b.work, "go"), nil, 0o644))
	for _, id := range []string{first.CmdID, second.CmdID} {
		waitFor(t, "the command's end", func() bool { c, _ := b.command(ses, id); return c != nil })
		code, _ = b.command(ses, id)
		require.Equal(t, 0, *code)
	}
	got, err := os.ReadFile(filepath.Join(b.work, "order"))
	require.NoError(t, err)
	require.Equal(t, "first\nsecond\n", string(got))
}

// An async command's stdin is a pipe the daemon never closes: input gains
// a newline, is echoed into the log unless suppressed, and the command
// never sees end of file; input to an ended command is 410 Gone.
func TestAsyncStdinIsHeldOpen(t *testing.T) {
	b := newBox(t)
	ses := b.session()
	echoed := b.exec(ses, `read line; echo "got:$line"`, true)
	status, body := b.toolbox(http.MethodPost, "/process/session/"+ses+"/command/"+echoed.CmdID+"/input", `{"data":"hi"}`)
	require.Equal(t, http.StatusNoContent, status, "%s", body)
	waitFor(t, "the command's end", func() bool { c, _ := b.command(ses, echoed.CmdID); return c != nil })
	_, out := b.command(ses, echoed.CmdID)
	// The daemon writes the input, then echoes it: the command may answer
	// first.
	require.ElementsMatch(t, []string{"hi", "got:hi", ""}, strings.Split(out, "\n"), "the input is echoed as stdout")
	status, _ = b.toolbox(http.MethodPost, "/process/session/"+ses+"/command/"+echoed.CmdID+"/input", `{"data":"late"}`)
	require.Equal(t, http.StatusGone, status)

	held := b.exec(ses, "cat; echo never", true, "suppressInputEcho")
	status, _ = b.toolbox(http.MethodPost, "/process/session/"+ses+"/command/"+held.CmdID+"/input", `{"data":"x"}`)
	require.Equal(t, http.StatusNoContent, status)
	waitFor(t, "cat's output", func() bool { _, out := b.command(ses, held.CmdID); return out == "x\n" })
	code, _ := b.command(ses, held.CmdID)
	require.Nil(t, code, "cat is still reading: its stdin never ends")
	status, _ = b.toolbox(http.MethodDelete, "/process/session/"+ses, "")
	require.Equal(t, http.StatusNoContent, status)
}

// Deleting a session sends SIGTERM to its processes, then SIGKILL once the
// grace period has passed on the Clock.
func TestDeleteSessionTermsThenKills(t *testing.T) {
	b := newBox(t)
	b.srv.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ses := b.session()
	b.exec(ses, `sh -c 'trap "echo term > got-term" TERM; echo $$ > pid; while :; do sleep 0.01; done'`, true)
	waitFor(t, "the pid file", func() bool { b, err := os.ReadFile(filepath.Join(b.work, "pid")); return err == nil && len(b) > 0 })
	raw, err := os.ReadFile(filepath.Join(b.work, "pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)

	deleted := make(chan int, 1)
	go func() {
		status, _ := b.toolbox(http.MethodDelete, "/process/session/"+ses, "")
		deleted <- status
	}()
	waitFor(t, "SIGTERM", func() bool { _, err := os.Stat(filepath.Join(b.work, "got-term")); return err == nil })
	select {
	case <-deleted:
		t.Fatal("the delete ended before the grace period")
	default:
	}
	require.NoError(t, syscall.Kill(pid, 0), "a process that traps SIGTERM lives through the grace period")
	b.srv.Clock.Advance(5 * time.Second)
	require.Equal(t, http.StatusNoContent, <-deleted)
	st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.Error(t, syscall.Kill(pid, 0), "SIGKILL after the grace period: %s", st)
}

// /process/execute answers 408 when its timeout passes on the Clock, and
// kills the command.
func TestExecuteTimeoutIs408(t *testing.T) {
	b := newBox(t)
	b.srv.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	type answer struct {
		status int
		body   []byte
	}
	answered := make(chan answer, 1)
	go func() {
		status, body := b.toolbox(http.MethodPost, "/process/execute", `{"command":"sh -c 'echo $$ > pid; exec sleep 60'","timeout":2}`)
		answered <- answer{status, body}
	}()
	waitFor(t, "the pid file", func() bool { b, err := os.ReadFile(filepath.Join(b.work, "pid")); return err == nil && len(b) > 0 })
	// The clock moves until the answer comes: the handler may start its
	// timer after the command has written its pid.
	var got answer
	for waiting := true; waiting; {
		b.srv.Clock.Advance(time.Second)
		select {
		case got = <-answered:
			waiting = false
		case <-time.After(10 * time.Millisecond):
		}
	}
	require.Equal(t, http.StatusRequestTimeout, got.status)
	require.Contains(t, string(got.body), "REQUEST_TIMEOUT")
	raw, err := os.ReadFile(filepath.Join(b.work, "pid"))
	require.NoError(t, err)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	waitFor(t, "the command's end", func() bool { return syscall.Kill(pid, 0) != nil })
}

// Uploads truncate an existing file in place: its mode stays.
func TestUploadKeepsMode(t *testing.T) {
	b := newBox(t)
	p := filepath.Join(b.work, "tool.sh")
	require.NoError(t, os.WriteFile(p, []byte("old"), 0o750))
	for _, route := range []string{"/files/upload?path=tool.sh", "/files/bulk-upload"} {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		field := "file"
		if route == "/files/bulk-upload" {
			require.NoError(t, mw.WriteField("files[0].path", "tool.sh"))
			field = "files[0].file"
		}
		fw, err := mw.CreateFormFile(field, "tool.sh")
		require.NoError(t, err)
		_, _ = fw.Write([]byte("new " + route))
		require.NoError(t, mw.Close())
		status, body := b.call(http.MethodPost, b.tb+route, buf.String(), map[string]string{"Content-Type": mw.FormDataContentType()})
		require.Equal(t, http.StatusOK, status, "%s", body)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o750), fi.Mode().Perm(), route)
		got, _ := os.ReadFile(p)
		require.Equal(t, "new "+route, string(got))
	}
}

// File errors are a status with an empty body, as the daemon's.
func TestFileErrorsHaveEmptyBodies(t *testing.T) {
	b := newBox(t)
	require.NoError(t, os.Mkdir(filepath.Join(b.work, "dir"), 0o755))
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/files/info?path=missing", http.StatusNotFound},
		{http.MethodGet, "/files?path=missing", http.StatusNotFound},
		{http.MethodGet, "/files/download?path=missing", http.StatusNotFound},
		{http.MethodGet, "/files/download?path=dir", http.StatusBadRequest},
		{http.MethodDelete, "/files?path=dir", http.StatusBadRequest},
		{http.MethodDelete, "/files?path=missing", http.StatusNotFound},
	} {
		status, body := b.toolbox(tc.method, tc.path, "")
		require.Equal(t, tc.status, status, "%s %s", tc.method, tc.path)
		require.Empty(t, body, "%s %s", tc.method, tc.path)
	}
}

// The log websocket sends the labelled log in messages of at most 1,024
// bytes, cut anywhere, and closes normally once the command has ended.
func TestLogWebsocketFrames(t *testing.T) {
	b := newBox(t)
	ses := b.session()
	cmd := b.exec(ses, "head -c 5000 /dev/zero | tr '\\0' x; echo; echo err >&2", true)
	url := "ws" + strings.TrimPrefix(b.tb, "http") + "/process/session/" + ses + "/command/" + cmd.CmdID + "/logs?follow=true"
	ws, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: http.Header{
		"Authorization": {"Bearer " + b.srv.APIKey()}, "X-Daytona-Split-Output": {"true"},
	}})
	require.NoError(t, err)
	defer ws.CloseNow()
	var log []byte
	for {
		typ, msg, err := ws.Read(t.Context())
		if err != nil {
			require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "%v", err)
			break
		}
		require.Equal(t, websocket.MessageBinary, typ)
		require.LessOrEqual(t, len(msg), 1024)
		log = append(log, msg...)
	}
	want := "\x01\x01\x01" + strings.Repeat("x", 5000) + "\n"
	require.Contains(t, string(log), want)
	require.Contains(t, string(log), "\x02\x02\x02err\n")
	require.Len(t, log, len(want)+len("\x02\x02\x02err\n"))
	code, _ := b.command(ses, cmd.CmdID)
	require.Equal(t, 0, *code, "the stream closes after the exit code is known")
}

// Listed sandboxes carry every field the newest API schema requires, and
// the toolbox proxy URL can be asked for.
func TestListItemsAndToolboxProxyURL(t *testing.T) {
	b := newBox(t)
	_, body := b.call(http.MethodGet, b.srv.URL+"/sandbox", "", nil)
	var list struct{ Items []map[string]any }
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Items, 1)
	for _, f := range []string{"id", "organizationId", "name", "target", "user", "public", "networkBlockAll", "cpu", "gpu", "memory", "disk", "labels", "toolboxProxyUrl"} {
		require.Contains(t, list.Items[0], f)
	}
	status, body := b.call(http.MethodGet, b.srv.URL+"/sandbox/"+b.id+"/toolbox-proxy-url", "", nil)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"url":"`+b.srv.ToolboxURL()+`"}`, string(body))
}
