package sandock

import (
	"context"
	"encoding/json"
	"iter"

	"github.com/sandagent/sandagent"
)

var _ sandagent.Manager = (*Sandbox)(nil)

// Managed lists the sandboxes this package created, in every state: Sandock
// has no labels, so they are the sandboxes whose title is the
// configuration's title ("sandagent" unless WithTitle says otherwise). One
// request, GET /api/v1/sandbox: the API does not page.
//
// The rule has two limits. A sandbox someone else titled the same way is
// listed too (and Reap would destroy it). And Sandock documents only id,
// status, image and createdAt for a listed sandbox: if the service does not
// report an item's title, Managed cannot tell whose it is and fails with
// ErrUnsupported rather than guess. Info.Name is empty (Sandock has no
// names) and Info.Labels is nil.
func (s *Sandbox) Managed(ctx context.Context) iter.Seq2[sandagent.Info, error] {
	return func(yield func(sandagent.Info, error) bool) {
		infos, err := s.managed(ctx)
		if err != nil {
			yield(sandagent.Info{}, wrap("list", err))
			return
		}
		for _, info := range infos {
			if !yield(info, nil) {
				return
			}
		}
	}
}

func (s *Sandbox) managed(ctx context.Context) ([]sandagent.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.title == "" {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "no title: the sandboxes this package created are told apart by their title")
	}
	items, err := s.api.list(ctx, "list")
	if err != nil {
		return nil, err
	}
	var out []sandagent.Info
	for _, it := range items {
		if it.Title == nil {
			return nil, sandagent.Errorf(sandagent.ErrUnsupported, "the service does not report the title of sandbox %s, so its sandboxes cannot be told apart", it.ID)
		}
		var title *string // null: untitled
		if err := json.Unmarshal(it.Title, &title); err != nil {
			return nil, &sandagent.Error{Provider: ProviderName, Op: "list", Message: "malformed title of sandbox " + it.ID}
		}
		if title == nil || *title != s.title {
			continue
		}
		out = append(out, sandagent.Info{
			Provider:  ProviderName,
			ID:        it.ID,
			State:     state(it.Status),
			CreatedAt: parseTime(it.CreatedAt),
		})
	}
	return out, nil
}

// Kill deletes the sandbox id (DELETE /api/v1/sandbox/{id}) without
// attaching. One already gone is not an error: Sandock fails the delete,
// and the list then confirms the sandbox is gone.
func (s *Sandbox) Kill(ctx context.Context, id string) error {
	if id == "" {
		return wrap("kill", sandagent.Errorf(sandagent.ErrInvalid, "empty sandbox id"))
	}
	return wrap("kill", s.api.remove(ctx, "kill", id))
}
