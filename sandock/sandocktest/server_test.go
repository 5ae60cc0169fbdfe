//go:build unix

package sandocktest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
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

// orpc is oRPC's error body.
type orpc struct {
	Defined bool
	Code    string
	Status  int
	Message string
}

// do sends a request and returns the status and the unwrapped envelope;
// an error is oRPC's JSON, returned in its place.
func (w *wire) do(method, path string, body, data any) (int, orpc) {
	w.t.Helper()
	resp := w.raw(method, path, body)
	require.Contains(w.t, resp.Header.Get("Content-Type"), "application/json")
	raw, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	if resp.StatusCode >= 300 {
		var e orpc
		require.NoError(w.t, json.Unmarshal(raw, &e), "%s", raw)
		require.Equal(w.t, resp.StatusCode, e.Status, "%s", raw)
		require.NotEmpty(w.t, e.Code)
		return resp.StatusCode, e
	}
	var env envelope
	require.NoError(w.t, json.Unmarshal(raw, &env))
	require.True(w.t, *env.Success)
	require.Equal(w.t, "SUCCESS", env.Message)
	if data != nil {
		require.NoError(w.t, json.Unmarshal(env.Data, data))
	}
	return resp.StatusCode, orpc{}
}

func (w *wire) ok(method, path string, body, data any) {
	w.t.Helper()
	status, e := w.do(method, path, body, data)
	require.Equal(w.t, http.StatusOK, status, e.Message)
}

