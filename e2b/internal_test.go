package e2b

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

// decodeMetadata decodes a metadata filter as E2B's API does: the query
// value is unescaped once more, split on '&' and '=', and each key and
// value unescaped again.
func decodeMetadata(t *testing.T, rawQuery string) map[string]string {
	t.Helper()
	q, err := url.ParseQuery(rawQuery)
	require.NoError(t, err)
	inner, err := url.QueryUnescape(q.Get("metadata"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, pair := range strings.Split(inner, "&") {
		kv := strings.Split(pair, "=")
		require.Len(t, kv, 2, "pair %q", pair)
		k, err := url.QueryUnescape(kv[0])
		require.NoError(t, err)
		v, err := url.QueryUnescape(kv[1])
		require.NoError(t, err)
		out[k] = v
	}
	return out
}

func TestEncodeMetadata(t *testing.T) {
	q := url.Values{}
	q.Set("metadata", encodeMetadata(map[string]string{"user": "abc", "app": "prod"}))
	require.Equal(t, "metadata=app%3Dprod%26user%3Dabc", q.Encode(), "the reference's wire example")

	tricky := map[string]string{"sandagent.name": "a&b=c d%e+f/ü", "k&=": "v"}
	q.Set("metadata", encodeMetadata(tricky))
	require.Equal(t, tricky, decodeMetadata(t, q.Encode()))
}

func TestSeconds(t *testing.T) {
	require.Equal(t, int32(300), seconds(DefaultTimeout))
	require.Equal(t, int32(2), seconds(1500*time.Millisecond), "rounded up, as the SDKs")
	require.Equal(t, int32(0), seconds(-time.Second))
	require.Equal(t, int32(1<<31-1), seconds(1<<62))
}

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{
		"iabc123": true, "iabc-6532622b": true, "": false, "I": false, "a/b": false, "a-b-c": false, "a-": false,
	} {
		require.Equal(t, ok, validID(id), id)
	}
}

func TestEnvdURLs(t *testing.T) {
	s := &Sandbox{}
	rpc, files := s.envdURLs("iabc", "e2b.app")
	require.Equal(t, "https://sandbox.e2b.app", rpc)
	require.Equal(t, "https://49983-iabc.e2b.app", files)
	rpc, files = s.envdURLs("iabc", "example.com")
	require.Equal(t, "https://49983-iabc.example.com", rpc)
	require.Equal(t, rpc, files)
	s.sandboxURL = "http://127.0.0.1:9"
	rpc, files = s.envdURLs("iabc", "e2b.app")
	require.Equal(t, s.sandboxURL, rpc)
	require.Equal(t, s.sandboxURL, files)
}

func TestCodeKind(t *testing.T) {
	for code, kind := range map[connect.Code]error{
		connect.CodeNotFound:           sandagent.ErrNotFound,
		connect.CodeInvalidArgument:    sandagent.ErrInvalid,
		connect.CodeAlreadyExists:      sandagent.ErrConflict,
		connect.CodeUnauthenticated:    sandagent.ErrAuth,
		connect.CodePermissionDenied:   sandagent.ErrAuth,
		connect.CodeResourceExhausted:  sandagent.ErrRateLimited,
		connect.CodeFailedPrecondition: sandagent.ErrState,
		connect.CodeDeadlineExceeded:   sandagent.ErrTimeout,
		connect.CodeUnimplemented:      sandagent.ErrUnsupported,
		connect.CodeUnavailable:        sandagent.ErrState,   // as the proxy's 502
		connect.CodeCanceled:           sandagent.ErrTimeout, // aborted on the way
		connect.CodeInternal:           nil,
	} {
		require.Equal(t, kind, codeKind(code), code.String())
	}
	// A canceled call whose ctx we cancelled is our ctx's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&handle{}).rpcErr(ctx, "stat", connect.NewError(connect.CodeCanceled, context.Canceled))
	require.Equal(t, context.Canceled, err)
}

// A server that echoes credentials in its error messages must not get them
// into our errors.
func TestSecretsRedacted(t *testing.T) {
	const key, token = "e2b_0123456789abcdef0123", "tok_secret_0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/sandboxes/iabc/connect":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"templateID":"base","sandboxID":"iabc","clientID":"6532622b","envdVersion":"0.6.13","envdAccessToken":"` + token + `"}`))
		case strings.HasPrefix(r.URL.Path, "/filesystem."):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"not_found","message":"no file for ` + r.Header.Get("X-Access-Token") + `"}`))
		case r.URL.Path == "/files":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":404,"message":"path does not exist, token ` + r.Header.Get("X-Access-Token") + `"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":401,"message":"Invalid API key ` + r.Header.Get("X-API-Key") + `"}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	s, err := New(WithAPIKey(key), WithAPIURL(srv.URL), WithSandboxURL(srv.URL))
	require.NoError(t, err)
	_, err = s.Attach(ctx)
	require.ErrorIs(t, err, sandagent.ErrAuth)
	require.NotContains(t, err.Error(), key)
	require.Contains(t, err.Error(), "[REDACTED]", "the echo was there and was redacted")

	s, err = New(WithAPIKey(key), WithAPIURL(srv.URL), WithSandboxURL(srv.URL), WithID("iabc"))
	require.NoError(t, err)
	h, err := s.Attach(ctx)
	require.NoError(t, err)
	_, err = h.Stat(ctx, "/x")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.NotContains(t, err.Error(), token)
	_, err = h.ReadFile(ctx, "/x")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.NotContains(t, err.Error(), token)
}

