package e2b

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// Filter selects sandboxes for List.
type Filter struct {
	// Metadata matches sandboxes whose metadata holds every one of these
	// pairs. Empty matches all.
	Metadata map[string]string
	// States matches sandboxes in one of these states: sandagent.StateRunning
	// and sandagent.StatePaused, E2B's only two. Empty means both.
	States []sandagent.State
}

// SandboxInfo describes a listed sandbox.
type SandboxInfo struct {
	ID          string            // the id to attach with WithID
	Name        string            // the metadata sandagent.name, if any
	TemplateID  string            // the template's id
	Alias       string            // the template's alias, if any
	State       sandagent.State   // StateRunning or StatePaused
	StartedAt   time.Time         // when it was created or last resumed
	EndAt       time.Time         // when its timeout ends (running) or when it was paused
	Metadata    map[string]string // all of its metadata
	CPUCount    int
	MemoryMB    int
	DiskSizeMB  int
	EnvdVersion string
}

// List returns the sandboxes that match filter, reading every page as the
// iteration proceeds. The options are New's: the API key, domain, API URL,
// HTTP client and logger are used, the others ignored. An error ends the
// iteration; it is yielded once, with a zero SandboxInfo.
//
//	for sb, err := range e2b.List(ctx, e2b.Filter{Metadata: map[string]string{"user": "u-42"}}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(sb.ID, sb.State)
//	}
func List(ctx context.Context, filter Filter, opts ...Option) iter.Seq2[SandboxInfo, error] {
	return func(yield func(SandboxInfo, error) bool) {
		for _, st := range filter.States {
			if st != sandagent.StateRunning && st != sandagent.StatePaused {
				yield(SandboxInfo{}, wrap("list", sandagent.Errorf(sandagent.ErrInvalid, "state %q: E2B lists running and paused sandboxes only", st)))
				return
			}
		}
		for k := range filter.Metadata {
			if strings.ContainsAny(k, "\x00") || k == "" {
				yield(SandboxInfo{}, wrap("list", sandagent.Errorf(sandagent.ErrInvalid, "metadata key %q is empty or holds NUL", k)))
				return
			}
		}
		s, err := New(opts...)
		if err != nil {
			yield(SandboxInfo{}, wrap("list", err))
			return
		}
		for sb, err := range list(ctx, s.api, filter, nil) {
			if err != nil {
				yield(SandboxInfo{}, wrap("list", err))
				return
			}
			if !yield(info(sb), nil) {
				return
			}
		}
	}
}

func info(sb e2bapi.Sandbox) SandboxInfo {
	return SandboxInfo{
		ID:          sb.SandboxID,
		Name:        sb.Metadata[NameKey],
		TemplateID:  sb.TemplateID,
		Alias:       sb.Alias,
		State:       state(sb.State),
		StartedAt:   sb.StartedAt,
		EndAt:       sb.EndAt,
		Metadata:    sb.Metadata,
		CPUCount:    sb.CPUCount,
		MemoryMB:    sb.MemoryMB,
		DiskSizeMB:  sb.DiskSizeMB,
		EnvdVersion: sb.EnvdVersion,
	}
}

// state maps E2B's states onto sandagent's.
func state(s string) sandagent.State {
	switch s {
	case "running":
		return sandagent.StateRunning
	case "paused", "pausing":
		return sandagent.StatePaused
	}
	return sandagent.State(s)
}
