package sandboxtest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
)

// faultDeadline bounds an operation under a fault: whatever the fault, it
// must end, one way or the other, well within it.
const faultDeadline = 20 * time.Second

// testFaults checks, against the provider's emulator, that every operation
// under a fault either works or fails with the right error within its
// deadline, and that failures never create duplicates. The subtests run one
// at a time: a fault is taken by whichever request comes next.
func (s *suite) testFaults(t *testing.T) {
	f := s.f.Faults
	if f == nil {
		t.Skip("no emulator faults: Factory.Faults is nil")
	}
	t.Cleanup(f.Clear)
	h := s.fresh(t)
	ctx := s.ctx(t)
	require.NoError(t, h.WriteFile(ctx, "fault.txt", []byte("intact")))

	// within runs op under a fresh deadline and fails t if it overruns.
	within := func(t *testing.T, op func(ctx context.Context) error) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
		defer cancel()
		start := time.Now()
		err := op(ctx)
		require.Less(t, time.Since(start), faultDeadline, "the operation hung until its deadline")
		return err
	}
	readBack := func(ctx context.Context) error {
		b, err := h.ReadFile(ctx, "fault.txt")
		if err == nil && string(b) != "intact" {
			return errors.New("read the wrong content: " + string(b))
		}
		return err
	}

	t.Run("TransientServerError", func(t *testing.T) {
		f.Add(emu.Fault{Times: 1, Status: http.StatusServiceUnavailable})
		err := within(t, readBack)
		f.Clear()
		logOutcome(t, err)
		if err != nil { // not retried where the read is not idempotent on the wire
			requireStatus(t, err, http.StatusServiceUnavailable)
		}
		require.NoError(t, within(t, readBack), "works once the fault is gone")
	})

	t.Run("RateLimitedUntilAttemptsRunOut", func(t *testing.T) {
		f.Add(emu.Fault{Times: 50, Status: http.StatusTooManyRequests})
		err := within(t, func(ctx context.Context) error { _, err := h.State(ctx); return err })
		f.Clear()
		require.ErrorIs(t, err, sandagent.ErrRateLimited)
	})

	t.Run("AuthRejected", func(t *testing.T) {
		f.Add(emu.Fault{Times: 1, Status: http.StatusUnauthorized})
		err := within(t, func(ctx context.Context) error { _, err := h.State(ctx); return err })
		f.Clear()
		require.ErrorIs(t, err, sandagent.ErrAuth)
	})

	t.Run("ConnectionResetBeforeTheServerActs", func(t *testing.T) {
		f.Add(emu.Fault{Times: 1, Reset: emu.ResetBefore})
		err := within(t, readBack)
		f.Clear()
		logOutcome(t, err)
		if err != nil {
			var e *sandagent.Error
			require.ErrorAs(t, err, &e, "a reset is a provider error, not a hang or a panic")
		}
		require.NoError(t, within(t, readBack))
	})

	t.Run("Latency", func(t *testing.T) {
		f.SetLatency(20 * time.Millisecond)
		defer f.Clear()
		res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "fault.txt"}})
		require.NoError(t, err)
		require.Equal(t, "intact", string(res.Stdout))
	})

	t.Run("CancelAtEveryRequestLeavesNothing", func(t *testing.T) {
		for _, named := range []bool{true, false} {
			for _, acted := range []bool{false, true} {
				what := map[bool]string{false: "Unnamed", true: "Named"}[named] + map[bool]string{false: "BeforeTheServerActs", true: "AfterTheServerActs"}[acted]
				t.Run(what, func(t *testing.T) {
					o := Options{}
					if named {
						s.need(t, NameReuse)
						o.Name = uniqueName()
					}
					if acted {
						s.need(t, AttachToken)
					}
					s.cancelAtEveryRequest(t, f, o, acted)
				})
			}
		}
	})

	t.Run("LookupFailureCreatesNothing", func(t *testing.T) {
		s.need(t, NameReuse)
		name := uniqueName()
		h1 := s.attach(t, Options{Name: name})
		require.NoError(t, h1.Close())
		for _, fault := range []emu.Fault{
			{Status: http.StatusServiceUnavailable}, {Status: http.StatusTooManyRequests},
			{Status: http.StatusUnauthorized}, {Status: http.StatusInternalServerError},
			// Malformed answers are no absence either.
			{Status: http.StatusOK, Body: "null"},
			{Status: http.StatusOK, Body: `[{"sandboxID":"x1","startedAt":"2025-01-01T00:00:00Z"}]`},
		} {
			status := fault.Status
			fault.Method, fault.Times = http.MethodGet, 50
			f.Add(fault)
			err := within(t, func(ctx context.Context) error {
				h, err := s.f.New(t, Options{Name: name}).Attach(ctx)
				if err == nil {
					s.destroyLater(t, Options{}, h)
					return errors.New("attached " + h.ID() + " while every lookup failed")
				}
				return err
			})
			f.Clear()
			require.Error(t, err, "status %d %s", status, fault.Body)
			require.NotErrorIs(t, err, sandagent.ErrNotFound, "a failed lookup is not an absence")
		}
		h2 := s.attach(t, Options{Name: name})
		require.Equal(t, h1.ID(), h2.ID(), "still the one sandbox")
		s.requireOneNamed(t, name)
	})

	t.Run("AmbiguousCreateLeavesNoDuplicate", func(t *testing.T) {
		s.need(t, NameReuse)
		name := uniqueName()
		// The create's response is lost after the server made the sandbox.
		f.Add(emu.Fault{Method: http.MethodPost, Times: 1, Reset: emu.ResetAfter})
		err := within(t, func(ctx context.Context) error {
			h, err := s.f.New(t, Options{Name: name}).Attach(ctx)
			if err == nil {
				s.destroyLater(t, Options{}, h)
			}
			return err
		})
		f.Clear()
		t.Logf("attach through a lost create response: %v", err)
		h := s.attach(t, Options{Name: name})
		require.NotEqual(t, sandagent.Outcome(0), h.Outcome())
		s.requireOneNamed(t, name)
	})
}

