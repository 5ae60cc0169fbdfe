package e2b

import (
	"context"
	"iter"

	"github.com/sandagent/sandagent"
)

var _ sandagent.Manager = (*Sandbox)(nil)

// Managed lists the running and paused sandboxes labelled
// sandagent.managed=true (the metadata filter of GET /v2/sandboxes, every
// page), for sandagent.Reap. CreatedAt is E2B's startedAt, which a resume
// moves forward: an age is the time since the last start.
func (s *Sandbox) Managed(ctx context.Context) iter.Seq2[sandagent.Info, error] {
	return func(yield func(sandagent.Info, error) bool) {
		for sb, err := range list(ctx, s.api, Filter{Metadata: map[string]string{ManagedKey: "true"}}) {
			if err != nil {
				yield(sandagent.Info{}, s.wrap("list", err))
				return
			}
			if sb.Metadata[ManagedKey] != "true" { // a service that ignores the filter
				continue
			}
			info := sandagent.Info{
				Provider: s.svc.Provider, ID: sb.SandboxID, Name: sb.Metadata[NameKey],
				State: state(sb.State), CreatedAt: sb.StartedAt, Labels: sb.Metadata,
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Kill kills the sandbox id for good, without attaching to it (one DELETE;
// a paused sandbox is not resumed first). One already gone is not an error.
func (s *Sandbox) Kill(ctx context.Context, id string) error {
	return s.wrap("kill", s.api.Kill(ctx, id))
}
