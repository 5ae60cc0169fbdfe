// Package sandbase is the SandBase provider: sandboxes on SandBase's
// sandbox service (sandbox.sandbase.ai), or on any service that speaks it,
// such as the sandbasetest emulator.
//
// SandBase's current sandbox service speaks E2B's own protocol: E2B's
// control plane at https://sandbox.sandbase.ai (POST /v2/sandboxes, GET
// /v2/sandboxes, POST /v2/sandboxes/{id}/connect; GET and DELETE
// /sandboxes/{id}, POST /sandboxes/{id}/pause and /timeout; X-API-Key) and
// envd inside each sandbox at https://49983-<id>.sandbox.sandbase.ai
// (Process RPC, Filesystem RPC, /files, with the envdAccessToken). Its
// quickstart drives it with the official E2B SDK 2.51.0. This package is
// therefore package e2b's client under SandBase's name, defaults and
// dialect: commands stream their output live, take stdin and signals,
// files stream both ways, exactly as on E2B (see package e2b for those
// rules and for how errors are classified).
//
// Sources: SandBase's docs repository (sandbaseai/sandbase-docs): the
// Sandbox quickstart and index pages (sandbox/quickstart.md,
// sandbox/index.md), the docs site's Sandbox Playground client, proxy and
// tests (.vitepress/theme/sandbox-client.mjs, worker/sandbox-proxy.js,
// scripts/test-sandbox-playground.mjs), the API key page
// (getting-started/api-keys.md) and the API error page
// (api-reference/errors.md).
//
// # Reuse rule
//
// As package e2b's. WithName attaches by name: the name is stored in the
// sandbox's metadata under "sandagent.name" (with "sandagent.managed" =
// "true"); Attach lists the running and paused sandboxes (GET
// /v2/sandboxes?state=running,paused with E2B's metadata filter, every
// page), keeps those whose metadata carries the name (on the client too:
// whether SandBase applies the filter is unverified), picks the oldest and
// connects to it, which resumes it if it is paused (Outcome Resumed, memory
// and processes intact) or extends its timeout (Outcome Reused). With no
// match it creates one (Outcome Created). WithID reattaches by id from any
// process. Lookups fail closed; a sandbox an Attach created and then failed
// is destroyed.
//
// Attach makes two requests by name when the sandbox exists (list,
// connect) and two by id (get, connect: see below); creating by name takes
// three (list, create, list). A command is one stream.
//
// Persistence is one-to-one: Pause keeps files and memory (running
// processes go on after the resume), the next Attach resumes that same
// sandbox with the timeout of WithTimeout counted afresh, and Destroy (or
// Kill, by id) deletes it without resuming it.
//
// # Where SandBase differs from E2B, with the source of each point
//
//   - Endpoint: API URL and domain are both sandbox.sandbase.ai (the
//     quickstart sets E2B_API_URL=https://sandbox.sandbase.ai and
//     E2B_DOMAIN=sandbox.sandbase.ai); envd is reached per sandbox at
//     49983-<id>.<domain>. SANDBASE_API_KEY, SANDBASE_DOMAIN,
//     SANDBASE_API_URL, SANDBASE_SANDBOX_URL and SANDBASE_TEMPLATE are read
//     when the matching option is not given.
//   - Keys: "sk-" and 64 hexadecimal digits, or older "sk-sb-..." keys,
//     sent as X-API-Key (api-keys.md: "do not use the prefix alone to
//     validate a credential"; the playground and quickstart send
//     X-API-Key). No prefix is checked here; a missing key makes New fail
//     with ErrAuth.
//   - Connect answers 200 whether it resumed the sandbox or found it
//     running, with a new envdAccessToken each time (the playground's
//     tests). So Attach tells Resumed from Reused by the state seen before
//     connecting: by name the list gives it; by id Attach asks GET
//     /sandboxes/{id} first, one request more than on E2B (were SandBase
//     to answer 201 on a resume, as E2B does, that is read too).
//   - Templates belong to the organization ("do not assume ... the SDK
//     default base is available", quickstart): there is no default. An
//     Attach that may create (with no WithID, or with WithCreateIfMissing)
//     fails with ErrInvalid, before any request, without WithTemplate or
//     SANDBASE_TEMPLATE.
//   - Ids: the playground's proxy accepts letters, digits, '_' and '-', at
//     most 128; WithID accepts those.
//   - Errors (errors.md): 409 "sandbox is not active" (a keep-alive of a
//     sandbox that is not running) and 409 "sandbox maximum lifetime
//     exceeded" are ErrState; pausing a paused sandbox (409, no message
//     documented) is not an error when the message says "already paused",
//     else ErrState; 402 "insufficient balance" is an error with that
//     message and status; 429 "rate limit exceeded" comes without
//     Retry-After and is ErrRateLimited after the usual backoff retries of
//     idempotent requests.
//   - SandBase has no stop: Handle.Stop is ErrUnsupported. Auto-pause,
//     auto-resume, network rules and volumes are not offered (SandBase does
//     not document them).
//
// Unverified (no source states it): whether the service applies the
// metadata filter; whether connect ever answers 201; the sandbox id
// format; the envdVersion and domain in create and connect answers;
// Bearer authentication on sandbox.sandbase.ai; the messages for commands
// and files in a paused sandbox (envd's proxy: ErrState here, as on E2B).
//
// The archived api.sandbase.ai dialect (status instead of state, REST
// /processes and /filesystem, Bearer keys, sbx_ ids) is not supported any
// more: it lives only in pages SandBase archived, and keeping a second
// client and emulator for it is not cheap.
//
// # URLs
//
// The package registers the sandbase scheme for sandagent.Open:
//
//	sandbase://my-project?template=base&timeout=10m
//	sandbase://?id=i1a2b3c4d5e6f7g8h9i0j
//
// The host is the name (WithName). Query parameters: id, template, timeout
// (a Go duration), create (WithCreateIfMissing), domain and
// meta.<key>=<value> (WithMetadata); any other is ErrInvalid. The API key
// and URLs come from the environment: a URL is no place for a key.
package sandbase

