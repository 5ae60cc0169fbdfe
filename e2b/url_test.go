package e2b_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
)

// urlSecret stands for a key someone put in a URL: no error may repeat it.
const urlSecret = "e2b_5ecret0123456789abcdef0123456789abcdef"

func TestURLs(t *testing.T) {
	srv := e2btest.NewServer()
	t.Cleanup(srv.Close)
	t.Setenv("E2B_API_KEY", srv.APIKey())
	t.Setenv("E2B_API_URL", srv.URL)
	t.Setenv("E2B_SANDBOX_URL", srv.URL)
	info := func(t *testing.T, id string) e2b.SandboxInfo {
		t.Helper()
		for sb, err := range e2b.List(t.Context(), e2b.Filter{}) {
			require.NoError(t, err)
			if sb.ID == id {
				return sb
			}
		}
		t.Fatalf("sandbox %s not listed", id)
		return e2b.SandboxInfo{}
	}

	var first string // the id of the first sandbox, for "{id}"
	for _, tc := range []struct {
		url     string
		outcome sandagent.Outcome
		check   func(t *testing.T, h *sandagent.Handle)
	}{
		{"e2b://url-name?template=base&timeout=10m&meta.team=core", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			first = h.ID()
			require.Equal(t, "url-name", h.Name())
			sb := info(t, h.ID())
			require.Equal(t, "base", sb.TemplateID)
			require.Equal(t, 10*time.Minute, sb.EndAt.Sub(sb.StartedAt).Round(time.Second))
			require.Equal(t, "core", sb.Metadata["team"])
		}},
		{"e2b://url-name", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
		{"e2b://?id={id}", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
		{"e2b://?id=inosuch0000000000000&create=true&timeout=1m", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			require.NotEqual(t, first, h.ID())
		}},
		{"e2b://url-flags?autopause=true&autoresume=true&secure=false&create=false", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			var n e2b.Native
			require.True(t, h.As(&n))
			require.NotEmpty(t, n.EnvdAccessToken, "secure=false is v1's: v2 secures every sandbox")
		}},
	} {
		url := strings.ReplaceAll(tc.url, "{id}", first)
		h, err := sandagent.Open(t.Context(), url)
		require.NoError(t, err, url)
		t.Cleanup(func() { _ = h.Destroy(context.Background()) })
		require.Equal(t, tc.outcome, h.Outcome(), url)
		tc.check(t, h)
	}

	// A URL that only configures parses without a request.
	_, err := sandagent.FromURL("e2b://?domain=example.com")
	require.NoError(t, err)

	before := srv.Requests.Total()
	for url, part := range map[string]string{
		"e2b://x?timeout=%zz":                      "malformed URL query",
		"e2b://x?timeout=1m;template=base":         "malformed URL query",
		"e2b://x?bogus=1":                          "unknown URL parameter bogus (known: id, template",
		"e2b://x?bogus=1&zzz=2":                    "unknown URL parameters bogus, zzz",
		"e2b://x?" + urlSecret:                     "unknown URL parameter (a 42-byte name, not shown)",
		"e2b://x?=1":                               `unknown URL parameter ""`,
		"e2b://x?timeout=1m&timeout=2m":            "URL parameter timeout given 2 times",
		"e2b://x?timeout=soon":                     "URL parameter timeout: want a duration",
		"e2b://x?timeout=-1s":                      "URL parameter timeout: timeout -1s is not positive",
		"e2b://x?autopause=maybe":                  "URL parameter autopause: want true or false",
		"e2b://x?secure=":                          "URL parameter secure: want true or false",
		"e2b://?id=Not-An-Id":                      "URL parameter id",
		"e2b://x?template=":                        "URL parameter template",
		"e2b://x?meta.sandagent.name=y":            "URL parameter meta.sandagent.name",
		"e2b://x?domain=" + urlSecret + "@e2b.app": "URL parameter domain: want a host name",
		"e2b://x?domain=a/b":                       "URL parameter domain",
		"e2b://x/path":                             "unexpected path in the URL",
		"e2b://x:8080":                             "unexpected port in the URL",
		"e2b://x#frag":                             "unexpected fragment in the URL",
		"e2b:x":                                    "malformed URL: want e2b://name",
		"e2b://" + strings.Repeat("n", 129):        "URL host (the sandbox name): name",
		"e2b://x?id=iabc":                          "URL gives both a name (the host) and an id",
		"e2b://" + urlSecret + "@x":                "credentials do not belong in a URL: set E2B_API_KEY",
		"e2b://user:" + urlSecret + "@x":           "credentials do not belong in a URL",
		"e2b://x?create=true":                      "WithCreateIfMissing needs WithID",
		"e2b://x?autoresume=true":                  "WithAutoResume needs WithAutoPause",
	} {
		_, err := sandagent.Open(t.Context(), url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part, url)
		require.NotContains(t, err.Error(), urlSecret, url)
	}
	require.Equal(t, before, srv.Requests.Total(), "a bad URL sends no request")
}
