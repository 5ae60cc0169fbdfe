package e2bapi

import (
	"strings"
	"unicode/utf8"

	"github.com/sandagent/sandagent"
)

// CheckText accepts a name, template or metadata key: 1 to 128 bytes of
// UTF-8 without control characters.
func CheckText(what, v string) error {
	if v == "" || len(v) > 128 || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s %q: want 1 to 128 bytes of UTF-8 without control characters", what, v)
	}
	return nil
}

// CheckURL accepts an http:// or https:// base URL.
func CheckURL(what, v string) error {
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s: want an http:// or https:// URL", what)
	}
	return nil
}

// AddMetadata checks md (keys per CheckText and not reserved, UTF-8 values)
// and adds it to dst, which it allocates if nil.
func AddMetadata(dst, md map[string]string) (map[string]string, error) {
	for k, v := range md {
		if err := CheckText("metadata key", k); err != nil {
			return dst, err
		}
		if k == NameKey || k == ManagedKey || k == TokenKey {
			return dst, sandagent.Errorf(sandagent.ErrInvalid, "metadata key %q is reserved", k)
		}
		if !utf8.ValidString(v) {
			return dst, sandagent.Errorf(sandagent.ErrInvalid, "metadata %q: value is not UTF-8", k)
		}
		if dst == nil {
			dst = map[string]string{}
		}
		dst[k] = v
	}
	return dst, nil
}
