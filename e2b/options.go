package e2b

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// Option configures a Sandbox (and List).
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

// WithID reattaches by the id that Handle.ID returned.
func WithID(id string) Option {
	return func(s *Sandbox) error {
		if !s.svc.ValidID(id) {
			return sandagent.Errorf(sandagent.ErrInvalid, "sandbox id %q: want %s", id, s.svc.IDForm)
		}
		s.id = id
		return nil
	}
}

// validID accepts E2B's ids ("i" and 20 letters or digits today) and the
// legacy "<id>-<clientID>" form the API still takes.
func validID(id string) bool {
	a, b, composite := strings.Cut(id, "-")
	return lowerAlnum(a) && (!composite || lowerAlnum(b))
}

func lowerAlnum(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}

// WithCreateIfMissing makes an Attach by id whose sandbox is gone create a
// new one instead of failing with ErrNotFound. Handle.ID then differs.
func WithCreateIfMissing() Option {
	return func(s *Sandbox) error { s.createIfMissing = true; return nil }
}

// WithTemplate sets the template of sandboxes Attach creates (default
// "base"): an id or a name, "namespace/alias[:tag]" accepted.
func WithTemplate(template string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckText("template", template); err != nil {
			return err
		}
		s.template = template
		return nil
	}
}

// WithTimeout sets how long a sandbox lives after Attach creates or
// connects to it (default 300 s, whole seconds, rounded up). At the end it is
// killed, or paused with WithAutoPause. Handle.SetTimeout moves it.
func WithTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 {
			return sandagent.Errorf(sandagent.ErrInvalid, "timeout %s is not positive", d)
		}
		s.timeout = d
		return nil
	}
}

// WithAutoPause makes a created sandbox pause instead of being killed when
// its timeout ends, so that the next Attach resumes it.
func WithAutoPause() Option {
	return func(s *Sandbox) error { s.autoPause = true; return nil }
}

// WithAutoResume makes a created sandbox resume by itself when traffic
// reaches it while paused. It needs WithAutoPause.
func WithAutoResume() Option {
	return func(s *Sandbox) error { s.autoResume = true; return nil }
}

// WithAutoPauseMemory says whether the auto-pause of WithAutoPause keeps
// memory (default true: running processes survive). With false it keeps the
// filesystem only and the resume boots the sandbox afresh; such a sandbox
// cannot auto-resume, so it excludes WithAutoResume.
func WithAutoPauseMemory(on bool) Option {
	return func(s *Sandbox) error { s.autoPauseMemory = &on; return nil }
}

// WithResumeMemory says whether an Attach that resumes a paused sandbox
// restores its memory (default true: running processes go on). With false
// the sandbox boots afresh from its disk state: files are kept, processes
// and memory are not (E2B's connect with memory=false).
func WithResumeMemory(on bool) Option {
	return func(s *Sandbox) error { s.resumeMemory = &on; return nil }
}

// Network is E2B's network configuration of a created sandbox: allowed and
// denied egress destinations, whether its ports are public, the host mask.
type Network = e2bapi.Network

// WithNetwork sets the network configuration of created sandboxes.
func WithNetwork(n Network) Option {
	return func(s *Sandbox) error { s.network = &n; return nil }
}

// WithVolume mounts the E2B volume name at path in created sandboxes. It
// may be given more than once.
func WithVolume(name, path string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckText("volume name", name); err != nil {
			return err
		}
		if !strings.HasPrefix(path, "/") {
			return sandagent.Errorf(sandagent.ErrInvalid, "volume path %q: want an absolute path", path)
		}
		s.volumes = append(s.volumes, e2bapi.VolumeMount{Name: name, Path: path})
		return nil
	}
}

// WithEnv sets environment variables for every command of a sandbox Attach
// creates.
func WithEnv(env map[string]string) Option {
	return func(s *Sandbox) (err error) {
		s.env, err = sandagent.AddEnv(s.env, env)
		return err
	}
}

// WithMetadata adds metadata to a sandbox Attach creates, for List to find
// it by (a user id, say). The keys sandagent.name and sandagent.managed are
// this package's and cannot be set.
func WithMetadata(md map[string]string) Option {
	return func(s *Sandbox) error {
		var err error
		s.metadata, err = e2bapi.AddMetadata(s.metadata, md)
		return err
	}
}

// WithSecure says whether created sandboxes require the envd access token
// (default true, as the SDKs). It matters only on a service that serves
// just the v1 create route: v2 always secures the sandbox.
func WithSecure(on bool) Option {
	return func(s *Sandbox) error { s.secure = on; return nil }
}

// WithAPIKey sets the API key (default $E2B_API_KEY). It never appears in
// errors or logs.
func WithAPIKey(key string) Option {
	return func(s *Sandbox) error {
		if key == "" || strings.ContainsAny(key, "\r\n") {
			return sandagent.Errorf(sandagent.ErrInvalid, "API key is empty or malformed")
		}
		s.apiKey = key
		return nil
	}
}

// WithDomain sets E2B's domain (default $E2B_DOMAIN, else "e2b.app").
func WithDomain(domain string) Option {
	return func(s *Sandbox) error {
		if domain == "" || strings.ContainsAny(domain, "/:?#@ ") {
			return sandagent.Errorf(sandagent.ErrInvalid, "domain %q: want a host name such as e2b.app", domain)
		}
		s.domain = domain
		return nil
	}
}

// WithAPIURL sets the control plane's base URL (default $E2B_API_URL, else
// https://api.<domain>).
func WithAPIURL(u string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckURL("API URL", u); err != nil {
			return err
		}
		s.apiURL = u
		return nil
	}
}

// WithSandboxURL sends every envd request (commands and files) to this base
// URL, routed by the E2b-Sandbox-Id header (default $E2B_SANDBOX_URL, else
// derived from the domain).
func WithSandboxURL(u string) Option {
	return func(s *Sandbox) error {
		if err := e2bapi.CheckURL("sandbox URL", u); err != nil {
			return err
		}
		s.sandboxURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client for every request. Its Timeout must be
// zero: command output streams for as long as the command runs.
func WithHTTPClient(c *http.Client) Option {
	return func(s *Sandbox) error {
		if c == nil {
			return sandagent.Errorf(sandagent.ErrInvalid, "nil HTTP client")
		}
		s.hc = c
		return nil
	}
}

// WithTracerProvider traces Attach, the Handle's operations and each HTTP
// request with tp (default: the global TracerProvider, a no-op until the
// program installs one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Sandbox) error { s.tp = tp; return nil }
}

// WithLogger logs every operation and request at debug level (default: no
// logging). Keys and tokens are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Sandbox) error { s.logger = l; return nil }
}
