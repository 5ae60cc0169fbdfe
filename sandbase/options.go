package sandbase

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// Option configures a Sandbox (and Kill).
type Option func(*Sandbox) error

// WithName attaches by name: see the package documentation. A name is 1 to
// 128 bytes of UTF-8 without control characters.
func WithName(name string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckText("name", name); err != nil {
			return err
		}
		s.name = name
		return nil
	}
}

// WithID reattaches by the id that Handle.ID returned ("sbx_" and letters
// or digits).
func WithID(id string) Option {
	return func(s *Sandbox) error {
		if !validID(id) {
			return invalidID(id)
		}
		s.id = id
		return nil
	}
}

// validID accepts SandBase's ids: "sbx_" and letters or digits, such as
// sbx_a1b2c3d4e5f6.
func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, "sbx_")
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func invalidID(id string) error {
	return sandagent.Errorf(sandagent.ErrInvalid, "sandbox id %q: want sbx_ and letters or digits", id)
}

// WithTemplate sets the template of sandboxes Attach creates (default
// "base"; SandBase also has code_interpreter, claude, codex, hermes-agent,
// opencode and desktop).
func WithTemplate(template string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckText("template", template); err != nil {
			return err
		}
		s.template = template
		return nil
	}
}

// WithTimeout sets how long a sandbox runs after Attach creates, connects
// to or resumes it (default 300 s, whole seconds, rounded up): a resume
// counts it afresh. At the end SandBase stops it for good.
// Handle.SetTimeout moves it.
func WithTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "timeout %s is not positive", d)
		}
		s.timeout = d
		return nil
	}
}

// WithEnv sets environment variables for every command of a sandbox Attach
// creates.
func WithEnv(env map[string]string) Option {
	return func(s *Sandbox) error {
		var err error
		s.env, err = sandagent.AddEnv(s.env, env)
		return err
	}
}

// WithMetadata adds metadata to a sandbox Attach creates. The keys
// sandagent.name and sandagent.managed are this package's and cannot be set.
func WithMetadata(md map[string]string) Option {
	return func(s *Sandbox) error {
		var err error
		s.metadata, err = e2bapi.AddMetadata(s.metadata, md)
		return err
	}
}

// WithAPIKey sets the API key (default $SANDBASE_API_KEY), an "sk-sb-" key.
// It never appears in errors or logs.
func WithAPIKey(key string) Option {
	return func(s *Sandbox) error {
		if key == "" || strings.ContainsAny(key, "\r\n") {
			return sandagent.Errorf(sandagent.ErrInvalid, "API key is empty or malformed")
		}
		s.apiKey = key
		return nil
	}
}

// WithAPIURL sets the API's base URL (default $SANDBASE_API_URL, else
// https://api.sandbase.ai).
func WithAPIURL(u string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckURL("API URL", u); err != nil {
			return err
		}
		s.apiURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client for every request. Its Timeout must be
// zero or longer than any command: a command's request lasts as long as the
// command.
func WithHTTPClient(c *http.Client) Option {
	return func(s *Sandbox) error {
		if c == nil {
			return sandagent.Errorf(sandagent.ErrInvalid, "nil HTTP client")
		}
		s.hc = c
		return nil
	}
}

// WithLogger logs every operation and request at debug level (default: no
// logging). Keys are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Sandbox) error { s.logger = l; return nil }
}

// WithConvergenceWindow sets how long a new sandbox may take to show in
// SandBase's list (default 2 s, or SANDAGENT_CONVERGENCE_WINDOW): an Attach
// by name hands out a sandbox younger than this only after listing again
// once it is this old, so that every caller attaching the name ends with
// the same one. 0 trusts the list to show every sandbox at once.
func WithConvergenceWindow(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d < 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "convergence window %s: want 0 or more", d)
		}
		s.window = d
		return nil
	}
}
