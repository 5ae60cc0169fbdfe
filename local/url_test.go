//go:build unix

package local_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	_ "github.com/sandagent/sandagent/local"
)

// urlSecret stands for a key someone put in a URL: no error may repeat it.
const urlSecret = "sk-5ecret0123456789abcdef0123456789abcdef"

func TestURLs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var first string // the id of the first sandbox, for "{id}"
	for _, tc := range []struct {
		url     string
		outcome sandagent.Outcome
		check   func(t *testing.T, h *sandagent.Handle)
	}{
		{"local://url-name?dir={dir}&timeout=10m&autopause=true", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			first = h.ID()
			require.Equal(t, "url-name", h.Name())
			require.True(t, h.Workdir() == "/home/user" || strings.HasPrefix(h.Workdir(), dir), "dir= holds the sandbox")
		}},
		{"local://url-name?dir={dir}", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
		{"local://?dir={dir}&id={id}", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
		{"local://?dir={dir}&isolate=false&autopause=false", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			require.NotEqual(t, first, h.ID())
			require.Empty(t, h.Name())
		}},
	} {
		url := strings.NewReplacer("{dir}", dir, "{id}", first).Replace(tc.url)
		h, err := sandagent.Open(t.Context(), url)
		require.NoError(t, err, url)
		t.Cleanup(func() { _ = h.Destroy(context.Background()) })
		require.Equal(t, tc.outcome, h.Outcome(), url)
		tc.check(t, h)
	}

	// A URL that only configures parses without attaching.
	_, err := sandagent.FromURL("local://x?isolate=true&dir=" + dir)
	require.NoError(t, err)

	for url, part := range map[string]string{
		"local://x?timeout=%zz":                   "malformed URL query",
		"local://x?timeout=1m;dir=/x":             "malformed URL query",
		"local://x?bogus=1":                       "unknown URL parameter bogus (known: id, dir, snapshot, timeout, autopause, isolate)",
		"local://x?bogus=1&zzz=2":                 "unknown URL parameters bogus, zzz",
		"local://x?" + urlSecret:                  "unknown URL parameter (a 41-byte name, not shown)",
		"local://x?timeout=1m&timeout=2m":         "URL parameter timeout given 2 times",
		"local://x?timeout=soon":                  "URL parameter timeout: want a duration",
		"local://x?timeout=-1s":                   "URL parameter timeout: negative timeout",
		"local://x?isolate=maybe":                 "URL parameter isolate: want true or false",
		"local://x?autopause=":                    "URL parameter autopause: want true or false",
		"local://?id=":                            "URL parameter id: empty id",
		"local://x?dir=":                          "URL parameter dir: empty directory",
		"local://x/extra":                         "unexpected path in the URL",
		"local://x:8080":                          "unexpected port in the URL",
		"local://x#frag":                          "unexpected fragment in the URL",
		"local:x":                                 "malformed URL: want local://name",
		"local://-bad":                            `URL host (the sandbox name): name "-bad"`,
		"local://x?id=abc":                        "URL gives both a name (the host) and an id",
		"local://" + urlSecret + "@x":             "credentials do not belong in a URL: local sandboxes need none",
		"local://user:" + urlSecret + "@x?dir=/x": "credentials do not belong in a URL",
	} {
		_, err := sandagent.Open(t.Context(), url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part, url)
		require.NotContains(t, err.Error(), urlSecret, url)
	}
}
