package sandagent

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxNameLen is the longest name SafeName returns.
const MaxNameLen = 63

// SafeName joins parts into a sandbox name that every provider accepts:
// lowercase ASCII letters, digits and single '-', starting and ending with
// a letter or digit, at most MaxNameLen bytes. Other characters become '-'.
// A name that must be shortened keeps a hash of the whole, so distinct
// inputs stay distinct. The common strategies:
//
//	SafeName("sandagent", template)                          // one per template
//	SafeName("user", userID, "session", sessionID)           // one per user session
//	SafeName("project", projectID)                           // one per project
//
// SafeName returns "" if parts hold no letter or digit.
func SafeName(parts ...string) string {
	var b strings.Builder
	dash := false
	for _, p := range parts {
		for _, r := range strings.ToLower(p) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				if dash && b.Len() > 0 {
					b.WriteByte('-')
				}
				b.WriteRune(r)
				dash = false
			default:
				dash = true
			}
		}
		dash = true
	}
	name := b.String()
	if len(name) <= MaxNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	suffix := hex.EncodeToString(sum[:4])
	head := strings.TrimRight(name[:MaxNameLen-len(suffix)-1], "-")
	return head + "-" + suffix
}
