package e2bapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
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
)

// Labels returns md plus the keys every created sandbox carries: managed,
// and the name when there is one.
func Labels(name string, md map[string]string) map[string]string {
	out := maps.Clone(md)
	if out == nil {
		out = map[string]string{}
	}
	out[ManagedKey] = "true"
	if name != "" {
		out[NameKey] = name
	}
	return out
}

// Reuse is the reuse rule of the E2B-style providers:
//
//   - by ID: connect (resuming a paused sandbox); a 404 is ErrNotFound, or a
//     create with CreateIfMissing;
//   - by Name: List the sandboxes, keep those whose metadata carries the
//     name, connect to the oldest (earliest startedAt, then smallest id, so
//     every caller picks the same), and create when there is none; after a
//     create, list again: when an older sandbox carries the name, it wins
//     and ours is destroyed;
//   - with neither: create.
//
// Goroutines attaching one name take turns. Only a confirmed absence leads
// to a create, and a sandbox created by an Attach that then fails, or whose
// ctx ends, is destroyed: that one only.
type Reuse struct {
	API             *Client
	BaseURL         string // with the provider and the name, the key callers take turns on
	Name, ID        string
	CreateIfMissing bool
	Timeout         time.Duration // given to connect
	Body            NewSandbox    // the create request
	// List returns the sandboxes that may carry Name and that connect can
	// attach to (running or paused). Reuse filters on the name itself.
	List   func(ctx context.Context) ([]Sandbox, error)
	Logger *slog.Logger
}

// nameLocks serializes Attach by name within this process.
var nameLocks keylock.Map

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
		unlock, err := nameLocks.Lock(ctx, r.API.d.Provider+"\x00"+r.BaseURL+"\x00"+r.Name)
		if err != nil {
			return Sandbox{}, 0, err
		}
		defer unlock()
		// A sandbox found by the list can be killed before connect reaches
		// it: then look again.
		for range 3 {
			found, err := r.find(ctx)
			if err != nil {
				return Sandbox{}, 0, err
			}
			if len(found) == 0 {
				return r.create(ctx)
			}
			sb, outcome, err := r.connect(ctx, found[0].SandboxID, found[0].State)
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

// find lists every sandbox carrying the name, oldest first: the first is the
// one every caller picks.
func (r *Reuse) find(ctx context.Context) ([]Sandbox, error) {
	all, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	found := slices.DeleteFunc(all, func(sb Sandbox) bool { return sb.Metadata[NameKey] != r.Name })
	SortOldestFirst(found)
	return found, nil
}

// create creates a sandbox and, by name, converges with any other caller
// that created one at the same time. Whatever goes wrong after the create,
// the sandbox it made is destroyed.
func (r *Reuse) create(ctx context.Context) (_ Sandbox, _ sandagent.Outcome, err error) {
	sb, err := r.API.Create(ctx, r.Body)
	if err != nil {
		return r.afterFailedCreate(ctx, err)
	}
	mine := sb.SandboxID
	defer func() {
		if err != nil && mine != "" {
			r.destroyQuietly(ctx, mine)
		}
	}()
	if r.Name != "" {
		found, err := r.find(ctx)
		if err != nil {
			return Sandbox{}, 0, err
		}
		if len(found) > 0 && found[0].SandboxID != mine {
			// Another caller's sandbox is older: it wins, ours goes.
			r.destroyQuietly(ctx, mine)
			mine = ""
			return r.API.Connect(ctx, found[0].SandboxID, r.Timeout)
		}
	}
	if err := ctx.Err(); err != nil {
		return Sandbox{}, 0, err // a caller that gave up owns nothing
	}
	return sb, sandagent.Created, nil
}

// afterFailedCreate handles a create that got no usable answer: the
// request may have made the sandbox even though its response was lost or
// garbled. By name, look
// before anyone creates again: a sandbox carrying the name now did not
// exist at the lookup just made under the name's lock, so it is this
// create's (Outcome Created) and is adopted. Otherwise, and by id or
// without a name, the error is returned: an unnamed sandbox made by a lost
// create cannot be found and lives until its timeout.
func (r *Reuse) afterFailedCreate(ctx context.Context, createErr error) (Sandbox, sandagent.Outcome, error) {
	var e *sandagent.Error
	// No answer (status 0), or a 2xx that was not the sandbox: the service
	// may have made it. Any other status means it did not.
	ambiguous := errors.As(createErr, &e) && (e.Status == 0 || e.Status/100 == 2)
	if r.Name == "" || ctx.Err() != nil || !ambiguous {
		return Sandbox{}, 0, createErr
	}
	found, err := r.find(ctx)
	if err != nil || len(found) == 0 {
		return Sandbox{}, 0, createErr
	}
	sb, _, err := r.API.Connect(ctx, found[0].SandboxID, r.Timeout)
	if err != nil {
		return Sandbox{}, 0, createErr
	}
	return sb, sandagent.Created, nil
}

// destroyQuietly kills a sandbox this Attach created, even after ctx ended.
func (r *Reuse) destroyQuietly(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.API.Kill(ctx, id); err != nil && r.Logger != nil {
		r.Logger.Warn("sandagent: destroying a sandbox this attach created failed", slog.String("provider", r.API.d.Provider), slog.String("sandbox", id), slog.String("err", err.Error()))
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
