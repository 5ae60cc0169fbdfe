package sandagent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"sync"
)

// Sandbox is a sandbox as its provider package configures it: a name or an
// id to attach to, and what to create when there is nothing to attach to.
// Each provider package has a New function that returns one.
type Sandbox interface {
	// Attach finds the configured sandbox and attaches to it, resuming or
	// starting it if needed, or creates it, following the provider's reuse
	// rule. Handle.Outcome says which happened.
	Attach(ctx context.Context) (*Handle, error)
}

// Outcome says how Attach obtained its sandbox.
type Outcome int

const (
	// Created: no sandbox matched, so a new one was created.
	Created Outcome = iota + 1
	// Reused: a running sandbox matched and was attached as it was.
	Reused
	// Resumed: a paused sandbox matched and was resumed, memory intact.
	Resumed
	// Started: a stopped or archived sandbox matched and was started again;
	// its files are intact where the provider keeps them (Sandock keeps only
	// its volumes'), its processes are not.
	Started
)

// String returns the outcome in lower case, as in logs: "created", ...
func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Reused:
		return "reused"
	case Resumed:
		return "resumed"
	case Started:
		return "started"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// State is a sandbox's lifecycle state, as Handle.State reports it.
type State string

// The states. Providers map their own vocabularies onto these.
const (
	StateStarting  State = "starting"  // being created, started or resumed
	StateRunning   State = "running"   // accepts commands
	StatePaused    State = "paused"    // memory and files kept; Attach resumes it
	StateStopped   State = "stopped"   // files kept, processes gone; Attach starts it
	StateArchived  State = "archived"  // files in cold storage; Attach starts it
	StateError     State = "error"     // the provider reports a failure
	StateDestroyed State = "destroyed" // gone for good
)

// An Opener makes a Sandbox from a URL whose scheme it registered. The URL's
// host is the sandbox name, and its query holds the provider's options.
type Opener func(u *url.URL) (Sandbox, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a provider available to Open under scheme. Provider
// packages call it from init; it panics if scheme is registered twice, like
// database/sql.Register.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("sandagent: Register opener is nil")
	}
	if _, dup := registry[scheme]; dup {
		panic("sandagent: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open attaches to the sandbox a URL describes, such as
// "local://my-project" or "local://my-project?timeout=10m". The scheme's
// provider package must be imported (it registers the scheme), often for its
// side effect only:
//
//	import _ "github.com/sandagent/sandagent/local"
//
// A serverless handler can so be configured by one environment variable. A
// bad URL is an ErrInvalid error that names the bad part.
func Open(ctx context.Context, rawURL string) (*Handle, error) {
	sb, err := FromURL(rawURL)
	if err != nil {
		return nil, err
	}
	return sb.Attach(ctx)
}

// FromURL returns the Sandbox configuration a URL describes, without
// attaching: Open is FromURL then Attach. Use it to reach what a provider's
// Sandbox offers besides Attach, such as Manager.
func FromURL(rawURL string) (Sandbox, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Report the parser's reason only: the URL itself may carry a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &Error{Op: "open", Kind: ErrInvalid, Message: fmt.Sprintf("malformed URL: %v", err)}
	}
	if u.Scheme == "" {
		return nil, &Error{Op: "open", Kind: ErrInvalid, Message: fmt.Sprintf("URL has no scheme (registered: %v)", Schemes())}
	}
	registryMu.RLock()
	open := registry[u.Scheme]
	registryMu.RUnlock()
	if open == nil {
		return nil, &Error{Op: "open", Kind: ErrInvalid, Message: fmt.Sprintf("unknown scheme %q (registered: %v; import the provider package)", u.Scheme, Schemes())}
	}
	sb, err := open(u)
	if err != nil {
		return nil, WrapError(u.Scheme, "open", err)
	}
	return sb, nil
}
