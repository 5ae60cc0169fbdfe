//go:build unix

package daytona_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"

	toolbox "github.com/daytonaio/daytona/libs/toolbox-api-client-go"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
)

// rewrite is a transport that lets a test change answers on their way
// back to the client.
type rewrite struct {
	base http.RoundTripper
	fn   func(req *http.Request, resp *http.Response) *http.Response
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.fn(req, resp), nil
}

func rewriting(fn func(req *http.Request, resp *http.Response) *http.Response) daytona.Option {
	return daytona.WithHTTPClient(&http.Client{Transport: rewrite{base: http.DefaultTransport, fn: fn}})
}

func toolboxRequests(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if strings.Contains(r, "/toolbox/") {
			_, p, _ := strings.Cut(r, "/process/")
			m, _, _ := strings.Cut(r, " ")
			out = append(out, m+" "+strings.TrimPrefix(p, "session/"))
		}
	}
	return out
}

// The exec contract: without writers one request (after the session is
// made); with live writers two in sequence (the exec, the log stream),
// the session's return to the pool coming after Wait; stdin adds its
// input requests alongside.
func TestExecRoundTrips(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	ctx := t.Context()
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"}) // makes the session
	require.NoError(t, err)

	srv.Requests.Reset()
	res, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo out; echo err >&2"})
	require.NoError(t, err)
	require.Equal(t, "out\n", string(res.Stdout))
	require.Equal(t, "err\n", string(res.Stderr))
	require.Len(t, toolboxRequests(srv.Requests.Requests()), 1, "%v", srv.Requests.Requests())

	// A small input of known length goes inline: still one request.
	srv.Requests.Reset()
	res, err = h.Exec(ctx, &sandagent.Cmd{Shell: "tr a-z A-Z", Stdin: strings.NewReader("inline\x00\xff")})
	require.NoError(t, err)
	require.Equal(t, "INLINE\x00\xff", string(res.Stdout))
	require.Len(t, toolboxRequests(srv.Requests.Requests()), 2, "the exec, and the raw log for bytes that are not UTF-8: %v", srv.Requests.Requests())

	srv.Requests.Reset()
	var out bytes.Buffer
	res, err = h.Exec(ctx, &sandagent.Cmd{Shell: "printf out; exit 4", Stdout: &out})
	var ee *sandagent.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 4, res.ExitCode)
	require.Equal(t, "out", out.String())
	got := toolboxRequests(srv.Requests.Requests())
	require.GreaterOrEqual(t, len(got), 2, "%v", got)
	require.True(t, strings.HasPrefix(got[0], "POST ") && strings.HasSuffix(got[0], "/exec"), "%v", got)
	require.True(t, strings.HasPrefix(got[1], "GET ") && strings.HasSuffix(got[1], "/logs"), "%v", got)
	for _, r := range got[2:] {
		require.True(t, strings.HasPrefix(r, "GET "), "after the stream, only the session's settling: %v", got)
	}
}

// Binary stdin reaches the command exactly, with its end of file.
func TestStdinBinaryRoundTrip(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	in := make([]byte, 0, 3<<20)
	for len(in) < cap(in) {
		for b := range 256 {
			in = append(in, byte(b))
		}
	}
	in = append(in, "no newline at the end\x00"...)
	sum := sha256.Sum256(in)
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "cat > in.bin; sha256sum < in.bin", Stdin: bytes.NewReader(in)})
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(sum[:]), strings.Fields(string(res.Stdout))[0])
	back, err := h.ReadFile(t.Context(), "in.bin")
	require.NoError(t, err)
	require.True(t, bytes.Equal(in, back), "the file holds the input")

	// An empty input is an immediate end of file.
	res, err = h.Exec(t.Context(), &sandagent.Cmd{Shell: "wc -c", Stdin: strings.NewReader("")})
	require.NoError(t, err)
	require.Equal(t, "0", strings.TrimSpace(string(res.Stdout)))
}

// A read error of Cmd.Stdin ends the command's input and is returned.
func TestStdinReadError(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	boom := errors.New("boom")
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "cat", Stdin: io.MultiReader(strings.NewReader("part"), errReader{boom})})
	require.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Concurrent commands get their own sessions; finished ones are reused.
func TestConcurrentExecsShareThePool(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			c := &sandagent.Cmd{Args: []string{"echo", strings.Repeat("x", i)}}
			if i%2 == 0 {
				c.Stdout = &out
			}
			res, err := h.Exec(t.Context(), c)
			require.NoError(t, err)
			require.Equal(t, strings.Repeat("x", i)+"\n", string(res.Stdout))
		}()
	}
	wg.Wait()
	created := srv.Requests.Count(http.MethodPost, "/toolbox/"+h.ID()+"/process/session")
	created -= len(toolboxExecs(srv.Requests.Requests()))
	require.LessOrEqual(t, created, 12)
	srv.Requests.Reset()
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "true"})
	require.NoError(t, err)
	// (Sessions past the idle limit may be deleted meanwhile.)
	require.Zero(t, srv.Requests.Count(http.MethodPost, "/toolbox/"+h.ID()+"/process/session")-len(toolboxExecs(srv.Requests.Requests())), "an idle session is reused: %v", srv.Requests.Requests())
}

func toolboxExecs(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if strings.HasSuffix(r, "/exec") {
			out = append(out, r)
		}
	}
	return out
}

// A command whose background child keeps its output open ends for us when
// it exits, but its session stays busy until the child ends: the next
// command does not wait behind it.
func TestBusySessionIsNotReused(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	var out bytes.Buffer
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "(while [ ! -f go ]; do sleep 0.01; done; echo late) & echo started", Stdout: &out})
	require.NoError(t, err)
	require.Equal(t, "started\n", out.String())
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "touch go; echo next"})
	require.NoError(t, err)
	require.Equal(t, "next\n", string(res.Stdout))
}

