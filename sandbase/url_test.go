package sandbase_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandbase"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// urlSecret stands for a key someone put in a URL: no error may repeat it.
const urlSecret = "sk-sb-5ecret0123456789abcdef0123456789abcd"

func TestURLs(t *testing.T) {
	srv := sandbasetest.NewServer()
	t.Cleanup(srv.Close)
	t.Setenv("SANDBASE_API_KEY", srv.APIKey())
	t.Setenv("SANDBASE_API_URL", srv.URL)
	t.Setenv("SANDBASE_SANDBOX_URL", srv.URL)
	t.Setenv("SANDBASE_TEMPLATE", "base")
	labels := func(t *testing.T, id string) map[string]string {
		t.Helper()
		sb, err := sandagent.FromURL("sandbase://")
		require.NoError(t, err)
		for info, err := range sb.(sandagent.Manager).Managed(t.Context()) {
			require.NoError(t, err)
			if info.ID == id {
				return info.Labels
			}
		}
		t.Fatalf("sandbox %s not listed", id)
		return nil
	}

	var first string // the id of the first sandbox, for "{id}"
	for _, tc := range []struct {
		url     string
		outcome sandagent.Outcome
		check   func(t *testing.T, h *sandagent.Handle)
	}{
		{"sandbase://url-name?template=base&timeout=10m&meta.team=core", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			first = h.ID()
			require.Equal(t, "url-name", h.Name())
			var n sandbase.Native
			require.True(t, h.As(&n))
			require.Equal(t, "base", n.TemplateID)
			require.Equal(t, "core", labels(t, h.ID())["team"])
		}},
		{"sandbase://url-name", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
		{"sandbase://?id={id}&timeout=1m", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
	} {
		url := strings.ReplaceAll(tc.url, "{id}", first)
		h, err := sandagent.Open(t.Context(), url)
		require.NoError(t, err, url)
		t.Cleanup(func() { _ = h.Destroy(context.Background()) })
		require.Equal(t, tc.outcome, h.Outcome(), url)
		tc.check(t, h)
	}

	before := srv.Requests.Total()
	for url, part := range map[string]string{
		"sandbase://x?timeout=%zz":               "malformed URL query",
		"sandbase://x?timeout=1m;template=base":  "malformed URL query",
		"sandbase://x?bogus=1":                   "unknown URL parameter bogus (known: id, template, timeout, create, domain, meta.<key>)",
		"sandbase://x?bogus=1&zzz=2":             "unknown URL parameters bogus, zzz",
		"sandbase://x?" + urlSecret:              "unknown URL parameter (a 42-byte name, not shown)",
		"sandbase://x?timeout=1m&timeout=2m":     "URL parameter timeout given 2 times",
		"sandbase://x?timeout=soon":              "URL parameter timeout: want a duration",
		"sandbase://x?timeout=0s":                "URL parameter timeout: timeout 0s is not positive",
		"sandbase://?id=i.123":                   "URL parameter id: sandbox id",
		"sandbase://x?template=":                 "URL parameter template",
		"sandbase://x?meta.sandagent.managed=y":  "URL parameter meta.sandagent.managed",
		"sandbase://x/path":                      "unexpected path in the URL",
		"sandbase://x:8080":                      "unexpected port in the URL",
		"sandbase://x#frag":                      "unexpected fragment in the URL",
		"sandbase:x":                             "malformed URL: want sandbase://name",
		"sandbase://" + strings.Repeat("n", 129): "URL host (the sandbox name): name",
		"sandbase://x?id=iabc":                   "URL gives both a name (the host) and an id",
		"sandbase://" + urlSecret + "@x":         "credentials do not belong in a URL: set SANDBASE_API_KEY",
		"sandbase://user:" + urlSecret + "@x":    "credentials do not belong in a URL",
	} {
		_, err := sandagent.Open(t.Context(), url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part, url)
		require.NotContains(t, err.Error(), urlSecret, url)
	}
	require.Equal(t, before, srv.Requests.Total(), "a bad URL sends no request")
}
