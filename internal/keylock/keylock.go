// Package keylock provides per-key mutual exclusion whose waits end with a
// context.
package keylock

import (
	"context"
	"sync"
)

// Map locks keys independently. The zero value is ready to use.
type Map struct {
	mu    sync.Mutex
	locks map[string]*entry
}

type entry struct {
	ch   chan struct{} // holds a token while the key is locked
	refs int           // holders and waiters
}

// Lock locks key, waiting until it is free or ctx ends. It returns the
// function that unlocks it.
func (m *Map) Lock(ctx context.Context, key string) (unlock func(), err error) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[string]*entry{}
	}
	e := m.locks[key]
	if e == nil {
		e = &entry{ch: make(chan struct{}, 1)}
		m.locks[key] = e
	}
	e.refs++
	m.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-e.ch; m.release(key, e) }) }, nil
	case <-ctx.Done():
		m.release(key, e)
		return nil, ctx.Err()
	}
}

func (m *Map) release(key string, e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(m.locks, key)
	}
}
