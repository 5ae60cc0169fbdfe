package e2bapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/keylock"
)

// Metadata keys set on every sandbox Reuse creates.
const (
	NameKey    = sandagent.NameLabel    // the name attached by
	ManagedKey = sandagent.ManagedLabel // "true"
	TokenKey   = sandagent.AttachLabel  // the creating Attach's token
)

// Labels returns md plus the keys every created sandbox carries: managed,
// the attach token, and the name when there is one.
func Labels(name, token string, md map[string]string) map[string]string {
	out := maps.Clone(md)
	if out == nil {
		out = map[string]string{}
	}
	out[ManagedKey] = "true"
	out[TokenKey] = token
	if name != "" {
		out[NameKey] = name
	}
	return out
}

// Listing is what a List answered.
type Listing struct {
	Sandboxes []Sandbox
	// At is the server's time of the answer (its Date header, rounded
	// down to the second), zero when unknown.
	At time.Time
}

// ServerTime reads a response's Date header; zero when absent or bad.
func ServerTime(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Reuse is the reuse rule of the E2B-style providers:
//
//   - by ID: connect (resuming a paused sandbox); a 404 is ErrNotFound, or a
//     create with CreateIfMissing;
//   - by Name: List the sandboxes carrying the name and connect to the
//     winner, the oldest (earliest startedAt, then smallest id, so every
//     caller picks the same); create when there is none;
//   - with neither: create.
//
// Lists lag: a new sandbox may take up to Window to show in them, so an
// older sandbox may still be missing from the list that shows a young one.
// A winner is handed out only once no older one can be missing: when it
// was already Window old at the server's time of the answer (the steady
// state: one list, one connect), or when a list sent at least Window after
// an answer that showed one of the sandboxes listed names it. A caller that
// creates waits Window, then lists: if an older sandbox carries the name it
// wins, and the creator destroys its own and connects to the winner.
//
// Goroutines attaching one name take turns. Only a confirmed absence leads
// to a create. Every create carries Token in its metadata: when its answer
// is lost (no response, a garbled one, or the ctx ended while it was in
// flight), Reuse lists by the token, after Window, to find what it made,
// and adopts it, or destroys it when the ctx has ended. A sandbox created by
// an Attach that then fails, or whose ctx ends, is destroyed: that one only.
type Reuse struct {
	API             *Client
	BaseURL         string // with the provider and the name, the key callers take turns on
	Name, ID        string
	CreateIfMissing bool
	Timeout         time.Duration // given to connect
	Token           string        // the create's attach token, in Body's metadata under TokenKey
	Body            NewSandbox    // the create request
	Window          time.Duration // the convergence window
	// List returns the sandboxes connect can attach to (running or paused)
	// that may carry every pair of md; Reuse filters on md itself.
	List   func(ctx context.Context, md map[string]string) (Listing, error)
	Logger *slog.Logger
	// Locks serializes Attach by name; nil is the process-wide map.
	Locks *keylock.Map
}

// nameLocks serializes Attach by name within this process.
var nameLocks keylock.Map

// cleanupTimeout bounds the requests that clean up after an Attach whose
// ctx ended.
const cleanupTimeout = 30 * time.Second

// Attach finds or creates the sandbox and says how.
func (r *Reuse) Attach(ctx context.Context) (Sandbox, sandagent.Outcome, error) {
	switch {
	case r.ID != "":
		sb, outcome, err := r.connect(ctx, r.ID, "")
		if err == nil || !errors.Is(err, sandagent.ErrNotFound) || !r.CreateIfMissing {
			return sb, outcome, err
		}
		return r.create(ctx)
	case r.Name != "":
		locks := r.Locks
		if locks == nil {
			locks = &nameLocks
		}
		unlock, err := locks.Lock(ctx, r.API.d.Provider+"\x00"+r.BaseURL+"\x00"+r.Name)
		if err != nil {
			return Sandbox{}, 0, err
		}
		defer unlock()
		// A sandbox found by the list can be killed before connect reaches
		// it: then look again.
		for range 3 {
			win, ok, err := r.winner(ctx, nil)
			if err != nil {
				return Sandbox{}, 0, err
			}
			if !ok {
				return r.create(ctx)
			}
			sb, outcome, err := r.connect(ctx, win.SandboxID, win.State)
			if err == nil || !errors.Is(err, sandagent.ErrNotFound) {
				return sb, outcome, err
			}
		}
		return Sandbox{}, 0, sandagent.Errorf(sandagent.ErrConflict, "sandboxes named %q keep disappearing while attaching", r.Name)
	default:
		return r.create(ctx)
	}
}

// connect connects to the sandbox id, whose state, when known, is
// state. On a service whose connect always answers 200, the outcome comes
// from that state, read first when unknown.
func (r *Reuse) connect(ctx context.Context, id, state string) (Sandbox, sandagent.Outcome, error) {
	if r.API.d.ConnectAlways200 && state == "" {
		sb, err := r.API.Get(ctx, id)
		if err != nil {
			return sb, 0, err
		}
		state = sb.State
	}
	sb, outcome, err := r.API.Connect(ctx, id, r.Timeout)
	if err == nil && r.API.d.ConnectAlways200 && state == "paused" {
		outcome = sandagent.Resumed
	}
	return sb, outcome, err
}

// winner returns the sandbox carrying the name that every caller ends with
// (see Reuse), or false when none does. seen maps ids to a local time by
// which each existed; winner adds what it lists.
func (r *Reuse) winner(ctx context.Context, seen map[string]time.Time) (Sandbox, bool, error) {
	if seen == nil {
		seen = map[string]time.Time{}
	}
	for range 4 {
		sent := time.Now()
		l, err := r.find(ctx)
		if err != nil || len(l.Sandboxes) == 0 {
			return Sandbox{}, false, err
		}
		oldest := l.Sandboxes[0]
		if r.Window == 0 || (!l.At.IsZero() && !oldest.StartedAt.After(l.At.Add(-r.Window))) {
			return oldest, true, nil
		}
		// The oldest listed is younger than the window: an older one may
		// be missing. Once a list sent Window after a sandbox listed now
		// was known to exist names the oldest, none can be.
		var first time.Time
		for _, sb := range l.Sandboxes {
			if t, ok := seen[sb.SandboxID]; ok && (first.IsZero() || t.Before(first)) {
				first = t
			}
		}
		if !first.IsZero() && sent.Sub(first) >= r.Window {
			return oldest, true, nil
		}
		got := time.Now()
		for _, sb := range l.Sandboxes {
			if _, ok := seen[sb.SandboxID]; !ok {
				seen[sb.SandboxID] = got
			}
		}
		if first.IsZero() {
			first = got
		}
		if err := sleep(ctx, time.Until(first.Add(r.Window))); err != nil {
			return Sandbox{}, false, err
		}
	}
	return Sandbox{}, false, sandagent.Errorf(sandagent.ErrConflict, "sandboxes named %q keep changing while attaching", r.Name)
}

// find lists every sandbox carrying the name, oldest first: the first is the
// one every caller picks. An entry without an id, or without metadata where
// the service applied the filter, is a malformed answer, never a sandbox
// without the name.
func (r *Reuse) find(ctx context.Context) (Listing, error) {
	return r.listBy(ctx, NameKey, r.Name)
}

// listBy lists the sandboxes whose metadata holds key=value, oldest first.
func (r *Reuse) listBy(ctx context.Context, key, value string) (Listing, error) {
	l, err := r.List(ctx, map[string]string{key: value})
	if err != nil {
		return Listing{}, err
	}
	// A service that applies the filter answers only entries carrying
	// key=value, so one without metadata is malformed. One that ignores it
	// (its answer holds entries the filter excludes) lists every sandbox,
	// and one without metadata is simply not ours.
	ignored := slices.ContainsFunc(l.Sandboxes, func(sb Sandbox) bool { return sb.Metadata != nil && sb.Metadata[key] != value })
	for _, sb := range l.Sandboxes {
		if sb.SandboxID == "" || (sb.Metadata == nil && !ignored) {
			return Listing{}, &sandagent.Error{Provider: r.API.d.Provider, Op: "list", Message: "malformed sandbox list: an entry without an id or metadata"}
		}
	}
	l.Sandboxes = slices.DeleteFunc(l.Sandboxes, func(sb Sandbox) bool { return sb.Metadata[key] != value })
	SortOldestFirst(l.Sandboxes)
	return l, nil
}

// create creates a sandbox and, by name, converges with any other caller
// that created one at the same time. Whatever goes wrong after the create,
// the sandbox it made is destroyed.
func (r *Reuse) create(ctx context.Context) (_ Sandbox, _ sandagent.Outcome, err error) {
	sb, err := r.API.Create(ctx, r.Body)
	if err != nil {
		if sb, err = r.recoverCreate(ctx, err); err != nil {
			return Sandbox{}, 0, err
		}
	}
	mine := sb.SandboxID
	made := time.Now()
	defer func() {
		if err != nil && mine != "" {
			r.destroyQuietly(ctx, mine)
		}
	}()
	if r.Name != "" {
		// Give every older sandbox carrying the name the window to show.
		if err := sleep(ctx, r.Window); err != nil {
			return Sandbox{}, 0, err
		}
		win, ok, err := r.winner(ctx, map[string]time.Time{mine: made})
		if err != nil {
			return Sandbox{}, 0, err
		}
		if ok && win.SandboxID != mine {
			// Another caller's sandbox is older: it wins, ours goes.
			r.destroyQuietly(ctx, mine)
			mine = ""
			return r.connect(ctx, win.SandboxID, win.State)
		}
	}
	if err := ctx.Err(); err != nil {
		return Sandbox{}, 0, err // a caller that gave up owns nothing
	}
	return sb, sandagent.Created, nil
}

// recoverCreate handles a create that got no usable answer: no response, a
// 2xx that was not the sandbox, or a ctx that ended while it was in flight.
// The service may have made the sandbox: after the window, list by the
// create's token. What it made is adopted (connect gives its full object),
// or destroyed when ctx has ended; either way createErr is returned when
// nothing is adopted. A create that was answered with an error status made
// nothing.
func (r *Reuse) recoverCreate(ctx context.Context, createErr error) (Sandbox, error) {
	var e *sandagent.Error
	lost := ctx.Err() != nil || (errors.As(createErr, &e) && (e.Status == 0 || e.Status/100 == 2))
	if !lost || r.Token == "" {
		return Sandbox{}, createErr
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := sleep(cctx, r.Window); err != nil {
		return Sandbox{}, createErr
	}
	l, err := r.listBy(cctx, TokenKey, r.Token)
	if err != nil {
		r.warn("looking for the sandbox of a create whose answer was lost failed", "", err)
		return Sandbox{}, createErr
	}
	made := l.Sandboxes
	if len(made) == 0 {
		return Sandbox{}, createErr
	}
	if ctx.Err() == nil {
		if sb, _, err := r.connect(ctx, made[0].SandboxID, made[0].State); err == nil {
			r.destroyAll(ctx, made[1:]) // one create makes one sandbox: never expected
			return sb, nil
		}
	}
	r.destroyAll(ctx, made)
	return Sandbox{}, createErr
}

func (r *Reuse) destroyAll(ctx context.Context, sbs []Sandbox) {
	for _, sb := range sbs {
		r.destroyQuietly(ctx, sb.SandboxID)
	}
}

// destroyQuietly kills a sandbox this Attach created, even after ctx ended.
func (r *Reuse) destroyQuietly(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := r.API.Kill(ctx, id); err != nil {
		r.warn("destroying a sandbox this attach created failed", id, err)
	}
}

func (r *Reuse) warn(msg, id string, err error) {
	if r.Logger != nil {
		r.Logger.Warn("sandagent: "+msg, slog.String("provider", r.API.d.Provider), slog.String("sandbox", id), slog.String("err", err.Error()))
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SortOldestFirst orders sandboxes by start time, then id: the order every
// caller agrees on.
func SortOldestFirst(sbs []Sandbox) {
	slices.SortFunc(sbs, func(a, b Sandbox) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.SandboxID, b.SandboxID)
	})
}