func TestNewValidates(t *testing.T) {
	t.Setenv("E2B_API_KEY", "")
	_, err := New()
	require.ErrorIs(t, err, sandagent.ErrAuth, "no key")
	for _, opts := range [][]Option{
		{WithName("a"), WithID("iabc")},
		{WithCreateIfMissing()},
		{WithAutoResume()},
		{WithName("")},
		{WithName("a\nb")},
		{WithID("I-AM-BAD")},
		{WithTimeout(0)},
		{WithMetadata(map[string]string{NameKey: "x"})},
		{WithEnv(map[string]string{"A=B": "c"})},
		{WithAPIURL("ftp://x")},
		{WithDomain("e2b.app/x")},
		{WithHTTPClient(nil)},
	} {
		_, err := New(append(opts, WithAPIKey("e2b_00"))...)
		require.ErrorIs(t, err, sandagent.ErrInvalid)
		var e *sandagent.Error
		require.True(t, errors.As(err, &e))
		require.Equal(t, ProviderName, e.Provider)
	}
}

func TestParseURL(t *testing.T) {
	t.Setenv("E2B_API_KEY", "e2b_00")
	sb, err := open(mustURL(t, "e2b://my-project?template=base&timeout=10m&autopause=true&autoresume=true&meta.user=u1"))
	require.NoError(t, err)
	s := sb.(*Sandbox)
	require.Equal(t, "my-project", s.name)
	require.Equal(t, 10*time.Minute, s.timeout)
	require.True(t, s.autoPause && s.autoResume)
	require.Equal(t, map[string]string{"user": "u1"}, s.metadata)

	sb, err = open(mustURL(t, "e2b://?id=iabc&create=true&secure=false"))
	require.NoError(t, err)
	s = sb.(*Sandbox)
	require.Equal(t, "iabc", s.id)
	require.True(t, s.createIfMissing)
	require.False(t, s.secure)

	for _, bad := range []string{"e2b://x?bogus=1", "e2b://x?timeout=soon", "e2b://x/path", "e2b://x?autopause=maybe"} {
		_, err := open(mustURL(t, bad))
		require.ErrorIs(t, err, sandagent.ErrInvalid, bad)
	}
	_, err = open(mustURL(t, "e2b://x?bogus=1"))
	require.ErrorContains(t, err, "bogus")
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}
