package e2b

import (
	"sync"
	"time"
)

// WithKeepalivePing sets the keepalive interval asked of envd on output
// streams, and so their stall bound (StallBound of it).
func WithKeepalivePing(d time.Duration) Option {
	return func(s *Sandbox) error { s.keepalive = d; return nil }
}

// StallBound is how long a stream may stay silent for keepalive interval d.
var StallBound = stallBound

// FakeTimers drives the stall watchdog's timers by hand: they fire only
// when Advance moves its time past their deadline, never as real time
// passes.
type FakeTimers struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*fakeTimer
	arms   int
	armed  chan struct{} // signalled at each arm
	fired  int
}

// NewFakeTimers returns FakeTimers at time 0.
func NewFakeTimers() *FakeTimers { return &FakeTimers{armed: make(chan struct{}, 1000)} }

// WithFakeTimers makes the Sandbox's stall watchdogs use f.
func WithFakeTimers(f *FakeTimers) Option {
	return func(s *Sandbox) error {
		s.afterFunc = func(d time.Duration, fn func()) timer {
			t := &fakeTimer{f: f, fn: fn}
			f.mu.Lock()
			f.timers = append(f.timers, t)
			f.mu.Unlock()
			t.Reset(d)
			return t
		}
		return nil
	}
}

// Arms returns how many times a timer was armed (created or reset).
func (f *FakeTimers) Arms() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.arms
}

// WaitArms waits until timers were armed at least n times.
func (f *FakeTimers) WaitArms(n int) {
	for f.Arms() < n {
		<-f.armed
	}
}

// Fired returns how many timers fired.
func (f *FakeTimers) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// Advance moves time forward by d and fires, in this goroutine, every
// armed timer whose deadline it reaches.
func (f *FakeTimers) Advance(d time.Duration) {
	f.mu.Lock()
	f.now += d
	var due []func()
	for _, t := range f.timers {
		if t.active && t.deadline <= f.now {
			t.active = false
			f.fired++
			due = append(due, t.fn)
		}
	}
	f.mu.Unlock()
	for _, fn := range due {
		fn()
	}
}

type fakeTimer struct {
	f        *FakeTimers
	fn       func()
	deadline time.Duration
	active   bool
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	was := t.active
	t.deadline, t.active = t.f.now+d, true
	t.f.arms++
	t.f.mu.Unlock()
	select {
	case t.f.armed <- struct{}{}:
	default: // WaitArms has signals enough pending
	}
	return was
}

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.active
	t.active = false
	return was
}
