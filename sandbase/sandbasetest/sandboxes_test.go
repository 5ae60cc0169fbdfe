//go:build unix

package sandbasetest_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	c := start(t)
	require.True(t, strings.HasPrefix(c.srv.APIKey(), "sk-sb-"), c.srv.APIKey())

	resp, b := c.request("GET", "/sandboxes", nil, "Authorization", "")
	requireError(t, resp, b, 401, "missing API key: send Authorization: Bearer <key> or X-API-Key")
	resp, b = c.request("GET", "/sandboxes", nil, "Authorization", "Bearer sk-sb-wrong")
	requireError(t, resp, b, 401, "invalid API key")
	resp, b = c.request("GET", "/sandboxes", nil, "Authorization", c.srv.APIKey()) // no "Bearer "
	requireError(t, resp, b, 401, "missing API key: send Authorization: Bearer <key> or X-API-Key")
	resp, b = c.request("GET", "/sandboxes", nil, "Authorization", "", "X-API-Key", "sk-sb-wrong")
	requireError(t, resp, b, 401, "invalid API key")

	resp, _ = c.request("GET", "/sandboxes", nil, "Authorization", "", "X-API-Key", c.srv.APIKey())
	require.Equal(t, 200, resp.StatusCode, "X-API-Key")
	resp, _ = c.request("GET", "/sandboxes", nil)
	require.Equal(t, 200, resp.StatusCode, "Authorization: Bearer")

	// No E2B key format: any key the server was given is accepted.
	c2 := start(t, sandbasetest.WithAPIKey("not-an-e2b-key"))
	require.Equal(t, "not-an-e2b-key", c2.srv.APIKey())
	resp, _ = c2.request("GET", "/sandboxes", nil)
	require.Equal(t, 200, resp.StatusCode)
}

func TestCreateGetList(t *testing.T) {
	t.Parallel()
	c := start(t)

	// The exact field set of the sandbox object.
	resp, b := c.request("POST", "/sandboxes", map[string]any{
		"templateID": "code_interpreter", "metadata": map[string]string{"project": "x"},
		"envVars": map[string]string{"MY_VAR": "value"},
	})
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"sandboxID", "templateID", "clientID", "metadata", "startedAt", "endAt", "status"}, keys)
	var first sandboxObj
	require.NoError(t, json.Unmarshal(b, &first))
	require.Regexp(t, regexp.MustCompile(`^sbx_[0-9a-f]{12}$`), first.SandboxID)
	require.Equal(t, "code_interpreter", first.TemplateID)
	require.Equal(t, "erouter", first.ClientID)
	require.Equal(t, "running", first.Status)
	require.Equal(t, map[string]string{"project": "x"}, first.Metadata)
	require.Equal(t, 300*time.Second, first.EndAt.Sub(first.StartedAt), "default timeout")
	require.Equal(t, "value\n", c.sh(first.SandboxID, "echo $MY_VAR").Stdout, "envVars reach processes")
	require.Equal(t, first, c.get(first.SandboxID))

	claude := c.create(map[string]any{"templateID": "claude"})
	require.Equal(t, 600*time.Second, claude.EndAt.Sub(claude.StartedAt), "the template's default timeout")
	require.Equal(t, map[string]string{}, claude.Metadata, "metadata defaults to {}")
	short := c.create(map[string]any{"timeout": 30})
	require.Equal(t, 30*time.Second, short.EndAt.Sub(short.StartedAt))

	c.fails("POST", "/sandboxes", map[string]any{"templateID": "foo"}, 400, "unknown template: foo")
	c.fails("POST", "/sandboxes", map[string]any{}, 400, "templateID is required")
	c.fails("POST", "/sandboxes", map[string]any{"templateID": "base", "timeout": 0}, 400, "timeout must be greater than 0")

	var all []sandboxObj
	c.call("GET", "/sandboxes", nil, 200, &all)
	require.Len(t, all, 3)
	require.Equal(t, []string{short.SandboxID, claude.SandboxID, first.SandboxID},
		[]string{all[0].SandboxID, all[1].SandboxID, all[2].SandboxID}, "most recent first")

	c.call("POST", "/sandboxes/"+claude.SandboxID+"/pause", nil, 204, nil)
	var paused, running, stopped []sandboxObj
	c.call("GET", "/sandboxes?status=paused", nil, 200, &paused)
	require.Len(t, paused, 1)
	require.Equal(t, claude.SandboxID, paused[0].SandboxID)
	require.Equal(t, "paused", paused[0].Status)
	c.call("GET", "/sandboxes?status=running", nil, 200, &running)
	require.Len(t, running, 2)
	resp, b = c.request("GET", "/sandboxes?status=stopped", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "[]\n", string(b), "an empty list is an empty array")
	require.NoError(t, json.Unmarshal(b, &stopped))
	for _, st := range []string{"creating", "error"} {
		c.call("GET", "/sandboxes?status="+st, nil, 200, nil)
	}
	c.fails("GET", "/sandboxes?status=bogus", nil, 400, "invalid status filter: bogus")
	c.fails("GET", "/sandboxes?status=running,paused", nil, 400, "invalid status filter: running,paused")

	c.fails("GET", "/sandboxes/not-an-id", nil, 400, "invalid sandbox id")
	c.fails("GET", "/sandboxes/sbx_000000000000", nil, 404, "sandbox not found")
}