func (w *wire) status(id string) string {
	var list struct {
		Items []map[string]any `json:"items"`
	}
	w.ok("GET", "/api/v1/sandbox", nil, &list)
	for _, it := range list.Items {
		require.Len(w.t, it, 2, "an item is {id, status}: %v", it)
		if it["id"] == id {
			return it["status"].(string)
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

type result struct {
	Stdout, Stderr string
	ExitCode       *int
	TimedOut       bool
	DurationMs     float64
}

func (w *wire) sh(id string, body map[string]any) result {
	w.t.Helper()
	var res result
	w.ok("POST", "/api/v1/sandbox/"+id+"/shell", body, &res)
	return res
}

func TestErrors(t *testing.T) {
	w := newWire(t, sandocktest.WithAPIKey("k-right"))
	w.key = "k-wrong"
	status, e := w.do("GET", "/api/v1/sandbox", nil, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "UNAUTHORIZED", e.Code)
	w.key = "k-right"

	// An unmatched path: the wrapper, not oRPC's JSON.
	resp := w.raw("GET", "/api/v1/nothing", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	var env map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	require.Equal(t, map[string]any{"success": false, "code": float64(404), "message": "Not Found: /api/v1/nothing", "data": map[string]any{}}, env)

	for _, path := range []string{"/api/v1/sandbox/sdbNoSuch/start", "/api/v1/sandbox/sdbNoSuch/shell"} {
		status, e = w.do("POST", path, map[string]any{"cmd": "true"}, nil)
		require.Equal(t, http.StatusInternalServerError, status, "an unknown id is a 500")
		require.Equal(t, "INTERNAL_SERVER_ERROR", e.Code)
	}
	status, e = w.do("POST", "/api/v1/sandbox", map[string]any{"activeDeadlineSeconds": 86401}, nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "BAD_REQUEST", e.Code)
}

func TestLifecycle(t *testing.T) {
	for _, mode := range []sandocktest.Mode{sandocktest.Kubernetes, sandocktest.Docker} {
		t.Run(mode.String(), func(t *testing.T) {
			w := newWire(t, sandocktest.WithMode(mode), sandocktest.WithVolumeDelay(0))
			var v struct{ ID string }
			w.ok("GET", "/api/v1/volume/name/keep?create=true", nil, &v)
			id := w.create(map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/sandbox/vol"}}})
			require.Equal(t, sandocktest.StatusRunning, w.status(id), "create starts")
			base := "/api/v1/sandbox/" + id
			w.ok("POST", base+"/fs/write", map[string]any{"path": "vol/kept", "content": "kept"}, nil)
			w.ok("POST", base+"/fs/write", map[string]any{"path": "lost", "content": "lost"}, nil)
			bg := w.sh(id, map[string]any{"cmd": "sleep 600 >/dev/null 2>&1 & echo $!"})
			pid := strings.TrimSpace(bg.Stdout)

			var started struct{ Started bool }
			w.ok("POST", base+"/start", nil, &started)
			require.True(t, started.Started, "always true")

			var paused struct {
				Status string
				Paused bool
			}
			w.ok("POST", base+"/pause", nil, &paused)
			require.Equal(t, sandocktest.StatusPaused, w.status(id))
			status, _ := w.do("POST", base+"/pause", nil, nil)
			require.Equal(t, http.StatusInternalServerError, status, "pause only from RUNNING")
			w.ok("POST", base+"/resume", nil, nil)
			require.Equal(t, sandocktest.StatusRunning, w.status(id))
			status, _ = w.do("POST", base+"/resume", nil, nil)
			require.Equal(t, http.StatusInternalServerError, status, "resume only from PAUSED")
			var read struct{ Content string }
			w.ok("GET", base+"/fs/read?path=lost", nil, &read)
			alive := w.sh(id, map[string]any{"cmd": "ps -o stat= -p " + pid + " | grep -qv Z && echo alive"})
			if mode == sandocktest.Docker {
				require.Equal(t, "lost", read.Content, "Docker: resume restarts the container, files kept")
			} else {
				require.Empty(t, read.Content, "Kubernetes: pause deleted the pod")
			}
			require.Empty(t, alive.Stdout, "no process survives pause and resume")

			w.ok("POST", base+"/fs/write", map[string]any{"path": "lost", "content": "lost"}, nil)
			w.ok("POST", base+"/stop", nil, nil)
			require.Equal(t, sandocktest.StatusStopped, w.status(id))
			// A call on a stopped sandbox starts it again, silently: a new
			// container, only the volume's files in it.
			w.ok("GET", base+"/fs/read?path=lost", nil, &read)
			require.Empty(t, read.Content, "a missing file reads as empty")
			require.Equal(t, sandocktest.StatusRunning, w.status(id))
			w.ok("GET", base+"/fs/read?path=vol/kept", nil, &read)
			require.Equal(t, "kept", read.Content)

			w.ok("DELETE", base, nil, nil)
			require.Empty(t, w.status(id))
			status, _ = w.do("DELETE", base, nil, nil)
			require.Equal(t, http.StatusInternalServerError, status, "deleting a deleted sandbox fails")
			status, _ = w.do("GET", base+"/fs/read?path=x", nil, nil)
			require.Equal(t, http.StatusInternalServerError, status)
		})
	}
}

func TestExpiry(t *testing.T) {
	w := newWire(t)
	id := w.create(nil)
	short := w.create(map[string]any{"autoDeleteInterval": -1, "activeDeadlineSeconds": 60})
	long := w.create(map[string]any{"activeDeadlineSeconds": 7200})
	kept := w.create(map[string]any{"activeDeadlineSeconds": 7200, "command": []string{"sleep", "7200"}})

	w.srv.Clock.Advance(1799 * time.Second)
	require.Equal(t, sandocktest.StatusRunning, w.status(id))
	require.Equal(t, sandocktest.StatusStopped, w.status(short))
	w.srv.Clock.Advance(time.Second)
	require.Equal(t, sandocktest.StatusStopped, w.status(id), "the default deadline is 1800 s")
	w.srv.Clock.Advance(30 * time.Minute)
	require.Equal(t, sandocktest.StatusStopped, w.status(long), "the keep-alive process ends an hour after the start")
	require.Equal(t, sandocktest.StatusRunning, w.status(kept), "a command replaces it")
	w.srv.Clock.Advance(1410*time.Minute - time.Second)
	require.Equal(t, sandocktest.StatusStopped, w.status(id))
	w.srv.Clock.Advance(time.Second)
	require.Empty(t, w.status(id), "auto-deleted 1440 min after it stopped")
	require.Equal(t, sandocktest.StatusStopped, w.status(short), "autoDeleteInterval -1 keeps it")
	require.Equal(t, 10*time.Second, sandocktest.DefaultShellTimeout)
}

func TestKubernetesShell(t *testing.T) {
	w := newWire(t)
	id := w.create(nil)
	res := w.sh(id, map[string]any{"cmd": `cat; echo "$X" >&2; pwd; exit 4`, "input": "in\n", "env": map[string]string{"X": "x"}})
	require.Equal(t, 1, *res.ExitCode, "exit codes are 0 or 1")
	require.Equal(t, "x\n", res.Stderr)
	require.True(t, strings.HasPrefix(res.Stdout, "in\n/"), res.Stdout)
	require.Equal(t, 0, *w.sh(id, map[string]any{"cmd": []string{"printf", "%s", "a b"}}).ExitCode)
	require.Equal(t, "ab", w.sh(id, map[string]any{"cmd": []string{"printf", "%s", "a b"}}).Stdout, "an array is joined, unquoted")

	big := strings.Repeat("x", sandocktest.MaxArgLen)
	res = w.sh(id, map[string]any{"cmd": "wc -c", "input": big})
	require.Equal(t, 1, *res.ExitCode)
	require.Contains(t, res.Stderr, "argument list too long", "the input is pasted into the command line")
	res = w.sh(id, map[string]any{"cmd": "wc -c", "input": big[:100<<10]})
	require.Equal(t, "102400", strings.TrimSpace(res.Stdout))

	// A timeout kills every shell of the sandbox, but not a process that
	// replaced its shell.
	other := w.sh(id, map[string]any{"cmd": "sh -c 'echo $$; exec sleep 600' >pid.txt 2>&1 &"})
	require.Equal(t, 0, *other.ExitCode)
	res = w.sh(id, map[string]any{"cmd": "exec sleep 5", "timeoutMs": 100})
	require.True(t, res.TimedOut)
	require.Equal(t, 137, *res.ExitCode)
	res = w.sh(id, map[string]any{"cmd": "sleep 5", "timeoutMs": 100})
	require.True(t, res.TimedOut)
	require.Less(t, res.DurationMs, float64(4000), "the shell is killed")
	alive := w.sh(id, map[string]any{"cmd": `ps -o stat= -p "$(cat pid.txt)" | grep -qv Z && echo alive`})
	require.Equal(t, "alive\n", alive.Stdout, "a process that exec'd over its shell outlives the timeout")
	w.sh(id, map[string]any{"cmd": `kill "$(cat pid.txt)"`})
}

func TestDockerShell(t *testing.T) {
	w := newWire(t, sandocktest.WithMode(sandocktest.Docker))
	id := w.create(nil)
	res := w.sh(id, map[string]any{"cmd": `cat; exit 4`, "input": strings.Repeat("y", sandocktest.MaxArgLen+1)})
	require.Equal(t, 4, *res.ExitCode, "real exit codes")
	require.Len(t, res.Stdout, sandocktest.MaxArgLen+1, "the input is stdin")
	require.Equal(t, "a b", w.sh(id, map[string]any{"cmd": []string{"printf", "%s", "a b"}}).Stdout, "an array is argv")

	w.ok("POST", "/api/v1/sandbox/"+id+"/fs/write", map[string]any{"path": "f", "content": "x"}, nil)
	res = w.sh(id, map[string]any{"cmd": "sleep 5", "timeoutMs": 100})
	require.True(t, res.TimedOut)
	require.Nil(t, res.ExitCode)
	require.Equal(t, sandocktest.StatusStopped, w.status(id), "a timeout kills the container")
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
	w := newWire(t, sandocktest.WithMode(sandocktest.Docker))
	id := w.create(nil)
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
}

func TestFiles(t *testing.T) {
	w := newWire(t)
	id := w.create(nil)
	base := "/api/v1/sandbox/" + id
	var ok bool
	w.ok("POST", base+"/fs/write", map[string]any{"path": "src/index.js", "content": "console.log(1)\n", "executable": true}, &ok)
	require.True(t, ok)
	var read struct{ Path, Content string }
	w.ok("GET", base+"/fs/read?path="+url.QueryEscape(sandocktest.Workdir+"/src/index.js"), nil, &read)
	require.Equal(t, "console.log(1)\n", read.Content, "/sandbox is the workdir")
	var list struct {
		Path    string
		Entries []string
	}
	w.ok("GET", base+"/fs/list", nil, &list)
	require.Equal(t, ".", list.Path)
	require.Equal(t, []string{"src"}, list.Entries)
	w.ok("GET", base+"/fs/list?path=nowhere", nil, &list)
	require.Empty(t, list.Entries, "a missing directory lists as []")

	w.sh(id, map[string]any{"cmd": `printf '\377' > bin`})
	w.ok("GET", base+"/fs/read?path=bin", nil, &read)
	require.Equal(t, "\uFFFD", read.Content, "contents are strings")

	w.ok("DELETE", base+"/fs?path=src", nil, &ok)
	w.ok("DELETE", base+"/fs?path=src", nil, &ok)
	require.True(t, ok, "rm -rf never fails")
	w.ok("GET", base+"/fs/read?path=src/index.js", nil, &read)
	require.Empty(t, read.Content, "a missing file reads as empty")

	if _, err := exec.LookPath("python3"); err == nil {
		var code result
		w.ok("POST", base+"/code", map[string]any{"language": "python", "code": "print(6*7)"}, &code)
		require.Equal(t, "42\n", code.Stdout)
	}
}

func TestPreviewURL(t *testing.T) {
	w := newWire(t)
	id := w.create(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(rw, "hello "+r.URL.Path) })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	var p struct{ URL, Token string }
	w.ok("GET", "/api/v1/sandbox/"+id+"/preview-url?port="+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil, &p)
	require.NotEmpty(t, p.Token)
	resp, err := http.Get(p.URL + "page")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "hello /page", string(b))
	status, _ := w.do("GET", "/api/v1/sandbox/"+id+"/preview-url?port=0", nil, nil)
	require.Equal(t, http.StatusBadRequest, status)
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

	status, _ = w.do("POST", "/api/v1/sandbox", map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/sandbox/cache"}}}, nil)
	require.Equal(t, http.StatusInternalServerError, status, "not ready: the core throws")

	w.srv.Clock.Advance(10 * time.Second)
	w.ok("GET", "/api/v1/volume/"+v.ID, nil, &v)
	require.Equal(t, "ready", v.Status)
	status, _ = w.do("POST", "/api/v1/sandbox", map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/sandbox"}}}, nil)
	require.Equal(t, http.StatusBadRequest, status, "the emulator cannot mount over the workdir")

	id := w.create(map[string]any{"volumes": []map[string]any{{"volumeId": v.ID, "mountPath": "/sandbox/cache"}}})
	w.ok("POST", "/api/v1/sandbox/"+id+"/fs/write", map[string]any{"path": "cache/kept", "content": "12345"}, nil)
	w.ok("GET", "/api/v1/volume/"+v.ID, nil, &v)
	require.Equal(t, int64(5), v.SizeBytes)
	status, _ = w.do("DELETE", "/api/v1/volume/"+v.ID, nil, nil)
	require.Equal(t, http.StatusInternalServerError, status, "mounted to an active sandbox")
	w.ok("POST", "/api/v1/sandbox/"+id+"/stop", nil, nil)
	w.ok("DELETE", "/api/v1/volume/"+v.ID, nil, nil)
}

func TestFaultsAndCounting(t *testing.T) {
	w := newWire(t)
	w.srv.Faults.FailNext(1, "/api/v1/sandbox", http.StatusServiceUnavailable)
	status, e := w.do("GET", "/api/v1/sandbox", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "SERVICE_UNAVAILABLE", e.Code)
	w.ok("GET", "/api/v1/sandbox", nil, nil)
	require.Equal(t, 2, w.srv.Requests.Count("GET", "/api/v1/sandbox"))
}
