// Package e2bemu is what an emulator of an E2B-compatible service changes
// in package e2btest's emulator: this module's emulators of such services
// (sandbasetest) are e2btest's server under a Dialect. A zero field keeps
// E2B's behaviour.
package e2bemu

import "time"

// Dialect is a service's difference from E2B, as its emulator plays it.
type Dialect struct {
	// Authenticate checks an X-API-Key value against the accepted key and
	// returns the 401 message, or "" when it is accepted.
	Authenticate func(key, accepted string) string
	// NewAPIKey makes the accepted key when none is given.
	NewAPIKey func() string
	// ClientID is the deprecated clientID of sandbox objects.
	ClientID string
	// NoLegacy serves neither the v1 list (GET /sandboxes), /resume nor
	// /refreshes.
	NoLegacy bool
	// ConnectAlways200: connect answers 200 whether it resumed the sandbox
	// or found it running.
	ConnectAlways200 bool
	// TokenPerConnect gives a secure sandbox a new envdAccessToken on
	// every connect (the old one stops working).
	TokenPerConnect bool
	// MaxLifetime is how long a sandbox may run without a pause (E2B: the
	// team's 24 hours). A keep-alive past it is cut to it.
	MaxLifetime time.Duration
	// CutTimeout cuts a create's timeout past MaxLifetime to it; E2B
	// refuses it (400).
	CutTimeout bool
	// NotFound is the 404 message for an unknown sandbox id.
	NotFound func(id string) string
	// NotActive is the 409 message of a keep-alive (set-timeout) of a
	// sandbox that is not running; "" answers E2B's 404.
	NotActive string
	// LifetimeExceeded is the 409 message of a keep-alive or connect of a
	// sandbox at the end of its lifetime ("" answers E2B's 400), and of any
	// request but DELETE for a sandbox killed when its lifetime ran out.
	LifetimeExceeded string
	// AlreadyPaused is the 409 message of pausing a paused sandbox.
	AlreadyPaused func(id string) string
	// UnknownTemplate is the status and message of a create from a template
	// that does not exist.
	UnknownTemplate func(name string) (int, string)
	// Admit, when set, is asked before a create: a non-zero status refuses
	// it with that status and message (402 "insufficient balance").
	Admit func() (int, string)
}