func TestRouterAnswersWhatSandBaseLacks(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	for _, r := range [][2]string{
		{"GET", "/v2/sandboxes"},
		{"GET", "/v2/sandboxes?metadata=a%3Db"},
		{"POST", "/sandboxes/" + sb.SandboxID + "/refreshes"},
		{"POST", "/sandboxes/" + sb.SandboxID + "/snapshots"},
		{"POST", "/sandboxes/" + sb.SandboxID + "/fork"},
	} {
		resp, b := c.request(r[0], r[1], nil)
		require.Equal(t, 404, resp.StatusCode, "%s %s", r[0], r[1])
		require.Equal(t, "404 page not found\n", string(b))
	}
	resp, _ := c.request("PUT", "/sandboxes/"+sb.SandboxID, nil)
	require.Equal(t, 405, resp.StatusCode)
	resp, b := c.request("GET", "/v2/sandboxes", nil, "Authorization", "")
	requireError(t, resp, b, 401, "missing API key: send Authorization: Bearer <key> or X-API-Key")
}

func TestKill(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	work := c.workdir(sb.SandboxID)
	c.sh(sb.SandboxID, "echo data > f")
	c.call("DELETE", "/sandboxes/"+sb.SandboxID, nil, 204, nil)
	c.fails("GET", "/sandboxes/"+sb.SandboxID, nil, 404, "sandbox not found")
	c.fails("DELETE", "/sandboxes/"+sb.SandboxID, nil, 404, "sandbox not found")
	c.fails("POST", "/sandboxes/"+sb.SandboxID+"/connect", nil, 404, "sandbox not found")
	require.NoDirExists(t, work, "kill deletes the files")

	// A paused sandbox is killed by id as well.
	p := c.create(nil)
	c.call("POST", "/sandboxes/"+p.SandboxID+"/pause", nil, 204, nil)
	c.call("DELETE", "/sandboxes/"+p.SandboxID, nil, 204, nil)
	var all []sandboxObj
	c.call("GET", "/sandboxes", nil, 200, &all)
	require.Empty(t, all)

	// A command in flight fails when its sandbox is killed.
	k := c.create(nil)
	kwork := c.workdir(k.SandboxID)
	done := make(chan []byte, 1)
	go func() {
		_, b := c.request("POST", "/sandboxes/"+k.SandboxID+"/processes",
			map[string]any{"cmd": "sh", "args": []string{"-c", "touch started; exec sleep 600"}})
		done <- b
	}()
	eventually(t, func() bool { _, err := os.Stat(filepath.Join(kwork, "started")); return err == nil }, "the command to start")
	c.call("DELETE", "/sandboxes/"+k.SandboxID, nil, 204, nil)
	require.JSONEq(t, `{"code":502,"message":"failed to run command: the sandbox was stopped"}`, string(<-done))
}

