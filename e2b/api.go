package e2b

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

// seconds is d in whole seconds, rounded up as the SDKs do, within int32.
func seconds(d time.Duration) int32 { return e2bapi.Seconds(d) }

// pageSize is how many sandboxes one GET /v2/sandboxes asks for: the most
// the API serves. Tests lower it.
var pageSize = 100

// list yields every sandbox matching f, page after page. It stops at the
// first error, which it yields.
func list(ctx context.Context, api *e2bapi.Client, f Filter) iter.Seq2[e2bapi.Sandbox, error] {
	return func(yield func(e2bapi.Sandbox, error) bool) {
		q := url.Values{"limit": {strconv.Itoa(pageSize)}}
		if m := encodeMetadata(f.Metadata); m != "" {
			q.Set("metadata", m)
		}
		states := []string{"running", "paused"}
		if len(f.States) > 0 {
			states = states[:0]
			for _, s := range f.States {
				states = append(states, string(s))
			}
		}
		q.Set("state", strings.Join(states, ","))
		for {
			var page []e2bapi.Sandbox
			r, err := api.R(ctx).SetQueryParamsFromValues(q).Get("/v2/sandboxes")
			if err := api.Check("list", r, err); err != nil {
				yield(e2bapi.Sandbox{}, err)
				return
			}
			if err := json.Unmarshal(r.Body(), &page); err != nil {
				yield(e2bapi.Sandbox{}, &sandagent.Error{Provider: api.Provider(), Op: "list", Message: "malformed sandbox list", Err: err})
				return
			}
			for _, sb := range page {
				if !yield(sb, nil) {
					return
				}
			}
			next := r.Header().Get("X-Next-Token")
			if next == "" {
				return
			}
			q.Set("nextToken", next)
		}
	}
}

// listNamed lists the running and paused sandboxes whose metadata carries
// name: the lookup of the reuse rule.
func listNamed(api *e2bapi.Client, name string) func(context.Context) ([]e2bapi.Sandbox, error) {
	return func(ctx context.Context) ([]e2bapi.Sandbox, error) {
		var found []e2bapi.Sandbox
		for sb, err := range list(ctx, api, Filter{Metadata: map[string]string{NameKey: name}}) {
			if err != nil {
				return nil, err
			}
			found = append(found, sb)
		}
		return found, nil
	}
}

// encodeMetadata encodes a metadata filter the way the API decodes it: the
// query value is unescaped once more and split on '&' and '=', and each key
// and value unescaped again, so each is escaped twice here (and once more on
// the wire). Keys are sorted so the request is deterministic.
func encodeMetadata(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = url.QueryEscape(url.QueryEscape(k)) + "=" + url.QueryEscape(url.QueryEscape(m[k]))
	}
	return strings.Join(pairs, "&")
}
