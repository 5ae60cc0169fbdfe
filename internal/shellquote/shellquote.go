// Package shellquote quotes argv for a POSIX shell, for providers whose
// exec takes a single command line.
package shellquote

import "strings"

// Quote returns a command line that a POSIX shell splits back into exactly
// args, with no expansion.
func Quote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(One(a))
	}
	return b.String()
}

// One quotes a single word.
func One(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