func TestStateErrors(t *testing.T) {
	t.Parallel()
	c := start(t)
	c.srv.Clock.Set(time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC))
	sb := c.create(map[string]any{"timeout": 60})
	id := "/sandboxes/" + sb.SandboxID

	c.call("POST", id+"/pause", nil, 204, nil)
	got := c.get(sb.SandboxID)
	require.Equal(t, "paused", got.Status)
	require.Equal(t, c.srv.Clock.Now(), got.EndAt, "a paused sandbox's endAt is when it was paused")
	c.fails("POST", id+"/pause", nil, 409, "sandbox is already paused")
	c.fails("POST", id+"/processes", map[string]any{"cmd": "true"}, 409, "sandbox is paused")
	c.fails("GET", id+"/filesystem?path=x", nil, 409, "sandbox is paused")
	c.fails("POST", id+"/filesystem", map[string]any{"path": "x", "content": ""}, 409, "sandbox is paused")
	c.fails("GET", id+"/filesystem/list", nil, 409, "sandbox is paused")
	c.fails("GET", id+"/health", nil, 409, "sandbox is paused")
	c.fails("GET", id+"/envs", nil, 409, "sandbox is paused")
	c.fails("POST", id+"/timeout", map[string]any{"timeout": 60}, 409, "sandbox is paused")

	// Paused sandboxes are kept until killed: time does not end them.
	c.srv.Clock.Advance(30 * 24 * time.Hour)
	require.Equal(t, "paused", c.get(sb.SandboxID).Status)

	var resumed sandboxObj
	c.call("POST", id+"/resume", nil, 201, &resumed)
	require.Equal(t, "running", resumed.Status)
	var again sandboxObj
	c.call("POST", id+"/connect", nil, 200, &again)
	require.Equal(t, "running", again.Status)
	c.call("GET", id+"/health", nil, 204, nil)

	// The timeout ends it: stopped is terminal.
	c.srv.Clock.Advance(60 * time.Second)
	stopped := c.get(sb.SandboxID)
	require.Equal(t, "stopped", stopped.Status)
	require.Equal(t, resumed.EndAt, stopped.EndAt, "endAt is when it stopped")
	c.fails("POST", id+"/connect", map[string]any{"timeout": 60}, 409, "sandbox is stopped")
	c.fails("POST", id+"/resume", nil, 409, "sandbox is stopped")
	c.fails("POST", id+"/pause", nil, 409, "sandbox is stopped")
	c.fails("POST", id+"/processes", map[string]any{"cmd": "true"}, 409, "sandbox is stopped")
	c.fails("GET", id+"/filesystem/stat?path=.", nil, 409, "sandbox is stopped")
	c.fails("POST", id+"/timeout", map[string]any{"timeout": 60}, 409, "sandbox is stopped")
	var list []sandboxObj
	c.call("GET", "/sandboxes?status=stopped", nil, 200, &list)
	require.Len(t, list, 1)
	c.call("DELETE", id, nil, 204, nil)
	c.fails("GET", id, nil, 404, "sandbox not found")
}

func TestTimeoutResetsOnResume(t *testing.T) {
	t.Parallel()
	c := start(t)
	t0 := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	c.srv.Clock.Set(t0)
	sb := c.create(map[string]any{"timeout": 60})
	id := "/sandboxes/" + sb.SandboxID
	require.Equal(t, t0.Add(time.Minute), sb.EndAt)

	c.srv.Clock.Advance(50 * time.Second)
	c.call("POST", id+"/pause", nil, 204, nil)
	c.srv.Clock.Advance(2 * time.Hour)

	// Resuming restarts the sandbox's timeout from now.
	var r sandboxObj
	c.call("POST", id+"/connect", map[string]any{}, 201, &r)
	require.Equal(t, c.srv.Clock.Now().Add(time.Minute), r.EndAt)
	c.srv.Clock.Advance(59 * time.Second)
	require.Equal(t, "running", c.get(sb.SandboxID).Status)

	// A timeout given to connect is the new window, also for later resumes.
	c.call("POST", id+"/pause", nil, 204, nil)
	c.call("POST", id+"/connect", map[string]any{"timeout": 120}, 201, &r)
	require.Equal(t, c.srv.Clock.Now().Add(2*time.Minute), r.EndAt)
	c.call("POST", id+"/pause", nil, 204, nil)
	c.call("POST", id+"/resume", nil, 201, &r)
	require.Equal(t, c.srv.Clock.Now().Add(2*time.Minute), r.EndAt)

	// On a running sandbox connect extends the timeout, never shortens it.
	c.call("POST", id+"/connect", map[string]any{"timeout": 10}, 200, &r)
	require.Equal(t, c.srv.Clock.Now().Add(2*time.Minute), r.EndAt)
	c.call("POST", id+"/connect", map[string]any{"timeout": 600}, 200, &r)
	require.Equal(t, c.srv.Clock.Now().Add(10*time.Minute), r.EndAt)
	c.fails("POST", id+"/connect", map[string]any{"timeout": -1}, 400, "timeout must be greater than 0")

	c.srv.Clock.Advance(10*time.Minute - time.Second)
	require.Equal(t, "running", c.get(sb.SandboxID).Status)
	c.srv.Clock.Advance(time.Second)
	require.Equal(t, "stopped", c.get(sb.SandboxID).Status)
}

func TestSetTimeout(t *testing.T) {
	t.Parallel()
	c := start(t)
	c.srv.Clock.Set(time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC))
	sb := c.create(nil)
	id := "/sandboxes/" + sb.SandboxID
	c.fails("POST", id+"/timeout", nil, 400, "timeout is required")
	c.fails("POST", id+"/timeout", map[string]any{}, 400, "timeout is required")
	c.fails("POST", id+"/timeout", map[string]any{"timeout": 0}, 400, "timeout must be greater than 0")
	c.fails("POST", id+"/timeout", []byte(`{"timeout":`), 400, "invalid request body: unexpected EOF")

	c.srv.Clock.Advance(time.Minute)
	resp, b := c.request("POST", id+"/timeout", map[string]any{"timeout": 30})
	require.Equal(t, 204, resp.StatusCode)
	require.Empty(t, b)
	require.Equal(t, c.srv.Clock.Now().Add(30*time.Second), c.get(sb.SandboxID).EndAt, "the TTL is set from now, shorter too")
	c.srv.Clock.Advance(30 * time.Second)
	require.Equal(t, "stopped", c.get(sb.SandboxID).Status)
}