// A toolbox answer cut in the middle of the log stream is an error, never
// a short result.
func TestBrokenLogStreamIsAnError(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv, rewriting(func(req *http.Request, resp *http.Response) *http.Response {
		if resp.StatusCode == http.StatusSwitchingProtocols {
			resp.Body = &cutConn{ReadWriteCloser: resp.Body.(io.ReadWriteCloser), left: 40}
		}
		return resp
	})))
	var out bytes.Buffer
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "head -c 100000 /dev/zero | tr '\\0' x", Stdout: &out})
	var se *sandagent.Error
	require.ErrorAs(t, err, &se)
	require.Contains(t, err.Error(), "output stream broke")
	require.Less(t, out.Len(), 100000)
}

// cutConn fails reads after left bytes, as a connection that breaks.
type cutConn struct {
	io.ReadWriteCloser
	left int
}

func (c *cutConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := c.ReadWriteCloser.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

// The daemon's file errors have empty bodies: a 403 is a permission error
// on the file (fs.ErrPermission), not a failed authentication.
func TestFilePermissionDenied(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv, rewriting(func(req *http.Request, resp *http.Response) *http.Response {
		if strings.HasSuffix(req.URL.Path, "/files/info") || strings.HasSuffix(req.URL.Path, "/files/download") {
			resp.Body.Close()
			resp.StatusCode, resp.Body, resp.ContentLength = http.StatusForbidden, http.NoBody, 0
			resp.Header = http.Header{}
		}
		return resp
	})))
	_, err := h.Stat(t.Context(), "secret")
	require.ErrorIs(t, err, fs.ErrPermission)
	require.NotErrorIs(t, err, sandagent.ErrAuth)
	require.Contains(t, err.Error(), "secret: permission denied")
	_, err = h.ReadFile(t.Context(), "secret")
	require.ErrorIs(t, err, fs.ErrPermission)

	_, err = attach(t, open(t, srv)).Stat(t.Context(), "missing")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.Contains(t, err.Error(), "missing: no such file or directory")
}

// A sandbox whose toolboxProxyUrl is empty: the client asks for it.
func TestToolboxProxyURLIsAskedFor(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv, rewriting(func(req *http.Request, resp *http.Response) *http.Response {
		if !strings.Contains(req.URL.Path, "/api/sandbox") || strings.HasSuffix(req.URL.Path, "/toolbox-proxy-url") || resp.StatusCode != http.StatusOK {
			return resp
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b = bytes.Replace(b, []byte(`"toolboxProxyUrl":"`+srv.ToolboxURL()+`"`), []byte(`"toolboxProxyUrl":""`), 1)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		resp.Header.Del("Content-Length")
		return resp
	})))
	require.Equal(t, 1, srv.Requests.Count(http.MethodGet, "/api/sandbox/"+h.ID()+"/toolbox-proxy-url"))
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "echo hi"})
	require.NoError(t, err)
	require.Equal(t, "hi\n", string(res.Stdout))
}

// Volumes cannot cover the daemon's session directory; the default mount
// path does not.
func TestVolumeMountPaths(t *testing.T) {
	for _, p := range []string{"/home", "/home/daytona", "/home/daytona/.daytona", "/home/daytona/.daytona/sessions"} {
		_, err := daytona.New(daytona.WithAPIKey("k"), daytona.WithVolume("v", p))
		require.ErrorIs(t, err, sandagent.ErrInvalid, p)
		require.ErrorContains(t, err, "/home/daytona/.daytona/sessions")
	}
	for _, p := range []string{"", daytona.DefaultMountPath, "/home/daytona/data", "/mnt/v", "/home/daytona/.daytona2"} {
		_, err := daytona.New(daytona.WithAPIKey("k"), daytona.WithVolume("v", p))
		require.NoError(t, err, p)
	}
	require.Equal(t, "/home/daytona/volume", daytona.DefaultMountPath)
}

// A command that ends without reading all its input ends the exec: Wait
// does not wait for an input that never ends.
func TestCommandEndsBeforeItsInput(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	r, w := io.Pipe()
	defer w.Close()
	go func() { _, _ = w.Write([]byte("first\nsecond\n")) }()
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "head -n 1", Stdin: r})
	require.NoError(t, err)
	require.Equal(t, "first\n", string(res.Stdout))
}

// Sessions do not survive a restart of the sandbox, nor a shell that
// exited: the next command replaces its session and runs.
func TestSessionLostIsReplaced(t *testing.T) {
	srv := newServer(t)
	h := attach(t, open(t, srv))
	ctx := t.Context()
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	require.NoError(t, err)
	var ctl *daytona.Control
	require.True(t, h.As(&ctl))
	require.NoError(t, ctl.Restart(ctx))
	res, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo after restart"})
	require.NoError(t, err)
	require.Equal(t, "after restart\n", string(res.Stdout))

	// A command sourced into the session shell that exits it (as another
	// client could send) leaves the session listed but dead.
	var tb *toolbox.APIClient
	require.True(t, h.As(&tb))
	sessions, _, err := tb.ProcessAPI.ListSessions(ctx).Execute()
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	_, _, err = tb.ProcessAPI.SessionExecuteCommand(ctx, sessions[0].SessionId).Request(*toolbox.NewSessionExecuteRequest("exit 0")).Execute()
	require.Error(t, err, "the session shell exits without an exit code: the sync exec ends with the session")
	res, err = h.Exec(ctx, &sandagent.Cmd{Shell: "echo after exit"})
	require.NoError(t, err)
	require.Equal(t, "after exit\n", string(res.Stdout))
}
