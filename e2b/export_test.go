package e2b

import "github.com/sandagent/sandagent/internal/keylock"

// SetPageSize sets how many sandboxes one list request asks for and returns
// the function that restores it.
func SetPageSize(n int) (restore func()) {
	old := pageSize
	pageSize = n
	return func() { pageSize = old }
}

// WithOwnLocks makes the Sandbox take turns with no other Sandbox of this
// process, as if it ran in a process of its own.
func WithOwnLocks() Option {
	return func(s *Sandbox) error { s.locks = new(keylock.Map); return nil }
}
