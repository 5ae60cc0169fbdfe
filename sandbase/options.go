package sandbase

import (
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
)

// Option configures a Sandbox (and Kill).
type Option func(*config) error

// config gathers the options of package e2b's client that New is built
// on.
type config struct{ opts []e2b.Option }

// opt adds an option of package e2b's client, checked at once (against a
// scratch configuration) so that a bad value is reported by the option
// that carries it.
func opt(o e2b.Option) Option {
	return func(c *config) error {
		if err := o(new(e2b.Sandbox)); err != nil {
			return err
		}
		c.opts = append(c.opts, o)
		return nil
	}
}

// WithName attaches by name: see the package documentation. A name is 1 to
// 128 bytes of UTF-8 without control characters.
func WithName(name string) Option { return opt(e2b.WithName(name)) }

// WithID reattaches by the id that Handle.ID returned.
func WithID(id string) Option {
	return func(c *config) error {
		if !validID(id) {
			return sandagent.Errorf(sandagent.ErrInvalid, "sandbox id %q: want %s", id, service.IDForm)
		}
		c.opts = append(c.opts, e2b.WithID(id))
		return nil
	}
}

// WithCreateIfMissing makes an Attach by id whose sandbox is gone create a
// new one instead of failing with ErrNotFound. Handle.ID then differs.
func WithCreateIfMissing() Option { return opt(e2b.WithCreateIfMissing()) }

// WithTemplate sets the template of sandboxes Attach creates (default
// $SANDBASE_TEMPLATE; there is no other default: templates belong to the
// organization).
func WithTemplate(template string) Option { return opt(e2b.WithTemplate(template)) }

// WithTimeout sets how long a sandbox runs after Attach creates, connects
// to or resumes it (default 300 s, whole seconds, rounded up): a resume
// counts it afresh. Handle.SetTimeout moves it.
func WithTimeout(d time.Duration) Option { return opt(e2b.WithTimeout(d)) }

// WithEnv sets environment variables for every command of a sandbox Attach
// creates.
func WithEnv(env map[string]string) Option { return opt(e2b.WithEnv(env)) }

// WithMetadata adds metadata to a sandbox Attach creates. The keys
// sandagent.name and sandagent.managed are this package's and cannot be set.
func WithMetadata(md map[string]string) Option { return opt(e2b.WithMetadata(md)) }

// WithAPIKey sets the API key (default $SANDBASE_API_KEY). It never
// appears in errors or logs.
func WithAPIKey(key string) Option { return opt(e2b.WithAPIKey(key)) }

// WithDomain sets the sandbox service's domain (default $SANDBASE_DOMAIN,
// else sandbox.sandbase.ai): the control plane is https://<domain>, envd
// https://49983-<id>.<domain>.
func WithDomain(domain string) Option { return opt(e2b.WithDomain(domain)) }

// WithAPIURL sets the control plane's base URL (default $SANDBASE_API_URL,
// else https://<domain>).
func WithAPIURL(u string) Option { return opt(e2b.WithAPIURL(u)) }

// WithSandboxURL sends every envd request (commands and files) to this base
// URL, routed by the E2b-Sandbox-Id header (default $SANDBASE_SANDBOX_URL,
// else derived from the domain).
func WithSandboxURL(u string) Option { return opt(e2b.WithSandboxURL(u)) }

// WithHTTPClient sets the HTTP client for every request. Its Timeout must be
// zero: command output streams for as long as the command runs.
func WithHTTPClient(c *http.Client) Option { return opt(e2b.WithHTTPClient(c)) }

// WithTracerProvider traces Attach, the Handle's operations and each HTTP
// request with tp (default: the global TracerProvider, a no-op until the
// program installs one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return opt(e2b.WithTracerProvider(tp))
}

// WithLogger logs every operation and request at debug level (default: no
// logging). Keys and tokens are never logged.
func WithLogger(l *slog.Logger) Option { return opt(e2b.WithLogger(l)) }
