//go:build unix

package local

import (
	"context"
	"errors"
	"iter"
	"maps"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/engine"
)

var _ sandagent.Manager = (*Sandbox)(nil)

// RootSupport reports why sandboxes created under dir get no filesystem
// root of their own here (nil: they do): the one line that says a local
// sandbox runs in the confined-directory mode, and why.
func RootSupport(dir string) error {
	e, err := engine.Open(dir)
	if err != nil {
		return wrap("root", err)
	}
	return e.RootSupport()
}

// Managed lists the sandboxes in the configuration's directory that this
// library created (all of them, in practice), in every state.
func (s *Sandbox) Managed(ctx context.Context) iter.Seq2[sandagent.Info, error] {
	return func(yield func(sandagent.Info, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(sandagent.Info{}, err)
			return
		}
		e, err := engine.Open(s.dir)
		if err != nil {
			yield(sandagent.Info{}, wrap("list", err))
			return
		}
		metas, err := e.List(s.now)
		if err != nil {
			yield(sandagent.Info{}, wrap("list", err))
			return
		}
		for _, m := range metas {
			if m.Labels[sandagent.ManagedLabel] != "true" {
				continue
			}
			info := sandagent.Info{
				Provider: ProviderName, ID: m.ID, Name: m.Name,
				State: sandagent.State(m.State), CreatedAt: m.CreatedAt, Labels: maps.Clone(m.Labels),
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Kill destroys the sandbox id, without attaching. One already gone is not
// an error.
func (s *Sandbox) Kill(ctx context.Context, id string) error {
	e, err := engine.Open(s.dir)
	if err != nil {
		return wrap("kill", err)
	}
	sb, err := e.Get(id, s.now)
	if errors.Is(err, sandagent.ErrNotFound) {
		return nil
	}
	if err != nil {
		return wrap("kill", err)
	}
	m, err := sb.Meta()
	if errors.Is(err, sandagent.ErrNotFound) {
		return nil
	}
	if err != nil {
		return wrap("kill", err)
	}
	return wrap("kill", destroy(ctx, e, sb, m.Name))
}

// destroy deletes sb and, under the name's lock, its name binding.
func destroy(ctx context.Context, e *engine.Engine, sb *engine.Sandbox, name string) error {
	if name != "" {
		unlock, err := e.LockName(ctx, name)
		if err != nil {
			return err
		}
		defer unlock()
		defer func() { _ = e.UnbindName(name, sb.ID()) }()
	}
	return sb.Destroy()
}