func TestMaxLifetime(t *testing.T) {
	t.Parallel()
	c := start(t, sandbasetest.WithMaxLifetime(10*time.Minute))
	t0 := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	c.srv.Clock.Set(t0)
	sb := c.create(map[string]any{"timeout": 3600})
	id := "/sandboxes/" + sb.SandboxID
	require.Equal(t, t0.Add(10*time.Minute), sb.EndAt, "endAt is cut at the end of the lifetime")

	// Keep-alives do not pass the lifetime.
	c.srv.Clock.Advance(8 * time.Minute)
	c.call("POST", id+"/timeout", map[string]any{"timeout": 600}, 204, nil)
	require.Equal(t, t0.Add(10*time.Minute), c.get(sb.SandboxID).EndAt)

	// Pausing and resuming restarts the window.
	c.call("POST", id+"/pause", nil, 204, nil)
	c.srv.Clock.Advance(time.Hour)
	var r sandboxObj
	c.call("POST", id+"/connect", nil, 201, &r)
	require.Equal(t, c.srv.Clock.Now().Add(10*time.Minute), r.EndAt)
	c.srv.Clock.Advance(9 * time.Minute)
	c.call("POST", id+"/timeout", map[string]any{"timeout": 600}, 204, nil)
	c.srv.Clock.Advance(time.Minute)
	require.Equal(t, "stopped", c.get(sb.SandboxID).Status, "the lifetime ends it despite the keep-alive")

	// The default lifetime is one hour.
	d := start(t)
	d.srv.Clock.Set(t0)
	long := d.create(map[string]any{"timeout": 7200})
	require.Equal(t, t0.Add(time.Hour), long.EndAt)
}

func TestFaultsAndRequests(t *testing.T) {
	t.Parallel()
	c := start(t)
	c.srv.Faults.FailNext(1, "/sandboxes", 503)
	c.fails("POST", "/sandboxes", map[string]any{"templateID": "base"}, 503, "Service Unavailable (injected fault)")
	sb := c.create(nil)
	c.get(sb.SandboxID)
	c.srv.Faults.Add(emu.Fault{Method: "POST", Path: "/sandboxes/" + sb.SandboxID + "/pause", Status: 502})
	c.fails("POST", "/sandboxes/"+sb.SandboxID+"/pause", nil, 502, "Bad Gateway (injected fault)")
	require.Equal(t, "running", c.get(sb.SandboxID).Status, "a failed request did nothing")

	require.Equal(t, 3, c.srv.Requests.Count("POST", "/sandboxes"), "a path prefix")
	require.Equal(t, 1, c.srv.Requests.Count("POST", "/sandboxes/"+sb.SandboxID+"/pause"))
	require.Equal(t, 2, c.srv.Requests.Count("GET", "/sandboxes/"+sb.SandboxID))
	require.Equal(t, 5, c.srv.Requests.Total())
}

func TestCloseKillsProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := sandbasetest.NewServer(sandbasetest.WithDir(dir))
	c := &client{t: t, srv: srv, hc: &http.Client{Transport: &http.Transport{}}}
	defer c.hc.CloseIdleConnections()
	sb := c.create(nil)
	pid := trim(c.sh(sb.SandboxID, "sleep 600 >/dev/null 2>&1 & echo $!").Stdout)
	work := c.workdir(sb.SandboxID)
	require.True(t, alive(pid))

	// A command in flight does not hold Close up.
	done := make(chan int, 1)
	go func() {
		body := strings.NewReader(`{"cmd":"sh","args":["-c","echo $$ > fg.pid; exec sleep 600"]}`)
		req, _ := http.NewRequest("POST", srv.URL+"/sandboxes/"+sb.SandboxID+"/processes", body)
		req.Header.Set("X-API-Key", srv.APIKey())
		resp, err := c.hc.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	eventually(t, func() bool { _, err := os.Stat(filepath.Join(work, "fg.pid")); return err == nil }, "the command to start")

	srv.Close()
	require.Equal(t, 502, <-done, "the command in flight fails")
	eventually(t, func() bool { return !alive(pid) }, "Close to kill the sandboxes' processes")
	require.DirExists(t, work, "WithDir keeps the directories")
}
