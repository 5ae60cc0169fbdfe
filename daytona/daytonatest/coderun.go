//go:build unix

package daytonatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/sandagent/sandagent/internal/engine"
)

// artifactMarker starts an output line the daemon takes out of the result
// and reads as an artifact: {"type":"chart","value":{...}}.
const artifactMarker = "dtn_artifact_k39fd2:"

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// codeCommand is the shell line the daemon pipes the snippet to (argv
// joined with spaces, unquoted, as the daemon does), and the snippet as
// that line's stdin. TypeScript goes through a temporary file; cleanup
// removes it.
func codeCommand(lang, code string, argv []string) (line string, stdin io.Reader, cleanup func(), err error) {
	args := strings.Join(argv, " ")
	switch lang {
	case "python":
		return "python3 -u - " + args, strings.NewReader(code), func() {}, nil
	case "javascript":
		return "node - " + args, strings.NewReader("process.argv.splice(1, 1);\n" + code), func() {}, nil
	case "typescript":
		f, err := os.CreateTemp("", "dtn_*.ts")
		if err != nil {
			return "", nil, nil, err
		}
		_, werr := f.WriteString("process.argv.splice(1, 1);\n" + code)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		cleanup = func() { _ = os.Remove(f.Name()) }
		if werr != nil {
			cleanup()
			return "", nil, nil, werr
		}
		return `ts-node -T --ignore-diagnostics 5107 -O '{"module":"CommonJS"}' '` + f.Name() + `' ` + args, nil, cleanup, nil
	}
	return "", nil, nil, fmt.Errorf("unsupported language: %s", lang)
}

// parseArtifacts takes the artifact lines out of output.
func parseArtifacts(output string) (string, []map[string]any) {
	var charts []map[string]any
	lines := strings.Split(output, "\n")
	kept := lines[:0]
	for _, line := range lines {
		payload, ok := strings.CutPrefix(line, artifactMarker)
		if !ok {
			kept = append(kept, line)
			continue
		}
		var a struct {
			Type  string         `json:"type"`
			Value map[string]any `json:"value"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(payload)), &a) == nil && a.Type == "chart" && a.Value != nil {
			charts = append(charts, a.Value)
		}
	}
	return strings.Join(kept, "\n"), charts
}

// codeRun serves POST /process/code-run as the daemon does: the snippet
// runs through the sandbox's shell with stdout and stderr combined; a
// non-zero exit is a 200 result; a start failure is a 200 with exitCode -1;
// reaching the timeout (seconds, on the Clock) kills the process group and
// answers 408. A missing interpreter is the shell's "not found" with exit
// code 127, as in a sandbox without it.
func (s *Server) codeRun(w http.ResponseWriter, r *http.Request, t tbCtx) {
	var req struct {
		Code     string            `json:"code"`
		Language string            `json:"language"`
		Argv     []string          `json:"argv"`
		Envs     map[string]string `json:"envs"`
		Timeout  *uint32           `json:"timeout"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	line, stdin, cleanup, err := codeCommand(req.Language, req.Code, req.Argv)
	if err != nil {
		writeToolboxErrorReq(w, r, http.StatusBadRequest, err.Error())
		return
	}
	defer cleanup()
	for k := range req.Envs {
		if !envName.MatchString(k) {
			writeToolboxErrorReq(w, r, http.StatusBadRequest, fmt.Sprintf("invalid environment variable name: '%s'", k))
			return
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var out bytes.Buffer // one writer for both: exec shares one pipe
	p, err := t.eng.Spawn(ctx, engine.Cmd{Shell: line, Stdin: stdin, Env: req.Envs, Stdout: &out, Stderr: &out})
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"exitCode": -1, "result": err.Error()})
		return
	}
	timedOut := false
	if req.Timeout != nil && *req.Timeout > 0 {
		timedOut = s.waitOnClock(p, time.Duration(*req.Timeout)*time.Second)
		if timedOut {
			cancel()
		}
	}
	code, _ := p.Wait()
	if timedOut {
		writeToolboxErrorReq(w, r, http.StatusRequestTimeout, "command execution timeout")
		return
	}
	result, charts := parseArtifacts(out.String())
	resp := map[string]any{"exitCode": code, "result": result}
	if len(charts) > 0 {
		resp["artifacts"] = map[string]any{"charts": charts}
	}
	writeJSON(w, http.StatusOK, resp)
}

// waitOnClock waits until p ends or the Clock has moved d on, and reports
// whether the time ran out first.
func (s *Server) waitOnClock(p *engine.Proc, d time.Duration) bool {
	deadline := s.now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.Done():
			return false
		case <-tick.C:
			if !s.now().Before(deadline) {
				return true
			}
		}
	}
}
