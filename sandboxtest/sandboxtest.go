// Package sandboxtest is the conformance suite every sandagent provider
// passes. A provider's test calls Run with a Factory:
//
//	func TestConformance(t *testing.T) {
//		sandboxtest.Run(t, sandboxtest.Factory{
//			New: func(t *testing.T, o sandboxtest.Options) sandagent.Sandbox {
//				sb, err := myprovider.New(myprovider.WithName(o.Name), ...)
//				require.NoError(t, err)
//				return sb
//			},
//		})
//	}
//
// The suite covers the reuse rules (by name and by id), exec semantics
// (separate live stdout and stderr, exit codes, Dir, Env, Timeout, ctx
// cancellation that really kills, stdin, signals), binary-safe files, the
// lifecycle (pause, resume, stop, start, close, destroy), concurrency,
// ports reached through Handle.URL, terminals (StartPTY), Fork and
// Snapshot, a filesystem root of each sandbox's own (Root), complete output
// (a slow writer, 1,000 concurrent commands) and, against an emulator,
// faults.
// A capability the provider lacks is declared in Factory.Lacks with the
// reason: the suite checks that it fails with ErrUnsupported and skips its
// tests, saying why. Nothing is skipped silently.
// # What each provider survives
//
// The fault suite (Factory.Faults) injects each fault into the provider's
// emulator and checks the operation either works or fails with the right
// error, within 20 s, with no duplicate created. Results, per provider:
//
//	fault                                  e2b        sandbase   sandock    daytona
//	one 503 on a read                      retried    retried    retried    retried
//	429 until the retries run out          ErrRateLimited (all)
//	401                                    ErrAuth (all)
//	connection reset before the server     retried    retried    retried    retried
//	20 ms latency on every request         works      works      works      works
//	every lookup fails (503/429/401/500)   error, no create (all named providers; sandock has no names)
//	create's response lost after the act   adopted    adopted    n/a        adopted
//	ctx ends at each request of an Attach  nothing left behind (all; named and unnamed)
//	  ... after the service acted          found by token and destroyed (e2b, sandbase, daytona;
//	                                       sandock has no labels to hold a token)
//
// Provider packages add their own: e2b's cut and stalled streams (an error,
// never a silent truncation or a hang), sandock's cut SSE stream, daytona's
// 409 adoption, and the ctx ending after a create (that sandbox destroyed).
package sandboxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
)

// Capability is an optional part of the contract.
type Capability string

// The optional capabilities.
const (
	NameReuse  Capability = "name-reuse"  // Attach by name returns the same sandbox
	Pause      Capability = "pause"       // Handle.Pause, and Attach resumes with memory kept
	Stop       Capability = "stop"        // Handle.Stop, and Attach starts it again
	SetTimeout Capability = "set-timeout" // Handle.SetTimeout
	Stdin      Capability = "stdin"       // Cmd.Stdin is forwarded
	LiveOutput Capability = "live-output" // output reaches Cmd.Stdout while the command runs
	Signal     Capability = "signal"      // Process.Signal
	// BinaryOutput: output bytes that are not UTF-8 come back unchanged
	// (providers whose wire carries output as JSON text lack it).
	BinaryOutput Capability = "binary-output"
	// AttachToken: every create carries the Attach's token, so an Attach
	// whose create's answer is lost (its ctx ended after the service acted)
	// finds what it made and destroys it.
	AttachToken Capability = "attach-token"
	// Root: each sandbox has a filesystem root of its own, as on the
	// provider: absolute paths mean the provider's, /tmp is its own, a write
	// anywhere stays in it, no symlink leads out of it.
	Root Capability = "root"
	// ManyExecs: 1,000 concurrent commands on one sandbox all complete,
	// three times over (checked where the provider has a Root).
	ManyExecs Capability = "many-execs"
)

// Options says which sandbox the Factory's New should attach to.
type Options struct {
	// Name, when set, asks for attach-by-name with this name. Names are
	// lowercase letters, digits and '-', at most 30 characters.
	Name string
	// ID, when set, asks for reattaching by this id.
	ID string
	// With neither, New returns a Sandbox that creates a fresh sandbox.

	// Env, when set, is the environment of a sandbox New's Sandbox
	// creates (the provider's WithEnv).
	Env map[string]string

	// Snapshot, when set, is the id of a snapshot (from Handle.Snapshot)
	// that a sandbox New's Sandbox creates starts from. Only providers
	// with the Snapshot capability are asked for it.
	Snapshot string
}

// Factory makes the provider's Sandboxes for the suite.
type Factory struct {
	// New returns a Sandbox configured by o. It fails t on error.
	New func(t *testing.T, o Options) sandagent.Sandbox
	// Lacks maps each capability the provider does not have to the reason.
	Lacks map[Capability]string
	// OpTimeout bounds each operation (default 60s).
	OpTimeout time.Duration
	// Faults, when the provider runs against one of this module's
	// emulators, is that emulator's fault injector: the suite then checks
	// that operations survive transient errors, rate limits, rejected
	// credentials, dropped connections and latency, and that a failed
	// lookup or a lost create response never creates a duplicate.
	Faults *emu.Faults
}

// Run runs the conformance suite.
func Run(t *testing.T, f Factory) {
	if f.New == nil {
		t.Fatal("sandboxtest: Factory.New is nil")
	}
	if f.OpTimeout == 0 {
		f.OpTimeout = 60 * time.Second
	}
	s := &suite{f: f}
	t.Run("Attach", s.testAttach)
	t.Run("Exec", s.testExec)
	t.Run("Files", s.testFiles)
	t.Run("Root", s.testRoot)
	t.Run("OutputComplete", s.testOutputComplete)
	t.Run("Lifecycle", s.testLifecycle)
	t.Run("Concurrency", s.testConcurrency)
	t.Run("Capabilities", s.testCapabilities)
	t.Run("Unsupported", s.testUnsupported)
	t.Run("Faults", s.testFaults)
}

type suite struct{ f Factory }

// need skips t, with the declared reason, if the provider lacks c.
func (s *suite) need(t *testing.T, c Capability) {
	t.Helper()
	if why, lacks := s.f.Lacks[c]; lacks {
		t.Skipf("provider lacks %s: %s", c, why)
	}
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.f.OpTimeout)
	t.Cleanup(cancel)
	return ctx
}

// attach attaches with o and destroys what it got when the test ends.
func (s *suite) attach(t *testing.T, o Options) *sandagent.Handle {
	t.Helper()
	h, err := s.f.New(t, o).Attach(s.ctx(t))
	require.NoError(t, err, "Attach")
	require.NotEmpty(t, h.ID(), "Handle.ID")
	s.destroyLater(t, o, h)
	return h
}

// destroyLater destroys the sandbox h names at the end of the test, through
// a fresh handle in case h was closed.
func (s *suite) destroyLater(t *testing.T, o Options, h *sandagent.Handle) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.f.OpTimeout)
		defer cancel()
		if err := h.Destroy(ctx); err == nil || !errors.Is(err, sandagent.ErrClosed) {
			return
		}
		h2, err := s.f.New(t, Options{ID: h.ID()}).Attach(ctx)
		if err == nil {
			_ = h2.Destroy(ctx)
		}
	})
}

// fresh attaches a new sandbox for one test.
func (s *suite) fresh(t *testing.T) *sandagent.Handle {
	t.Helper()
	if _, lacks := s.f.Lacks[NameReuse]; lacks {
		return s.attach(t, Options{})
	}
	return s.attach(t, Options{Name: uniqueName()})
}

// uniqueName returns a name valid on every provider.
func uniqueName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "sbt-" + hex.EncodeToString(b)
}
