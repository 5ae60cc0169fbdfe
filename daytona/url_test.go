package daytona_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
)

// urlSecret stands for a key someone put in a URL: no error may repeat it.
const urlSecret = "dtn_5ecret0123456789abcdef0123456789abcdef"

func TestURLs(t *testing.T) {
	srv := daytonatest.NewServer()
	t.Cleanup(srv.Close)
	t.Setenv("DAYTONA_API_KEY", srv.APIKey())
	t.Setenv("DAYTONA_API_URL", srv.URL)

	var first string // the id of the first sandbox, for "{id}"
	for _, tc := range []struct {
		url     string
		outcome sandagent.Outcome
		check   func(t *testing.T, h *sandagent.Handle)
	}{
		{"daytona://url-name?volume=url-vol&volume=url-data:/mnt/data&autostop=30m&autoarchive=1h&autodelete=-1&language=typescript&public=true&networkblockall=false&target=eu", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			first = h.ID()
			require.Equal(t, "url-name", h.Name())
			require.Equal(t, []sandagent.Volume{{Name: "url-vol", MountPath: daytona.DefaultMountPath}, {Name: "url-data", MountPath: "/mnt/data"}}, h.Volumes())
			var ctl *daytona.Control
			require.True(t, h.As(&ctl))
			info, err := ctl.Info(t.Context())
			require.NoError(t, err)
			require.EqualValues(t, 30, *info.AutoStopInterval)
			require.EqualValues(t, 60, *info.AutoArchiveInterval)
			require.EqualValues(t, -1, *info.AutoDeleteInterval)
			require.True(t, info.Public)
			require.Equal(t, "eu", info.Target)
			require.Equal(t, "typescript", srv.Labels(h.ID())["code-toolbox-language"])
		}},
		{"daytona://url-name", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
		}},
		{"daytona://?id={id}", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
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

	// URLs that only configure parse without a request.
	for _, url := range []string{
		"daytona://x?image=python:3.12&networkallowlist=10.0.0.0/8,192.168.0.0/16",
		"daytona://x?snapshot=daytona-small&networkblockall=true&autodelete=0s",
	} {
		_, err := sandagent.FromURL(url)
		require.NoError(t, err, url)
	}

	before := srv.Requests.Total()
	for url, part := range map[string]string{
		"daytona://x?autostop=%zz":                 "malformed URL query",
		"daytona://x?autostop=1m;public=true":      "malformed URL query",
		"daytona://x?volume=v&colour=blue":         "unknown URL parameter colour (known: id, volume, autostop",
		"daytona://x?bogus=1&zzz=2":                "unknown URL parameters bogus, zzz",
		"daytona://x?" + urlSecret:                 "unknown URL parameter (a 42-byte name, not shown)",
		"daytona://x?autostop=1m&autostop=2m":      "URL parameter autostop given 2 times",
		"daytona://x?autostop=soon":                "URL parameter autostop: want a duration",
		"daytona://x?autostop=-1":                  "URL parameter autostop: want a duration",
		"daytona://x?autoarchive=-1m":              "URL parameter autoarchive: negative auto-archive interval",
		"daytona://x?public=maybe":                 "URL parameter public: want true or false",
		"daytona://x?networkblockall=":             "URL parameter networkblockall: want true or false",
		"daytona://x?networkallowlist=1.2.3.4":     "URL parameter networkallowlist: network allow list entry",
		"daytona://x?language=cobol":               "URL parameter language",
		"daytona://x?snapshot=":                    "URL parameter snapshot: empty snapshot name",
		"daytona://x?volume=v:/proc/x":             "URL parameter volume: volume v: mount path",
		"daytona://x?volume=":                      "URL parameter volume: volume name",
		"daytona://?id=":                           "URL parameter id",
		"daytona://x/path":                         "unexpected path in the URL",
		"daytona://x:8080":                         "unexpected port in the URL",
		"daytona://x#frag":                         "unexpected fragment in the URL",
		"daytona:x":                                "malformed URL: want daytona://name",
		"daytona://a%2525b":                        "URL host (the sandbox name): name",
		"daytona://x?id=abc":                       "URL gives both a name (the host) and an id",
		"daytona://" + urlSecret + "@x":            "credentials do not belong in a URL: set DAYTONA_API_KEY",
		"daytona://user:" + urlSecret + "@x":       "credentials do not belong in a URL",
		"daytona://x?snapshot=a&image=python:3.12": "WithSnapshot and WithImage both given",
	} {
		_, err := sandagent.Open(t.Context(), url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part, url)
		require.NotContains(t, err.Error(), urlSecret, url)
	}
	require.Equal(t, before, srv.Requests.Total(), "a bad URL sends no request")
}
