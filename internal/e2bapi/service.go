package e2bapi

// Service is an E2B-compatible service as a provider built on package e2b
// sees it: its dialect, its defaults and the environment variables read
// when an option is not given.
type Service struct {
	Dialect
	// The environment variables of the API key, the domain, the control
	// plane's URL, envd's base URL and the template ("": none).
	KeyEnv, DomainEnv, APIURLEnv, SandboxURLEnv, TemplateEnv string
	DefaultDomain                                            string
	// APIAtDomain: the control plane is at https://<domain> when no URL
	// is given, not at E2B's https://api.<domain>.
	APIAtDomain bool
	// DefaultTemplate is the template of created sandboxes when none is
	// given; "" makes New fail when Attach may create.
	DefaultTemplate string
	// ValidID accepts the service's sandbox ids; IDForm says what they
	// look like, for errors.
	ValidID func(string) bool
	IDForm  string
}
