//go:build unix

package local_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

// Bad names and timeouts are refused by New, before it touches the
// directory, with ErrInvalid naming the rule. A zero timeout means none;
// there is no maximum.
func TestBadInputTouchesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandboxes")
	const nameRule = "want 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"
	for _, tc := range []struct {
		name string
		opt  local.Option
		rule string
	}{
		{"empty name", local.WithName(""), nameRule},
		{"long name", local.WithName(strings.Repeat("a", 64)), nameRule},
		{"space", local.WithName("a b"), nameRule},
		{"non-ASCII", local.WithName("café"), nameRule},
		{"leading dot", local.WithName(".hidden"), nameRule},
		{"negative timeout", local.WithTimeout(-time.Second), "negative timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := local.New(local.WithDir(dir), tc.opt)
			require.ErrorIs(t, err, sandagent.ErrInvalid)
			require.ErrorContains(t, err, tc.rule)
		})
	}
	_, err := sandagent.Open(t.Context(), "local://"+strings.Repeat("a", 64)+"?dir="+dir)
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	require.NoDirExists(t, dir)

	h := attach(t, local.WithDir(dir), local.WithTimeout(1000*time.Hour))
	require.NoError(t, h.SetTimeout(t.Context(), 1000*time.Hour))
}

// TestGigabyteOfOutput streams 1 GiB of stdout through Exec: it all reaches
// the writer, the Result keeps MaxOutput of it, and memory stays bounded.
func TestGigabyteOfOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB")
	}
	h := attach(t, local.WithDir(t.TempDir()))
	var n countingDiscard
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "head -c 1073741824 /dev/zero", Stdout: &n})
	require.NoError(t, err)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.EqualValues(t, 1<<30, n.n)
	require.Len(t, res.Stdout, sandagent.MaxOutput)
	require.True(t, res.StdoutTruncated)
	require.Less(t, after.HeapInuse, before.HeapInuse+64<<20, "memory stays bounded")
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
