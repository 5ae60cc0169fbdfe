package sandagent_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

var portable = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"sandagent|base":         "sandagent-base",
		"user|42|session|Ab_C":   "user-42-session-ab-c",
		"project|--My Project!!": "project-my-project",
		"user|alice@example.com": "user-alice-example-com",
		"  |x":                   "x",
		"ünïcode|ok":             "n-code-ok",
		"|||":                    "",
		"a..b|c":                 "a-b-c",
	} {
		got := sandagent.SafeName(strings.Split(in, "|")...)
		require.Equal(t, want, got, in)
		if got != "" {
			require.Regexp(t, portable, got)
		}
	}
}

func TestSafeNameShortensButKeepsDistinct(t *testing.T) {
	long := strings.Repeat("x", 100)
	a := sandagent.SafeName("user", long+"a")
	b := sandagent.SafeName("user", long+"b")
	require.Len(t, a, sandagent.MaxNameLen)
	require.NotEqual(t, a, b)
	require.Regexp(t, portable, a)
	require.Equal(t, a, sandagent.SafeName("user", long+"a"), "deterministic")
}

func FuzzSafeName(f *testing.F) {
	f.Add("user", "42")
	f.Add("", "-")
	f.Add("\xff", strings.Repeat("-", 80))
	f.Fuzz(func(t *testing.T, a, b string) {
		got := sandagent.SafeName(a, b)
		if got == "" {
			return
		}
		if len(got) > sandagent.MaxNameLen || !portable.MatchString(got) {
			t.Fatalf("SafeName(%q, %q) = %q", a, b, got)
		}
	})
}