// logOutcome records how the provider came through a fault, for the table
// of what each provider survives.
func logOutcome(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Log("outcome: recovered (retried)")
		return
	}
	t.Logf("outcome: failed cleanly: %v", err)
}

// cancelAtEveryRequest ends an Attach's ctx while its k-th request is in
// flight, for every k of the Attach's sequence, and checks each time that
// no sandbox is left behind: one created before the ctx ended belongs to no
// one and must be destroyed by the Attach that made it. The emulator holds
// the request before it acts (and then does not), or, when acted, acts and
// holds the answer: the Attach never learns what its create made.
func (s *suite) cancelAtEveryRequest(t *testing.T, f *emu.Faults, o Options, acted bool) {
	m, ok := s.f.New(t, Options{}).(sandagent.Manager)
	if !ok {
		t.Skip("the provider has no Manager: leftovers cannot be counted")
	}
	count := func() int {
		n := 0
		for info, err := range m.Managed(s.ctx(t)) {
			if errors.Is(err, sandagent.ErrUnsupported) {
				t.Skipf("the provider cannot list what it made here: %v", err)
			}
			require.NoError(t, err)
			if info.State != sandagent.StateDestroyed {
				n++
			}
		}
		return n
	}
	before := count()
	for k := 1; k <= 20; k++ {
		// The ctx ends the moment the k-th request is held, however slow
		// the requests before it were.
		ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
		fault := emu.Fault{Skip: k - 1, Delay: time.Minute, Held: cancel}
		if acted {
			fault = emu.Fault{Skip: k - 1, DelayAfter: time.Minute, Held: cancel}
		}
		f.Add(fault)
		h, err := s.f.New(t, o).Attach(ctx)
		cancel()
		f.Clear()
		if err == nil { // the Attach made fewer than k requests: all points tried
			require.NoError(t, h.Destroy(s.ctx(t)))
			require.Greater(t, k, 1, "the first request was held, yet Attach succeeded")
			t.Logf("an Attach of %d requests, cancelled at each: nothing left behind", k-1)
			return
		}
		require.ErrorIs(t, err, context.Canceled, "cancelled at request %d", k)
		require.Equal(t, before, count(), "cancelled at request %d: a sandbox was left behind", k)
	}
	t.Fatal("Attach made more than 20 requests")
}

// requireStatus checks that err is a provider error with the HTTP status.
func requireStatus(t *testing.T, err error, status int) {
	t.Helper()
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, status, e.Status, "%v", err)
}

// requireOneNamed checks, through the provider's Manager, that exactly one
// live sandbox carries name.
func (s *suite) requireOneNamed(t *testing.T, name string) {
	t.Helper()
	m, ok := s.f.New(t, Options{}).(sandagent.Manager)
	if !ok {
		t.Log("the provider has no Manager: duplicates not counted")
		return
	}
	var ids []string
	for info, err := range m.Managed(s.ctx(t)) {
		require.NoError(t, err)
		if info.Name == name && info.State != sandagent.StateDestroyed {
			ids = append(ids, info.ID)
		}
	}
	require.Len(t, ids, 1, "one sandbox named %s: %v", name, ids)
}
