package sandagent

import (
	"context"
	"iter"
	"time"
)

// Labels every provider puts on the sandboxes it creates (as labels,
// metadata or tags, whatever the provider has), so that leaks can be found.
const (
	ManagedLabel = "sandagent.managed" // "true"
	NameLabel    = "sandagent.name"    // the name given to Attach, if any
	// AttachLabel holds a token unique to the Attach that created the
	// sandbox: an Attach that loses its create's answer (its ctx ended, the
	// connection dropped) looks the token up to find what it made.
	AttachLabel = "sandagent.attach"
)

// Info describes a sandbox as a provider lists it.
type Info struct {
	Provider  string
	ID        string
	Name      string            // "" when unnamed
	State     State             // "" when the provider does not say
	CreatedAt time.Time         // zero when the provider does not say
	Labels    map[string]string // the provider's labels or metadata
}

// Manager is implemented by a provider's Sandbox configuration that can
// list, and destroy without attaching, the sandboxes this library created:
// the tools to find and reap leaks.
type Manager interface {
	Sandbox
	// Managed lists the sandboxes labelled sandagent.managed=true that the
	// configuration's credentials can see, in every state.
	Managed(ctx context.Context) iter.Seq2[Info, error]
	// Kill destroys the sandbox id. One already gone is not an error.
	Kill(ctx context.Context, id string) error
}

// ReapOptions selects the sandboxes Reap destroys.
type ReapOptions struct {
	OlderThan time.Duration     // only those created longer ago (0: any age)
	Labels    map[string]string // only those carrying all these labels
	Apply     bool              // destroy them; false (the default) is a dry run
}

// Reap lists m's managed sandboxes, picks those o selects and, with
// o.Apply, destroys them. It returns what it picked (and, with Apply,
// destroyed), stopping at the first error. A sandbox whose age is unknown
// is never picked by OlderThan.
func Reap(ctx context.Context, m Manager, o ReapOptions) ([]Info, error) {
	var picked []Info
	for info, err := range m.Managed(ctx) {
		if err != nil {
			return picked, err
		}
		if !o.selects(info, time.Now()) {
			continue
		}
		if o.Apply {
			if err := m.Kill(ctx, info.ID); err != nil {
				return picked, err
			}
		}
		picked = append(picked, info)
	}
	return picked, nil
}

func (o ReapOptions) selects(info Info, now time.Time) bool {
	if o.OlderThan > 0 && (info.CreatedAt.IsZero() || now.Sub(info.CreatedAt) < o.OlderThan) {
		return false
	}
	for k, v := range o.Labels {
		if got, ok := info.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
