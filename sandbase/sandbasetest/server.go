//go:build unix

package sandbasetest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/internal/e2bemu"
)

// Server is a running SandBase emulator: e2btest's server under SandBase's
// dialect. Its exported fields and methods are e2btest.Server's: URL,
// Faults, Requests, Clock, APIKey, Dir, Close, and the stream faults.
type Server struct {
	*e2btest.Server
	broke *atomic.Bool
}

// Option configures a Server.
type Option func(*config)

type config struct {
	e2b         []e2btest.Option
	maxLifetime time.Duration
	templates   []string
}

// WithAPIKey makes the server accept key (sent as X-API-Key) instead of a
// random one. SandBase keys are "sk-" and 64 hexadecimal digits, or older
// "sk-sb-..." ones; the emulator, like the service, accepts whatever key
// it was given.
func WithAPIKey(key string) Option {
	return func(c *config) { c.e2b = append(c.e2b, e2btest.WithAPIKey(key)) }
}

// WithDir keeps the sandboxes' directories under dir (they stay after
// Close) instead of under a temporary directory.
func WithDir(dir string) Option {
	return func(c *config) { c.e2b = append(c.e2b, e2btest.WithDir(dir)) }
}

// WithAddr serves on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option {
	return func(c *config) { c.e2b = append(c.e2b, e2btest.WithAddr(addr)) }
}

// WithMaxLifetime sets the maximum continuous lifetime of a running
// sandbox (default one hour, SandBase's limit).
func WithMaxLifetime(d time.Duration) Option { return func(c *config) { c.maxLifetime = d } }

// WithTemplates sets the organization's templates (default "base").
func WithTemplates(names ...string) Option { return func(c *config) { c.templates = names } }

// NewServer starts an emulator on a loopback port. It panics if it cannot,
// like httptest.NewServer. Call Close when done.
func NewServer(opts ...Option) *Server {
	c := config{maxLifetime: time.Hour, templates: []string{"base"}}
	for _, o := range opts {
		o(&c)
	}
	broke := &atomic.Bool{}
	d := e2bemu.Dialect{
		Authenticate:     authenticate,
		NewAPIKey:        func() string { return "sk-" + randomHex(32) },
		NoLegacy:         true,
		ConnectAlways200: true,
		TokenPerConnect:  true,
		MaxLifetime:      c.maxLifetime,
		CutTimeout:       true,
		NotFound:         func(string) string { return "sandbox not found" },
		NotActive:        "sandbox is not active",
		LifetimeExceeded: "sandbox maximum lifetime exceeded",
		AlreadyPaused:    func(string) string { return "sandbox is already paused" },
		Admit: func() (int, string) {
			if broke.Load() {
				return http.StatusPaymentRequired, "insufficient balance"
			}
			return 0, ""
		},
	}
	e := append([]e2btest.Option{e2btest.WithDialect(d), e2btest.WithTemplates(c.templates...)}, c.e2b...)
	return &Server{Server: e2btest.NewServer(e...), broke: broke}
}

// SetBalance says whether the organization can pay for new sandboxes: with
// false every create answers 402 "insufficient balance".
func (s *Server) SetBalance(ok bool) { s.broke.Store(!ok) }

// authenticate checks an X-API-Key value.
func authenticate(key, accepted string) string {
	switch key {
	case "":
		return "missing API key"
	case accepted:
		return ""
	}
	return "invalid API key"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
