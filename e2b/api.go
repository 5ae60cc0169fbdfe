package e2b

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/httpx"
)

// api is the control-plane client (https://api.<domain>, header X-API-Key).
type api struct {
	c   *resty.Client
	key string // a secret: redacted from every error
}

// newSandbox is the body of POST /sandboxes.
type newSandbox struct {
	TemplateID    string            `json:"templateID"`
	Timeout       int32             `json:"timeout"`
	AutoPause     bool              `json:"autoPause,omitempty"`
	AutoResume    *autoResume       `json:"autoResume,omitempty"`
	Secure        bool              `json:"secure"`
	AllowInternet bool              `json:"allow_internet_access"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	EnvVars       map[string]string `json:"envVars,omitempty"`
}

type autoResume struct {
	Enabled bool `json:"enabled"`
}

// sandboxResp is the Sandbox schema: the answer to create and connect.
type sandboxResp struct {
	TemplateID         string  `json:"templateID"`
	SandboxID          string  `json:"sandboxID"`
	Alias              string  `json:"alias,omitempty"`
	EnvdVersion        string  `json:"envdVersion"`
	EnvdAccessToken    string  `json:"envdAccessToken,omitempty"`
	TrafficAccessToken *string `json:"trafficAccessToken,omitempty"`
	Domain             *string `json:"domain,omitempty"`
}

// listedSandbox is the ListedSandbox schema (and the part of SandboxDetail
// this package reads).
type listedSandbox struct {
	TemplateID  string            `json:"templateID"`
	Alias       string            `json:"alias,omitempty"`
	SandboxID   string            `json:"sandboxID"`
	StartedAt   time.Time         `json:"startedAt"`
	EndAt       time.Time         `json:"endAt"`
	CPUCount    int               `json:"cpuCount"`
	MemoryMB    int               `json:"memoryMB"`
	DiskSizeMB  int               `json:"diskSizeMB"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	State       string            `json:"state"`
	EnvdVersion string            `json:"envdVersion"`
}

// seconds is d in whole seconds, rounded up as the SDKs do, within int32.
func seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	return int32(min(max(s, 0), math.MaxInt32))
}

// check classifies a failed request, redacting the API key.
func (a *api) check(op string, r *resty.Response, err error) error {
	return httpx.Check(ProviderName, op, r, err, nil, a.key)
}

func (a *api) create(ctx context.Context, body newSandbox) (sandboxResp, error) {
	var out sandboxResp
	r, err := a.c.R().SetContext(ctx).SetBody(body).SetResult(&out).Post("/sandboxes")
	return out, a.check("create", r, err)
}

// connect attaches to a sandbox, resuming it if it is paused: 200 means it
// was running (only its timeout was extended), 201 that it was resumed.
func (a *api) connect(ctx context.Context, id string, timeout time.Duration) (sandboxResp, sandagent.Outcome, error) {
	var out sandboxResp
	r, err := a.c.R().SetContext(httpx.Idempotent(ctx)).
		SetBody(map[string]int32{"timeout": seconds(timeout)}).
		SetResult(&out).
		Post("/sandboxes/" + url.PathEscape(id) + "/connect")
	if err := a.check("connect", r, err); err != nil {
		return out, 0, err
	}
	if r.StatusCode() == http.StatusCreated {
		return out, sandagent.Resumed, nil
	}
	return out, sandagent.Reused, nil
}

func (a *api) get(ctx context.Context, id string) (listedSandbox, error) {
	var out listedSandbox
	r, err := a.c.R().SetContext(ctx).SetResult(&out).Get("/sandboxes/" + url.PathEscape(id))
	return out, a.check("state", r, err)
}

func (a *api) kill(ctx context.Context, id string) error {
	r, err := a.c.R().SetContext(ctx).Delete("/sandboxes/" + url.PathEscape(id))
	if r != nil && r.StatusCode() == http.StatusNotFound {
		return nil // already gone
	}
	return a.check("destroy", r, err)
}

func (a *api) pause(ctx context.Context, id string) error {
	r, err := a.c.R().SetContext(ctx).Post("/sandboxes/" + url.PathEscape(id) + "/pause")
	err = a.check("pause", r, err)
	if r != nil && r.StatusCode() == http.StatusConflict {
		var e *sandagent.Error
		if errors.As(err, &e) {
			if strings.Contains(e.Message, "already paused") {
				return nil
			}
			e.Kind = sandagent.ErrState // pausing while being killed or snapshotted
		}
	}
	return err
}

func (a *api) setTimeout(ctx context.Context, id string, d time.Duration) error {
	r, err := a.c.R().SetContext(ctx).
		SetBody(map[string]int32{"timeout": seconds(d)}).
		Post("/sandboxes/" + url.PathEscape(id) + "/timeout")
	return a.check("set-timeout", r, err)
}

// pageSize is how many sandboxes one GET /v2/sandboxes asks for: the most
// the API serves. Tests lower it.
var pageSize = 100

// list yields every sandbox matching f, page after page. It stops at the
// first error, which it yields.
func (a *api) list(ctx context.Context, f Filter) iter.Seq2[listedSandbox, error] {
	return func(yield func(listedSandbox, error) bool) {
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
			var page []listedSandbox
			r, err := a.c.R().SetContext(ctx).SetQueryParamsFromValues(q).Get("/v2/sandboxes")
			if err := a.check("list", r, err); err != nil {
				yield(listedSandbox{}, err)
				return
			}
			if err := json.Unmarshal(r.Body(), &page); err != nil {
				yield(listedSandbox{}, &sandagent.Error{Provider: ProviderName, Op: "list", Message: "malformed sandbox list", Err: err})
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
