//go:build unix

package sandbasetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
)

// Exec limits.
const (
	defaultExecTimeout = 60 * time.Second
	maxOutput          = 16 << 20 // bytes kept of each of stdout and stderr
)

type execRequest struct {
	Cmd     string            `json:"cmd"`
	Args    []string          `json:"args"`
	EnvVars map[string]string `json:"envVars"`
	Cwd     string            `json:"cwd"`
	Timeout *int64            `json:"timeout"`
}

type execResponse struct {
	ProcessID string `json:"processID"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	ExitCode  int    `json:"exitCode"`
}

// exec runs cmd (a program, with args as its arguments: no shell) to
// completion and answers with its output and exit code.
func (s *Server) exec(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	var req execRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	if req.Cmd == "" {
		writeError(w, http.StatusBadRequest, "cmd is required")
		return
	}
	timeout, ok := seconds(w, req.Timeout, defaultExecTimeout)
	if !ok {
		return
	}
	dir := hostPath(eng.Workdir(), req.Cwd)
	if _, err := eng.Resolve(dir, false); err != nil {
		s.engineError(w, sb, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	stdout, stderr := &capped{max: maxOutput}, &capped{max: maxOutput}
	p, err := eng.Spawn(ctx, engine.Cmd{
		Args: append([]string{req.Cmd}, req.Args...), Dir: dir, Env: req.EnvVars,
		Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		if !s.gone(w, sb) {
			writeError(w, http.StatusBadGateway, "failed to run command: "+message(err))
		}
		return
	}
	code, err := p.Wait()
	switch {
	case r.Context().Err() != nil:
		return // the client is gone
	case ctx.Err() != nil:
		writeError(w, http.StatusBadGateway, fmt.Sprintf("command timed out after %s", timeout))
	case s.stopped(sb):
		writeError(w, http.StatusBadGateway, "failed to run command: the sandbox was stopped")
	case err != nil:
		writeError(w, http.StatusBadGateway, "failed to run command: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, execResponse{
			ProcessID: strconv.Itoa(p.PID()), Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: code,
		})
	}
}

// stopped reports whether sb was killed or stopped.
func (s *Server) stopped(sb *sandbox) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(sb)
	return sb.status == statusStopped
}

// message is the text of err without the library's prefixes.
func message(err error) string {
	var se *sandagent.Error
	if errors.As(err, &se) && se.Message != "" {
		return se.Message
	}
	return err.Error()
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// health answers 204: the runtime of a running sandbox is healthy.
func (s *Server) health(w http.ResponseWriter, _ *http.Request, _ *sandbox, _ *engine.Sandbox) {
	w.WriteHeader(http.StatusNoContent)
}

// envs answers the environment a process in the sandbox sees, read by
// running env(1) in it.
func (s *Server) envs(w http.ResponseWriter, r *http.Request, sb *sandbox, eng *engine.Sandbox) {
	var out capped
	out.max = maxOutput
	p, err := eng.Spawn(r.Context(), engine.Cmd{Args: []string{"env", "-0"}, Stdout: &out})
	if err != nil {
		s.engineError(w, sb, err)
		return
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		writeError(w, http.StatusBadGateway, "failed to read the sandbox's environment")
		return
	}
	env := map[string]string{}
	for kv := range strings.SplitSeq(out.String(), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	writeJSON(w, http.StatusOK, env)
}

// Resources every emulated sandbox reports (SandBase's 2 vCPU / 4 GB / 10 GB).
const (
	cpuCount  = 2
	memTotal  = 4 << 30
	diskTotal = 10 << 30
)

type metricsJSON struct {
	TS          int64   `json:"ts"`
	CPUCount    int     `json:"cpu_count"`
	CPUUsedPct  float64 `json:"cpu_used_pct"`
	MemTotal    int64   `json:"mem_total"`
	MemUsed     int64   `json:"mem_used"`
	MemCache    int64   `json:"mem_cache"`
	MemTotalMiB int64   `json:"mem_total_mib"`
	MemUsedMiB  int64   `json:"mem_used_mib"`
	DiskTotal   int64   `json:"disk_total"`
	DiskUsed    int64   `json:"disk_used"`
}

// metrics answers a point-in-time snapshot: fixed CPU and memory figures
// and the real size of the sandbox's files.
func (s *Server) metrics(w http.ResponseWriter, _ *http.Request, _ *sandbox, eng *engine.Sandbox) {
	var used int64
	_ = filepath.WalkDir(eng.Workdir(), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				used += fi.Size()
			}
		}
		return nil
	})
	writeJSON(w, http.StatusOK, metricsJSON{
		TS: s.Clock.Now().Unix(), CPUCount: cpuCount, MemTotal: memTotal, MemTotalMiB: memTotal >> 20,
		DiskTotal: diskTotal, DiskUsed: used,
	})
}
