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
