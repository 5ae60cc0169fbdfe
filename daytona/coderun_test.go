//go:build unix

package daytona_test

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
)

// codeControl attaches a new sandbox and returns its Control, with the
// emulator's request counter reset.
func codeControl(t *testing.T, opts ...daytona.Option) (*daytonatest.Server, *daytona.Control) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: the emulator runs snippets with it")
	}
	srv := newServer(t)
	h, err := open(t, srv, opts...).Attach(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	var ctl *daytona.Control
	require.True(t, h.As(&ctl))
	srv.Requests.Reset()
	return srv, ctl
}

func codeRuns(srv *daytonatest.Server) int {
	return srv.Requests.Count(http.MethodPost, "/toolbox/")
}

func TestRunCodePrints(t *testing.T) {
	srv, ctl := codeControl(t)
	res, err := ctl.RunCode(context.Background(), "import sys\nprint('hello')\nprint('oops', file=sys.stderr)")
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode)
	require.Equal(t, "hello\noops\n", res.Output)
	require.Empty(t, res.Charts)
	require.Equal(t, 1, srv.Requests.Total())
	require.Equal(t, 1, codeRuns(srv))
}

func TestRunCodeExitCodeIsNotAnError(t *testing.T) {
	srv, ctl := codeControl(t)
	res, err := ctl.RunCode(context.Background(), "print('bye')\nraise SystemExit(3)")
	require.NoError(t, err)
	require.Equal(t, 3, res.ExitCode)
	require.Equal(t, "bye\n", res.Output)
	require.Equal(t, 1, srv.Requests.Total())
}

func TestRunCodeArgsAndEnv(t *testing.T) {
	srv, ctl := codeControl(t)
	res, err := ctl.RunCode(context.Background(), "import os, sys\nprint(sys.argv[1:])\nprint(os.environ['GREETING'])",
		daytona.WithCodeArgs("a b", "it's", "$HOME"), daytona.WithCodeEnv(map[string]string{"GREETING": "hi there"}))
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, res.Output)
	require.Equal(t, "['a b', \"it's\", '$HOME']\nhi there\n", res.Output)
	require.Equal(t, 1, srv.Requests.Total())
}

func TestRunCodeCharts(t *testing.T) {
	_, ctl := codeControl(t)
	res, err := ctl.RunCode(context.Background(),
		`print('before')`+"\n"+`print('dtn_artifact_k39fd2:{"type":"chart","value":{"type":"line","title":"T","png":"iVBO","elements":[]}}')`+"\n"+`print('after')`)
	require.NoError(t, err)
	require.Equal(t, "before\nafter\n", res.Output)
	require.Len(t, res.Charts, 1)
	require.Equal(t, "line", res.Charts[0].Type)
	require.Equal(t, "T", res.Charts[0].Title)
	require.Equal(t, "iVBO", res.Charts[0].PNG)
}

func TestRunCodeJavaScript(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	srv, ctl := codeControl(t)
	res, err := ctl.RunCode(context.Background(), "console.log(process.argv.slice(1).join('|'))",
		daytona.WithCodeLanguage("javascript"), daytona.WithCodeArgs("x y", "z"))
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, res.Output)
	require.Equal(t, "x y|z\n", res.Output)
	require.Equal(t, 1, srv.Requests.Total())
}

func TestRunCodeDefaultsToTheSandboxLanguage(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	_, ctl := codeControl(t, daytona.WithLanguage("javascript"))
	res, err := ctl.RunCode(context.Background(), "console.log(typeof process)")
	require.NoError(t, err)
	require.Equal(t, "object\n", res.Output)
}

func TestRunCodeTimeout(t *testing.T) {
	srv, ctl := codeControl(t)
	srv.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	type outcome struct {
		res *daytona.CodeResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := ctl.RunCode(context.Background(), "import time\ntime.sleep(600)", daytona.WithCodeTimeout(5*time.Second))
		done <- outcome{res, err}
	}()
	var got outcome
	for waiting := true; waiting; {
		select {
		case got = <-done:
			waiting = false
		case <-time.After(10 * time.Millisecond): // not waiting for time to pass: moving the Clock
			srv.Clock.Advance(time.Second)
		}
	}
	require.Nil(t, got.res)
	require.ErrorIs(t, got.err, sandagent.ErrTimeout)
	require.Equal(t, 1, srv.Requests.Total(), "a timeout makes no state lookup")
}

func TestRunCodeInvalidOptionsSendNothing(t *testing.T) {
	srv, ctl := codeControl(t)
	for name, opt := range map[string]daytona.CodeOption{
		"language": daytona.WithCodeLanguage("ruby"),
		"timeout":  daytona.WithCodeTimeout(-time.Second),
		"env":      daytona.WithCodeEnv(map[string]string{"": "x"}),
	} {
		_, err := ctl.RunCode(context.Background(), "print(1)", opt)
		require.ErrorIs(t, err, sandagent.ErrInvalid, name)
	}
	require.Zero(t, srv.Requests.Total())
}

func TestRunCodeRefusedByTheToolbox(t *testing.T) {
	_, ctl := codeControl(t)
	_, err := ctl.RunCode(context.Background(), "print(1)", daytona.WithCodeEnv(map[string]string{"NOT-A-NAME": "x"}))
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	var se *sandagent.Error
	require.True(t, errors.As(err, &se))
	require.Equal(t, http.StatusBadRequest, se.Status)
}

func TestRunCodeWithoutTheInterpreter(t *testing.T) {
	if _, err := exec.LookPath("ts-node"); err == nil {
		t.Skip("ts-node is installed")
	}
	_, ctl := codeControl(t)
	res, err := ctl.RunCode(context.Background(), "console.log(1)", daytona.WithCodeLanguage("typescript"))
	require.NoError(t, err, "a run that fails is a result")
	require.Equal(t, 127, res.ExitCode)
	require.Contains(t, res.Output, "not found")
}
