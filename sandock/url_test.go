package sandock_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

// urlSecret stands for a key someone put in a URL: no error may repeat it.
const urlSecret = "sk-5ecret0123456789abcdef0123456789abcdef"

func TestURLs(t *testing.T) {
	srv := sandocktest.NewServer(sandocktest.WithVolumeDelay(0))
	t.Cleanup(srv.Close)
	t.Setenv("SANDOCK_API_KEY", srv.APIKey())
	t.Setenv("SANDOCK_BASE_URL", "")

	var first string // the id of the first sandbox, for "{id}"
	for _, tc := range []struct {
		url     string
		outcome sandagent.Outcome
		check   func(t *testing.T, h *sandagent.Handle)
	}{
		{"sandock://?baseurl={url}&image=node:22&title=url-test&volume=v1:/workspace/v1&volume=v2:/workspace/v2&memory=512&cpu=256&deadline=1h", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			first = h.ID()
			require.Equal(t, []sandagent.Volume{{Name: "v1", MountPath: "/workspace/v1"}, {Name: "v2", MountPath: "/workspace/v2"}}, h.Volumes())
		}},
		{"sandock://?baseurl={url}&id={id}", sandagent.Reused, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID())
			require.NoError(t, h.Stop(t.Context()))
		}},
		{"sandock://?baseurl={url}&id={id}&restart=false", sandagent.Created, func(t *testing.T, h *sandagent.Handle) {
			require.NotEqual(t, first, h.ID(), "a stopped sandbox is replaced")
		}},
		{"sandock://?baseurl={url}&id={id}&restart=true", sandagent.Started, func(t *testing.T, h *sandagent.Handle) {
			require.Equal(t, first, h.ID(), "restart=true starts it again")
		}},
	} {
		url := strings.NewReplacer("{url}", srv.URL, "{id}", first).Replace(tc.url)
		h, err := sandagent.Open(t.Context(), url)
		require.NoError(t, err, url)
		t.Cleanup(func() { _ = h.Destroy(context.Background()) })
		require.Equal(t, tc.outcome, h.Outcome(), url)
		tc.check(t, h)
	}

	before := srv.Requests.Total()
	for url, part := range map[string]string{
		"sandock://?memory=%zz":                                 "malformed URL query",
		"sandock://?memory=1;cpu=2":                             "malformed URL query",
		"sandock://?bogus=1":                                    "unknown URL parameter bogus (known: id, image, title, volume, memory, cpu, deadline, restart, baseurl)",
		"sandock://?bogus=1&zzz=2":                              "unknown URL parameters bogus, zzz",
		"sandock://?" + urlSecret:                               "unknown URL parameter (a 41-byte name, not shown)",
		"sandock://?image=a&image=b":                            "URL parameter image given 2 times",
		"sandock://?memory=lots":                                "URL parameter memory: want an integer",
		"sandock://?cpu=0":                                      "URL parameter cpu: CPU shares 0",
		"sandock://?deadline=soon":                              "URL parameter deadline: want a duration",
		"sandock://?deadline=1500ms":                            "URL parameter deadline: active deadline",
		"sandock://?restart=maybe":                              "URL parameter restart: want true or false",
		"sandock://?volume=novolume":                            "URL parameter volume: want name:/mount/path",
		"sandock://?volume=v:relative":                          "URL parameter volume: volume",
		"sandock://?volume=a:/w/x&volume=b:/w/x":                "URL parameter volume: volumes",
		"sandock://?baseurl=ftp://example.com":                  "URL parameter baseurl: want an http",
		"sandock://?baseurl=https://u:" + urlSecret + "@x.test": "URL parameter baseurl: want an http:// or https:// URL without credentials",
		"sandock://?id=":                                        "URL parameter id",
		"sandock://?image=":                                     "URL parameter image: empty image",
		"sandock://name":                                        "unexpected host in the URL: sandock sandboxes have no names",
		"sandock://name:8080":                                   "unexpected host in the URL",
		"sandock:///path":                                       "unexpected path in the URL",
		"sandock://?id=x#frag":                                  "unexpected fragment in the URL",
		"sandock:x":                                             "malformed URL: want sandock://?id=",
		"sandock://" + urlSecret + "@":                          "credentials do not belong in a URL: set SANDOCK_API_KEY",
		"sandock://user:" + urlSecret + "@?id=x":                "credentials do not belong in a URL",
	} {
		_, err := sandagent.Open(t.Context(), url)
		require.ErrorIs(t, err, sandagent.ErrInvalid, url)
		require.ErrorContains(t, err, part, url)
		require.NotContains(t, err.Error(), urlSecret, url)
	}
	require.Equal(t, before, srv.Requests.Total(), "a bad URL sends no request")
}
