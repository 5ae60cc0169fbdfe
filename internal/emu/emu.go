// Package emu is what the provider emulators share: fault injection,
// request counting and a controllable clock, as HTTP middleware around each
// emulator's handler.
package emu

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Clock is an emulator's time source. The zero value follows the real
// time; after Set or Advance it is frozen and moves only when told, so tests
// never wait for time to pass.
type Clock struct {
	mu     sync.Mutex
	frozen bool
	t      time.Time
}

// Now returns the current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		return time.Now()
	}
	return c.t
}

// Set freezes the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen, c.t = true, t
}

// Advance freezes the clock (at the current time, if it was running) and
// moves it forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.frozen, c.t = true, time.Now()
	}
	c.t = c.t.Add(d)
}

// Fault is one injected failure.
type Fault struct {
	Method string // "" matches any method
	Path   string // prefix of the URL path; "" matches any path
	Times  int    // how many matching requests it applies to (0 means 1)
	Skip   int    // let this many matching requests through first

	Status int           // answer with this status (and the emulator's error body) instead of the real handler
	Body   string        // with Status: answer with this raw body instead (garbage JSON, an HTML error page, ...)
	Delay  time.Duration // wait this long before handling (real time: use small values)
	Reset  ResetWhen     // drop the connection
}

// ResetWhen says when a Fault drops the connection.
type ResetWhen int

// When to reset.
const (
	NoReset     ResetWhen = iota
	ResetBefore           // before the emulator acts: nothing happened
	ResetAfter            // after the emulator acted, before the response: the ambiguous case
)

// Faults is a queue of injected failures, safe for concurrent use.
type Faults struct {
	mu     sync.Mutex
	faults []*Fault
	delay  time.Duration
}

// Add queues f.
func (fs *Faults) Add(f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	fs.faults = append(fs.faults, &f)
}

// FailNext answers the next n requests whose path starts with pathPrefix
// with status.
func (fs *Faults) FailNext(n int, pathPrefix string, status int) {
	fs.Add(Fault{Path: pathPrefix, Times: n, Status: status})
}

// SetLatency adds d before every request, to model a network.
func (fs *Faults) SetLatency(d time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.delay = d
}

// Clear removes every queued fault and the latency.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults, fs.delay = nil, 0
}

func (fs *Faults) take(r *http.Request) (Fault, time.Duration, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path) {
			if f.Skip > 0 {
				f.Skip--
				continue
			}
			got := *f
			if f.Times--; f.Times == 0 {
				fs.faults = append(fs.faults[:i], fs.faults[i+1:]...)
			}
			return got, fs.delay, true
		}
	}
	return Fault{}, fs.delay, false
}

// Counter counts requests by method and path.
type Counter struct {
	mu   sync.Mutex
	reqs []string // "METHOD /path"
}

// Count returns how many requests matched method ("" for any) and a path
// prefix ("" for any).
func (c *Counter) Count(method, pathPrefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		m, p, _ := strings.Cut(r, " ")
		if (method == "" || m == method) && strings.HasPrefix(p, pathPrefix) {
			n++
		}
	}
	return n
}

// Total returns the number of requests served.
func (c *Counter) Total() int { return c.Count("", "") }

// Requests returns "METHOD /path" for every request, in order.
func (c *Counter) Requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.reqs...)
}

// Reset forgets the requests counted so far.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = nil
}

func (c *Counter) add(r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
}

// ErrorWriter writes an emulator's error response for status.
type ErrorWriter func(w http.ResponseWriter, status int, message string)

// Middleware counts every request and applies faults before next.
func Middleware(fs *Faults, c *Counter, writeErr ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.add(r)
		f, delay, ok := fs.take(r)
		if d := delay + f.Delay; d > 0 {
			// Read a small body first: the server notices a client that
			// hangs up only once the body is consumed, and a held request
			// whose client has gone must not be acted on.
			if r.ContentLength >= 0 && r.ContentLength <= 1<<20 {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case f.Reset == ResetBefore:
			hangUp(w)
		case f.Reset == ResetAfter:
			next.ServeHTTP(discard{h: http.Header{}}, r)
			hangUp(w)
		case f.Status != 0 && f.Body != "":
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, f.Body)
		case f.Status != 0:
			writeErr(w, f.Status, http.StatusText(f.Status)+" (injected fault)")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// hangUp drops the connection without a response.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// discard is a ResponseWriter that drops what the handler writes.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// Routes serves mux, answering a request no route matches (404) or whose
// method its route does not take (405, with the Allow header) with
// writeErr's error body, as the emulated service does, never ServeMux's
// text.
func Routes(mux *http.ServeMux, writeErr ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route: ServeMux answers 404 or 405; learn which, and Allow.
		rec := &statusRecorder{h: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.h.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeErr(w, rec.status, http.StatusText(rec.status))
	})
}

// statusRecorder keeps the status and header a handler writes.
type statusRecorder struct {
	h      http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.h }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
}
