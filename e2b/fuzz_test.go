package e2b

import (
	"net/url"
	"testing"
)

// FuzzMetadataFilter checks that any metadata survives the filter's triple
// encoding: what the client sends, the server reads back exactly.
func FuzzMetadataFilter(f *testing.F) {
	f.Add("sandagent.name", "my-project", "user", "u-42")
	f.Add("k&=", "v=&%", "a b", "ü+/?#")
	f.Add("%25", "%2", "x", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		if k1 == "" || k2 == "" || k1 == k2 {
			return
		}
		in := map[string]string{k1: v1, k2: v2}
		got := decodeMetadata(t, url.Values{"metadata": {encodeMetadata(in)}}.Encode())
		if len(got) != 2 || got[k1] != v1 || got[k2] != v2 {
			t.Fatalf("%q encoded as %q decoded as %q", in, encodeMetadata(in), got)
		}
	})
}
