package daytona

import (
	"context"
	"math"
	"net/http"
	"time"

	toolbox "github.com/daytonaio/daytona/libs/toolbox-api-client-go"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// codeRunGrace is how long RunCode waits past WithCodeTimeout for the
// toolbox's own timeout answer before it gives up itself.
const codeRunGrace = 10 * time.Second

// CodeResult is what running a snippet gave.
type CodeResult struct {
	// ExitCode is the interpreter's exit status; -1 when the toolbox could
	// not start or wait for it.
	ExitCode int
	// Output is the interpreter's stdout and stderr, interleaved as
	// written, without the toolbox's artifact lines.
	Output string
	// Charts are the charts the code drew (Python code using matplotlib).
	Charts []Chart
}

// Chart is one chart a run produced.
type Chart struct {
	Type, Title string
	// PNG is the rendered chart, base64-encoded as the toolbox sends it.
	PNG string
	// Raw is the chart as the toolbox describes it (axes, ticks, elements).
	Raw toolbox.Chart
}

// CodeOption configures one RunCode call.
type CodeOption func(*codeRun) error

type codeRun struct {
	lang    string
	argv    []string
	env     map[string]string
	timeout time.Duration
}

// WithCodeLanguage sets the snippet's language: python, javascript or
// typescript. The default is the sandbox's code-toolbox-language label, or
// python.
func WithCodeLanguage(lang string) CodeOption {
	return func(c *codeRun) error {
		if !validLanguage(lang) {
			return invalid("language %q: want python, javascript or typescript", lang)
		}
		c.lang = lang
		return nil
	}
}

// WithCodeArgs passes args to the snippet, each one exactly as given:
// sys.argv[1:] in Python; in JavaScript and TypeScript process.argv.slice(1),
// as Daytona's runner removes the script's own entry from process.argv.
func WithCodeArgs(args ...string) CodeOption {
	return func(c *codeRun) error {
		c.argv = args
		return nil
	}
}

// WithCodeEnv adds environment variables for the snippet.
func WithCodeEnv(env map[string]string) CodeOption {
	return func(c *codeRun) error {
		for k := range env {
			if k == "" {
				return invalid("empty environment variable name")
			}
		}
		c.env = env
		return nil
	}
}

// WithCodeTimeout makes the toolbox kill the snippet after d (rounded up to
// whole seconds); RunCode then returns an ErrTimeout error.
func WithCodeTimeout(d time.Duration) CodeOption {
	return func(c *codeRun) error {
		if d <= 0 {
			return invalid("code timeout %s: want a positive duration", d)
		}
		c.timeout = d
		return nil
	}
}

func validLanguage(lang string) bool {
	return lang == "python" || lang == "javascript" || lang == "typescript"
}

// RunCode runs code with the toolbox's code runner (POST /process/code-run),
// in one request, and returns its exit code and combined output. A non-zero
// exit is not an error: the toolbox reports it as a result, and so does
// RunCode, in CodeResult.ExitCode. Errors are for a snippet RunCode could
// not run (ErrInvalid options or a language the toolbox refuses), for a run
// that reached WithCodeTimeout (ErrTimeout), and for the usual request
// failures.
//
// The call is bounded by ctx and by WithCodeTimeout (plus a grace period for
// the toolbox's answer); there is no fixed client time limit. Daytona's
// toolbox does not stop a snippet when its client goes away, so without
// WithCodeTimeout a deadline of ctx is sent as the timeout (rounded up to
// whole seconds), for the toolbox to kill the snippet when the caller stops
// waiting.
func (c *Control) RunCode(ctx context.Context, code string, opts ...CodeOption) (*CodeResult, error) {
	run := codeRun{lang: c.h.lang}
	if !validLanguage(run.lang) {
		run.lang = "python"
	}
	for _, o := range opts {
		if err := o(&run); err != nil {
			return nil, wrapOp("code", err)
		}
	}
	req := toolbox.NewCodeRunRequest(code, run.lang)
	if len(run.argv) > 0 {
		// The toolbox joins argv with spaces into a shell command line.
		req.Argv = make([]string, len(run.argv))
		for i, a := range run.argv {
			req.Argv[i] = shellquote.One(a)
		}
	}
	if len(run.env) > 0 {
		req.Envs = &run.env
	}
	timeout := run.timeout
	if dl, ok := ctx.Deadline(); ok && timeout == 0 {
		timeout = max(time.Until(dl), time.Second)
	}
	if timeout > 0 {
		secs := int32(min(math.Ceil(timeout.Seconds()), math.MaxInt32))
		req.Timeout = &secs
	}
	callCtx := ctx
	if run.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, run.timeout+codeRunGrace)
		defer cancel()
	}
	res, resp, err := c.h.tb.ProcessAPI.CodeRun(callCtx).Request(*req).Execute()
	switch {
	case err == nil:
	case ctx.Err() == nil && callCtx.Err() != nil:
		return nil, wrapOp("code", sandagent.Errorf(sandagent.ErrTimeout, "the toolbox did not answer within the code timeout %s", run.timeout))
	case resp != nil && resp.StatusCode == http.StatusRequestTimeout:
		// The snippet's own timeout: never a sign of a sandbox's state.
		return nil, wrapOp("code", c.h.s.check("code", resp, err))
	default:
		return nil, wrapOp("code", c.h.tbCheck(ctx, "code", resp, err))
	}
	out := &CodeResult{ExitCode: int(res.GetExitCode()), Output: res.GetResult()}
	for _, ch := range res.GetArtifacts().Charts {
		out.Charts = append(out.Charts, Chart{Type: ch.GetType(), Title: ch.GetTitle(), PNG: ch.GetPng(), Raw: ch})
	}
	return out, nil
}
