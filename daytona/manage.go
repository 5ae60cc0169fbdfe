package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"maps"
	"time"

	apiclient "github.com/daytonaio/daytona/libs/api-client-go"

	"github.com/sandagent/sandagent"
)

var _ sandagent.Manager = (*Sandbox)(nil)

// Managed lists the sandboxes labelled sandagent.managed=true that the
// configuration's credentials can see, in every state: GET /sandbox with
// labels={"sandagent.managed":"true"} and includeErroredDeleted=true (a
// sandbox whose deletion failed is a leak too), following nextCursor until
// it is null. An error on any page ends the listing with that error.
func (s *Sandbox) Managed(ctx context.Context) iter.Seq2[sandagent.Info, error] {
	return s.list(ctx, map[string]string{sandagent.ManagedLabel: "true"})
}

// list lists the sandboxes carrying every label of labels, as Managed
// does.
func (s *Sandbox) list(ctx context.Context, labels map[string]string) iter.Seq2[sandagent.Info, error] {
	return func(yield func(sandagent.Info, error) bool) {
		fail := func(err error) { yield(sandagent.Info{}, wrap("list", err)) }
		if err := ctx.Err(); err != nil {
			fail(err)
			return
		}
		filter, err := json.Marshal(labels)
		if err != nil {
			fail(err)
			return
		}
		seen := map[string]bool{}
		cursor := ""
		for {
			req := s.api.SandboxAPI.ListSandboxes(ctx).Labels(string(filter)).IncludeErroredDeleted(true).Limit(float32(s.pageSize))
			if cursor != "" {
				req = req.Cursor(cursor)
			}
			page, resp, err := req.Execute()
			if err = s.check("list sandboxes", resp, err); err != nil {
				fail(err)
				return
			}
			if page == nil || page.Items == nil {
				fail(&sandagent.Error{Provider: ProviderName, Op: "list", Status: resp.StatusCode, Message: "unexpected response: malformed sandbox list"})
				return
			}
			for _, it := range page.Items {
				if !yield(info(it), nil) {
					return
				}
			}
			cursor = page.GetNextCursor()
			if cursor == "" {
				return
			}
			if seen[cursor] {
				fail(&sandagent.Error{Provider: ProviderName, Op: "list", Message: "the list's cursor repeats itself"})
				return
			}
			seen[cursor] = true
		}
	}
}

// info maps a listed sandbox onto sandagent.Info.
func info(it apiclient.SandboxListItem) sandagent.Info {
	i := sandagent.Info{
		Provider: ProviderName,
		ID:       it.Id,
		Name:     it.Name,
		Labels:   maps.Clone(it.Labels),
	}
	if it.State != nil {
		i.State = sandboxState(*it.State)
	}
	if t, err := time.Parse(time.RFC3339Nano, it.GetCreatedAt()); err == nil {
		i.CreatedAt = t
	}
	return i
}

// Kill deletes the sandbox id (or name) without attaching: DELETE
// /sandbox/{id}. One already gone (404) is not an error, nor is one already
// being destroyed: Daytona answers 409 to a delete while a state change is
// in progress, so on a 409 Kill reads the sandbox and succeeds if it is
// gone or destroying, else returns the conflict.
func (s *Sandbox) Kill(ctx context.Context, id string) error {
	if id == "" {
		return wrap("kill", invalid("empty sandbox id"))
	}
	_, resp, err := s.api.SandboxAPI.DeleteSandbox(ctx, id).Execute()
	err = s.check("delete sandbox", resp, err)
	if errors.Is(err, sandagent.ErrConflict) {
		sb, gerr := s.get(ctx, id)
		switch {
		case errors.Is(gerr, sandagent.ErrNotFound):
			return nil
		case gerr == nil && sandboxState(sb.GetState()) == sandagent.StateDestroyed:
			return nil
		}
	}
	if errors.Is(err, sandagent.ErrNotFound) {
		return nil
	}
	return wrap("kill", err)
}
