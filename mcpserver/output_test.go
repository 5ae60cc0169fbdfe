package mcpserver

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSpool(t *testing.T) {
	s := newSpool(10)
	defer s.close()
	whole := "héllo, wörld: this is longer than ten bytes"
	for _, part := range []string{"hé", "llo, w", "ö", "rld: this is longer", " than ten bytes"} {
		n, err := s.Write([]byte(part))
		require.NoError(t, err)
		require.Equal(t, len(part), n)
	}
	text, exact := s.text()
	require.False(t, exact)
	require.Equal(t, "héllo, w", text, "the first 10 bytes, without the half of ö")
	r, err := s.reader()
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, whole, string(b), "all of it")

	short := newSpool(10)
	_, _ = short.Write([]byte("ok"))
	text, exact = short.text()
	require.True(t, exact)
	require.Equal(t, "ok", text)

	bad := newSpool(10)
	_, _ = bad.Write([]byte("a\xffb"))
	text, exact = bad.text()
	require.False(t, exact, "not UTF-8: the result cannot carry it byte for byte")
	require.Equal(t, "a\uFFFDb", text)
}

func TestSpoolWithoutTempDir(t *testing.T) {
	t.Setenv("TMPDIR", "/nonexistent/dir")
	s := newSpool(4)
	defer s.close()
	_, err := s.Write([]byte(strings.Repeat("x", 10)))
	require.NoError(t, err, "the command is never cut short")
	_, err = s.reader()
	require.ErrorContains(t, err, "keeping the output on this machine")
}
