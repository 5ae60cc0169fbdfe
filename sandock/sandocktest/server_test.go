//go:build unix

package sandocktest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent/sandock/sandocktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wire is a raw client: it checks the wrapper on every response.
type wire struct {
	t   *testing.T
	srv *sandocktest.Server
	key string
}

type envelope struct {
	Success *bool           `json:"success"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func newWire(t *testing.T, opts ...sandocktest.Option) *wire {
	srv := sandocktest.NewServer(opts...)
	t.Cleanup(srv.Close)
	srv.Clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &wire{t: t, srv: srv, key: srv.APIKey()}
}

func (w *wire) raw(method, path string, body any) *http.Response {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(w.t, err)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(w.t.Context(), method, w.srv.URL+path, r)
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	w.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// do sends a request and returns the status and the unwrapped envelope.
func (w *wire) do(method, path string, body, data any) (int, envelope) {
	w.t.Helper()
	resp := w.raw(method, path, body)
	require.Contains(w.t, resp.Header.Get("Content-Type"), "application/json")
	var env envelope
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&env))
	require.NotNil(w.t, env.Success, "the wrapper has success")
	require.Equal(w.t, resp.StatusCode, env.Code, "code is the HTTP status")
	require.Equal(w.t, resp.StatusCode < 300, *env.Success)
	if *env.Success {
		require.Equal(w.t, "SUCCESS", env.Message)
		if data != nil {
			require.NoError(w.t, json.Unmarshal(env.Data, data))
		}
	} else {
		require.NotEmpty(w.t, env.Message)
		require.Equal(w.t, "null", string(env.Data))
	}
	return resp.StatusCode, env
}

func (w *wire) ok(method, path string, body, data any) {
	w.t.Helper()
	status, env := w.do(method, path, body, data)
	require.Equal(w.t, http.StatusOK, status, env.Message)
}

func (w *wire) status(id string) string {
	var list struct {
		Items []struct{ ID, Status, Image, CreatedAt string } `json:"items"`
	}
	w.ok("GET", "/api/v1/sandbox", nil, &list)
	for _, it := range list.Items {
		if it.ID == id {
			require.NotEmpty(w.t, it.CreatedAt)
			return it.Status
		}
	}
	return ""
}

func (w *wire) create(body map[string]any) string {
	var out struct{ ID string }
	w.ok("POST", "/api/v1/sandbox", body, &out)
	require.True(w.t, strings.HasPrefix(out.ID, "sdb"), out.ID)
	return out.ID
}

func (w *wire) running() string {
	id := w.create(map[string]any{"image": "sandockai/sandock-code:latest"})
	w.ok("POST", "/api/v1/sandbox/"+id+"/start", nil, nil)
	return id
}

func TestAuth(t *testing.T) {
	w := newWire(t, sandocktest.WithAPIKey("k-right"))
	w.key = "k-wrong"
	status, env := w.do("GET", "/api/v1/sandbox", nil, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, env.Message, "Unauthorized")
	w.key = "k-right"
	w.ok("GET", "/api/v1/meta", nil, nil)
	status, _ = w.do("GET", "/api/v1/nothing", nil, nil)
	require.Equal(t, http.StatusNotFound, status)
}

func TestLifecycle(t *testing.T) {
	w := newWire(t)
	id := w.create(nil)
	require.Equal(t, sandocktest.StatusCreating, w.status(id))
	status, _ := w.do("POST", "/api/v1/sandbox/"+id+"/shell", map[string]any{"cmd": "true"}, nil)
	require.Equal(t, http.StatusConflict, status, "no commands before start")

	var started struct {
		ID      string
		Started bool
	}
	w.ok("POST", "/api/v1/sandbox/"+id+"/start", nil, &started)
	require.Equal(t, id, started.ID)
	require.True(t, started.Started)
	require.Equal(t, sandocktest.StatusRunning, w.status(id))
	w.ok("POST", "/api/v1/sandbox/"+id+"/start", nil, &started)
	require.False(t, started.Started, "already running: reused")

	var stopped struct{ Stopped bool }
	w.ok("POST", "/api/v1/sandbox/"+id+"/stop", nil, &stopped)
	require.True(t, stopped.Stopped)
	require.Equal(t, sandocktest.StatusStopped, w.status(id))
	status, env := w.do("POST", "/api/v1/sandbox/"+id+"/shell", map[string]any{"cmd": "true"}, nil)
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, env.Message, "not running")

	var deleted struct{ Deleted bool }
	w.ok("DELETE", "/api/v1/sandbox/"+id, nil, &deleted)
	require.True(t, deleted.Deleted)
	require.Empty(t, w.status(id))
	status, _ = w.do("DELETE", "/api/v1/sandbox/"+id, nil, nil)
	require.Equal(t, http.StatusNotFound, status)

	status, _ = w.do("POST", "/api/v1/sandbox", map[string]any{"activeDeadlineSeconds": 86401}, nil)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestExpiry(t *testing.T) {
	w := newWire(t)
	id := w.running()
	keep := w.create(map[string]any{"autoDeleteInterval": -1, "activeDeadlineSeconds": 60})
	w.ok("POST", "/api/v1/sandbox/"+keep+"/start", nil, nil)

	w.srv.Clock.Advance(1799 * time.Second)
	require.Equal(t, sandocktest.StatusRunning, w.status(id))
	require.Equal(t, sandocktest.StatusStopped, w.status(keep))
	w.srv.Clock.Advance(time.Second)
	require.Equal(t, sandocktest.StatusStopped, w.status(id), "the default deadline is 1800 s")
	w.srv.Clock.Advance(1440*time.Minute - time.Second)
	require.Equal(t, sandocktest.StatusStopped, w.status(id))
	w.srv.Clock.Advance(time.Second)
	require.Empty(t, w.status(id), "auto-deleted 1440 min after it stopped")
	require.Equal(t, sandocktest.StatusStopped, w.status(keep), "autoDeleteInterval -1 keeps it")
}

func TestShell(t *testing.T) {
	w := newWire(t)
	id := w.running()
	var res struct {
		Stdout, Stderr string
		ExitCode       *int
		TimedOut       bool
		DurationMs     float64
	}
	w.ok("POST", "/api/v1/sandbox/"+id+"/shell", map[string]any{
		"cmd": `cat; echo "$X" >&2; pwd; exit 4`, "input": "in\n", "env": map[string]string{"X": "x"}, "workdir": "sub/..",
	}, &res)
	require.Equal(t, 4, *res.ExitCode)
	require.Equal(t, "x\n", res.Stderr)
	lines := strings.Split(res.Stdout, "\n")
	require.Equal(t, "in", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "/"), "pwd is the workdir's absolute path: %q", lines[1])

	w.ok("POST", "/api/v1/sandbox/"+id+"/shell", map[string]any{"cmd": []string{"printf", "%s", "a b"}}, &res)
	require.Equal(t, "a b", res.Stdout)

	w.ok("POST", "/api/v1/sandbox/"+id+"/shell", map[string]any{"cmd": "sleep 5", "timeoutMs": 100}, &res)
	require.True(t, res.TimedOut)
	require.Nil(t, res.ExitCode, "killed: exitCode null")

	status, _ := w.do("POST", "/api/v1/sandbox/"+id+"/shell", map[string]any{"cmd": ""}, nil)
	require.Equal(t, http.StatusBadRequest, status)
}

// events reads an SSE body: every line is "data: …" or blank, and the last
// data line is [DONE].
func events(t *testing.T, body io.Reader) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		require.False(t, done, "nothing after [DONE]")
		data, ok := strings.CutPrefix(line, "data: ")
		require.True(t, ok, "an SSE data line: %q", line)
		if data == "[DONE]" {
			done = true
			continue
		}
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(data), &ev))
		out = append(out, ev)
	}
	require.True(t, done, "the stream ends with [DONE]")
	return out
}

func TestShellStream(t *testing.T) {
	w := newWire(t)
	id := w.running()
	// é split across writes must not become U+FFFD; \377 must.
	resp := w.raw("POST", "/api/v1/sandbox/"+id+"/shell/stream", map[string]any{
		"cmd": `printf 'a\303'; sleep 0.05; printf '\251b'; printf err >&2; printf '\377'; exit 3`,
	})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	evs := events(t, resp.Body)
	var stdout, stderr string
	for _, ev := range evs[:len(evs)-1] {
		switch ev["type"] {
		case "stdout":
			stdout += ev["data"].(string)
		case "stderr":
			stderr += ev["data"].(string)
		default:
			t.Fatalf("unexpected event %v", ev)
		}
	}
	require.Equal(t, "aéb\uFFFD", stdout)
	require.Equal(t, "err", stderr)
	exit := evs[len(evs)-1]
	require.Equal(t, "exit", exit["type"])
	require.Equal(t, float64(3), exit["exitCode"])
	require.Equal(t, false, exit["timedOut"])
	require.Contains(t, exit, "durationMs")

	resp = w.raw("POST", "/api/v1/sandbox/"+id+"/shell/stream", map[string]any{"cmd": "sleep 5", "timeoutMs": 100})
	evs = events(t, resp.Body)
	require.Equal(t, map[string]any{"type": "exit", "exitCode": nil, "timedOut": true, "durationMs": evs[0]["durationMs"]}, evs[0])

	status, _ := w.do("POST", "/api/v1/sandbox/sdbMissing/shell/stream", map[string]any{"cmd": "true"}, nil)
	require.Equal(t, http.StatusNotFound, status, "errors before the stream are wrapped JSON")
}

func TestFiles(t *testing.T) {
	w := newWire(t)
	id := w.running()
	base := "/api/v1/sandbox/" + id
	var ok bool
	w.ok("POST", base+"/fs/write", map[string]any{"path": "src/index.js", "content": "console.log(1)\n", "executable": true}, &ok)
	require.True(t, ok)
	var read struct{ Path, Content string }
	w.ok("GET", base+"/fs/read?path=src/index.js", nil, &read)
	require.Equal(t, "console.log(1)\n", read.Content)
	var list struct {
		Path    string
		Entries []string
	}
	w.ok("GET", base+"/fs/list", nil, &list)
	require.Equal(t, ".", list.Path)
	require.Equal(t, []string{"src"}, list.Entries)

	// Contents are strings: bytes that are not UTF-8 do not survive.
	w.ok("POST", base+"/shell", map[string]any{"cmd": `printf '\377' > bin`}, nil)
	w.ok("GET", base+"/fs/read?path=bin", nil, &read)
	require.Equal(t, "\uFFFD", read.Content)

	w.ok("DELETE", base+"/fs?path="+url.QueryEscape("src"), nil, &ok)
	status, _ := w.do("GET", base+"/fs/read?path=src/index.js", nil, nil)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = w.do("DELETE", base+"/fs?path=src", nil, nil)
	require.Equal(t, http.StatusNotFound, status)
}

type volumeInfo struct {
	ID, Name, Status, StorageType, CreatedAt, UpdatedAt string
	SpaceID                                             *string `json:"spaceId"`
	SizeBytes                                           int64
}

func TestVolumes(t *testing.T) {
	w := newWire(t, sandocktest.WithVolumeDelay(10*time.Second))
	status, _ := w.do("GET", "/api/v1/volume/name/cache", nil, nil)
	require.Equal(t, http.StatusNotFound, status, "without create=true a missing volume is 404")
	var v volumeInfo
	w.ok("GET", "/api/v1/volume/name/cache?create=true", nil, &v)
	require.Equal(t, "pending_create", v.Status)
	require.Equal(t, "ebs", v.StorageType)
	require.Nil(t, v.SpaceID)

	status, env := w.do("POST", "/api/v1/sandbox", map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/workspace/cache"}}}, nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, env.Message, "not ready")

	w.srv.Clock.Advance(10 * time.Second)
	w.ok("GET", "/api/v1/volume/"+v.ID, nil, &v)
	require.Equal(t, "ready", v.Status)

	status, _ = w.do("POST", "/api/v1/sandbox", map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/workspace"}}}, nil)
	require.Equal(t, http.StatusBadRequest, status, "the emulator cannot mount over the workdir")

	id := w.create(map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/workspace/cache"}}})
	w.ok("POST", "/api/v1/sandbox/"+id+"/start", nil, nil)
	w.ok("POST", "/api/v1/sandbox/"+id+"/fs/write", map[string]any{"path": "cache/kept", "content": "12345"}, nil)
	w.ok("GET", "/api/v1/volume/"+v.ID, nil, &v)
	require.Equal(t, int64(5), v.SizeBytes)

	status, _ = w.do("DELETE", "/api/v1/volume/"+v.ID, nil, nil)
	require.Equal(t, http.StatusConflict, status, "mounted to an active sandbox")
	w.ok("DELETE", "/api/v1/sandbox/"+id, nil, nil)

	// The files outlive the sandbox.
	id2 := w.create(map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/data"}}})
	w.ok("POST", "/api/v1/sandbox/"+id2+"/start", nil, nil)
	var read struct{ Content string }
	w.ok("GET", "/api/v1/sandbox/"+id2+"/fs/read?path=data/kept", nil, &read)
	require.Equal(t, "12345", read.Content)
	w.ok("POST", "/api/v1/sandbox/"+id2+"/stop", nil, nil)
	w.ok("DELETE", "/api/v1/volume/"+v.ID, nil, nil)

	var list struct{ Volumes []volumeInfo }
	w.ok("POST", "/api/v1/volume", map[string]any{"name": "second", "storageType": "s3"}, nil)
	status, _ = w.do("POST", "/api/v1/volume", map[string]any{"name": "second"}, nil)
	require.Equal(t, http.StatusConflict, status)
	w.ok("GET", "/api/v1/volume", nil, &list)
	require.Len(t, list.Volumes, 1)
	require.Equal(t, "s3", list.Volumes[0].StorageType)
}

func TestFaultsAndCounting(t *testing.T) {
	w := newWire(t)
	w.srv.Faults.FailNext(1, "/api/v1/sandbox", http.StatusServiceUnavailable)
	status, env := w.do("GET", "/api/v1/sandbox", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Contains(t, env.Message, "injected")
	w.ok("GET", "/api/v1/sandbox", nil, nil)
	require.Equal(t, 2, w.srv.Requests.Count("GET", "/api/v1/sandbox"))
}
