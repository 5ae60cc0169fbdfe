package daytona

import "time"

// FastPolls makes waits poll every millisecond, for tests driven by the
// emulator's read-count transitions.
func FastPolls() Option {
	return func(s *Sandbox) error {
		s.pollMin, s.pollMax = time.Millisecond, 5*time.Millisecond
		return nil
	}
}

// PageSize sets how many sandboxes Managed asks for per page.
func PageSize(n int) Option {
	return func(s *Sandbox) error { s.pageSize = n; return nil }
}
