package sandbase

import "github.com/sandagent/sandagent/internal/keylock"

// WithOwnLocks makes the Sandbox take turns with no other Sandbox of this
// process, as if it ran in a process of its own.
func WithOwnLocks() Option {
	return func(c *config) error { c.locks = new(keylock.Map); return nil }
}