import (
	"context"
	"iter"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// ProviderName is the provider's name, as Handle.Provider reports it.
const ProviderName = "sandbase"

// Metadata keys this package sets on every sandbox it creates.
const (
	NameKey    = e2bapi.NameKey    // the name given with WithName
	ManagedKey = e2bapi.ManagedKey // "true"
)

// SandBase's defaults.
const (
	DefaultTimeout = 300 * time.Second
	DefaultDomain  = "sandbox.sandbase.ai"
	userAgent      = "sandagent-sandbase-go"
)

// service is SandBase's sandbox service as package e2b's client sees it.
var service = e2bapi.Service{
	Dialect: e2bapi.Dialect{
		Provider:         ProviderName,
		UserAgent:        userAgent,
		ConflictIsState:  true,
		ConnectAlways200: true,
	},
	KeyEnv:        "SANDBASE_API_KEY",
	DomainEnv:     "SANDBASE_DOMAIN",
	APIURLEnv:     "SANDBASE_API_URL",
	SandboxURLEnv: "SANDBASE_SANDBOX_URL",
	TemplateEnv:   "SANDBASE_TEMPLATE",
	DefaultDomain: DefaultDomain,
	APIAtDomain:   true,
	ValidID:       validID,
	IDForm:        "letters, digits, '_' and '-', at most 128",
}

// validID accepts what SandBase's proxy accepts: [A-Za-z0-9_-]{1,128}.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Sandbox is a SandBase sandbox configuration. Attach may be called many
// times, from many goroutines.
type Sandbox struct {
	sb *e2b.Sandbox
}

var _ sandagent.Manager = (*Sandbox)(nil)

// New returns a SandBase Sandbox configuration. It does no I/O.
func New(opts ...Option) (*Sandbox, error) {
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, sandagent.WrapError(ProviderName, "new", err)
		}
	}
	sb, err := e2b.NewService(service, c.opts...)
	if err != nil {
		return nil, err
	}
	return &Sandbox{sb: sb}, nil
}

// Attach attaches to the configured sandbox, or creates it. See the package
// documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) { return s.sb.Attach(ctx) }

// Managed lists the running and paused sandboxes labelled
// sandagent.managed=true (GET /v2/sandboxes, every page, filtered on the
// client too), for sandagent.Reap. CreatedAt is the sandbox's startedAt,
// which a resume moves forward.
func (s *Sandbox) Managed(ctx context.Context) iter.Seq2[sandagent.Info, error] {
	return s.sb.Managed(ctx)
}

// Kill deletes the sandbox id for good, without attaching to it (one
// DELETE; a paused sandbox is not resumed first). A sandbox already gone is
// not an error.
func (s *Sandbox) Kill(ctx context.Context, id string) error {
	if !validID(id) {
		return sandagent.WrapError(ProviderName, "kill", sandagent.Errorf(sandagent.ErrInvalid, "sandbox id %q: want %s", id, service.IDForm))
	}
	return s.sb.Kill(ctx, id)
}

// Kill deletes the sandbox with this id for good, without attaching to it:
// one DELETE. A sandbox already gone is not an error. The options are
// New's: the API key, URLs, HTTP client and logger are used, the others
// ignored.
func Kill(ctx context.Context, id string, opts ...Option) error {
	s, err := New(opts...)
	if err != nil {
		return sandagent.WrapError(ProviderName, "kill", err)
	}
	return s.Kill(ctx, id)
}

// Native is what Handle.As gives for a SandBase handle: package e2b's
// Native (the sandbox id, template, envd version and access token, ports'
// hosts, Move, ConnectProcess, ListProcesses).
type Native = e2b.Native
