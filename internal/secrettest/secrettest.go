// Package secrettest checks, for the providers' tests, that secrets stay
// out of errors, log lines and panics on every error path.
package secrettest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Recorder captures a logger's output at debug level and the errors (and
// panics) of the calls given to Try. It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	log  bytes.Buffer
	errs []error
}

// Logger returns a logger that writes every record, at debug level, to r.
func (r *Recorder) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Write implements io.Writer for the logger.
func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

// Try calls f and records its error, or its panic as an error.
func (r *Recorder) Try(f func() error) {
	defer func() {
		if p := recover(); p != nil {
			r.add(fmt.Errorf("panic: %v", p))
		}
	}()
	if err := f(); err != nil {
		r.add(err)
	}
}

func (r *Recorder) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// Errors returns the recorded errors.
func (r *Recorder) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// Log returns what the logger wrote.
func (r *Recorder) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// Check fails t if any secret appears in a recorded error (in any error
// of its tree) or in the log.
func (r *Recorder) Check(t testing.TB, secrets ...string) {
	t.Helper()
	var texts []string
	for _, err := range r.Errors() {
		texts = append(texts, tree(err)...)
	}
	texts = append(texts, r.Log())
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("a secret leaked into %q", text)
			}
		}
	}
}

// tree returns the texts of err and of every error it wraps.
func tree(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, tree(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, tree(e)...)
		}
	}
	return out
}
