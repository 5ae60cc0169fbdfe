package e2b

import "time"

// WithKeepalivePing sets the keepalive interval asked of envd on output
// streams, and so their stall bound (StallBound of it).
func WithKeepalivePing(d time.Duration) Option {
	return func(s *Sandbox) error { s.keepalive = d; return nil }
}

// StallBound is how long a stream may stay silent for keepalive interval d.
var StallBound = stallBound
