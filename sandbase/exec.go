package sandbase

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// execRequest is the body of POST /sandboxes/{id}/processes.
type execRequest struct {
	Cmd     string            `json:"cmd"`
	Args    []string          `json:"args"`
	EnvVars map[string]string `json:"envVars,omitempty"`
	Cwd     string            `json:"cwd,omitempty"`
	Timeout int32             `json:"timeout,omitempty"` // seconds; SandBase's default is 60
}

// execResult is its answer: the command has ended.
type execResult struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exitCode"`
}

// Start runs c with one POST /processes, which answers when the command
// has ended; the output is then written to c.Stdout and c.Stderr.
func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	if c.Stdin != nil {
		return nil, sandagent.Errorf(sandagent.ErrUnsupported, "SandBase cannot send input to a command")
	}
	id := rand.Text()
	env := maps.Clone(c.Env)
	if env == nil {
		env = map[string]string{}
	}
	env[markerEnv] = id
	req := execRequest{EnvVars: env, Cwd: c.Dir}
	if c.Shell != "" {
		req.Cmd, req.Args = "/bin/sh", []string{"-c", c.Shell}
	} else {
		req.Cmd, req.Args = c.Args[0], c.Args[1:]
	}
	if dl, ok := ctx.Deadline(); ok {
		req.Timeout = max(e2bapi.Seconds(time.Until(dl)), 1)
	}
	p := &proc{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.code, p.err = h.run(ctx, req, c.Stdout, c.Stderr)
		if p.err != nil && p.err == ctx.Err() {
			h.kill(ctx, markerEnv+"="+id)
		}
	}()
	return p, nil
}

// run sends the request and delivers the output.
func (h *handle) run(ctx context.Context, req execRequest, stdout, stderr io.Writer) (int, error) {
	var out execResult
	r, err := h.api.R(ctx).SetBody(req).Post(h.path("/processes"))
	if err != nil && ctx.Err() != nil {
		return -1, ctx.Err() // the request is abandoned: see kill
	}
	if err := h.api.Check("exec", r, err); err != nil {
		return -1, execErr(err)
	}
	if err := decode("exec", r, &out, "command result"); err != nil {
		return -1, err
	}
	_, _ = io.WriteString(stdout, out.Stdout)
	_, _ = io.WriteString(stderr, out.Stderr)
	return out.ExitCode, nil
}

// markerEnv is the environment variable that tags every process of one
// command, so that it can be found when it must be killed.
const markerEnv = "SANDAGENT_EXEC"

// killScript kills with SIGKILL every process whose environment holds $1
// (a command's marker), then waits until they are gone (reaped), for up to
// two seconds. It needs /proc, as every SandBase sandbox (Linux) has.
const killScript = `pids=
for e in /proc/[0-9]*/environ; do
	if tr '\0' '\n' < "$e" 2>/dev/null | grep -qxF -- "$1"; then p=${e#/proc/}; pids="$pids ${p%/environ}"; fi
done
[ -z "$pids" ] && exit 0
kill -9 $pids 2>/dev/null
i=0
for p in $pids; do
	while [ $i -lt 100 ] && kill -0 "$p" 2>/dev/null; do sleep 0.02; i=$((i+1)); done
done
exit 0`

// kill kills the processes of a command whose ctx ended: SandBase cannot
// kill a command through its API (a request that goes away may or may not
// end it), so a second command finds them by their marker and kills them.
// It is best effort: a failure is ignored.
func (h *handle) kill(ctx context.Context, marker string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req := execRequest{Cmd: "/bin/sh", Args: []string{"-c", killScript, "sh", marker}, Timeout: 10}
	_, _ = h.api.R(ctx).SetBody(req).Post(h.path("/processes"))
}

// execErr classifies SandBase's 502, which means that the command could not
// be run or timed out.
func execErr(err error) error {
	var e *sandagent.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Kind != nil {
		return err
	}
	msg := strings.ToLower(e.Message)
	switch {
	case strings.Contains(msg, "timed out"), strings.Contains(msg, "timeout"):
		e.Kind = sandagent.ErrTimeout
	case strings.Contains(msg, "not found"), strings.Contains(msg, "no such file"):
		// The program is missing: the Handle makes it exit 127.
		e.Kind, e.Err = sandagent.ErrNotFound, driver.ErrProgramNotFound
	}
	return e
}

// proc is a command whose request is in flight.
type proc struct {
	done chan struct{}
	code int
	err  error
}

// PID is 0: SandBase tells the process id only when the command has ended.
func (p *proc) PID() int { return 0 }

func (p *proc) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}
