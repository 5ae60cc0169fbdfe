package sandboxtest

import (
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

func (s *suite) testFiles(t *testing.T) {
	h := s.fresh(t)

	t.Run("AllByteValues", func(t *testing.T) {
		t.Parallel()
		data := make([]byte, 256)
		for i := range data {
			data[i] = byte(i)
		}
		ctx := s.ctx(t)
		require.NoError(t, h.WriteFile(ctx, "bytes.bin", data))
		got, err := h.ReadFile(ctx, "bytes.bin")
		require.NoError(t, err)
		require.Equal(t, data, got)
		res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"wc", "-c", "bytes.bin"}})
		require.NoError(t, err)
		require.Equal(t, "256 bytes.bin", strings.TrimSpace(string(res.Stdout)), "commands see the same bytes")
	})

	t.Run("TenMiB", func(t *testing.T) {
		t.Parallel()
		data := make([]byte, 10<<20)
		_, _ = rand.Read(data)
		ctx := s.ctx(t)
		require.NoError(t, h.WriteFrom(ctx, "big.bin", bytes.NewReader(data)))
		r, err := h.NewReader(ctx, "big.bin")
		require.NoError(t, err)
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		require.True(t, bytes.Equal(data, got), "10 MiB round trip")
		fi, err := h.Stat(ctx, "big.bin")
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), fi.Size)
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		_, err := h.ReadFile(ctx, "no/such/file")
		require.ErrorIs(t, err, sandagent.ErrNotFound)
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = h.Stat(ctx, "no-such-file")
		require.ErrorIs(t, err, sandagent.ErrNotFound)
		_, err = h.ListDir(ctx, "no-such-dir")
		require.ErrorIs(t, err, sandagent.ErrNotFound)
		require.ErrorIs(t, h.Remove(ctx, "no-such-file"), sandagent.ErrNotFound)
	})

	t.Run("WriteCreatesParents", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		require.NoError(t, h.WriteFile(ctx, "p/q/r.txt", []byte("deep")))
		require.NoError(t, h.WriteFile(ctx, "p/q/r.txt", []byte("over")), "overwrite")
		got, err := h.ReadFile(ctx, "p/q/r.txt")
		require.NoError(t, err)
		require.Equal(t, "over", string(got))
		fi, err := h.Stat(ctx, "p/q")
		require.NoError(t, err)
		require.True(t, fi.IsDir())
	})

	t.Run("CommandsAndFilesAgree", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "mkdir -p agree && printf from-cmd > agree/cmd.txt"})
		require.NoError(t, err)
		got, err := h.ReadFile(ctx, "agree/cmd.txt")
		require.NoError(t, err)
		require.Equal(t, "from-cmd", string(got))
		abs := path.Join(h.Workdir(), "agree", "api.txt")
		require.NoError(t, h.WriteFile(ctx, abs, []byte("from-api")), "absolute paths work too")
		res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "agree/api.txt"}})
		require.NoError(t, err)
		require.Equal(t, "from-api", string(res.Stdout))
	})

	t.Run("StatListMakeDirRemove", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		require.NoError(t, h.MakeDir(ctx, "tree/sub"))
		require.NoError(t, h.MakeDir(ctx, "tree/sub"), "MakeDir of an existing directory")
		require.NoError(t, h.WriteFile(ctx, "tree/a.txt", []byte("aaa")))
		fi, err := h.Stat(ctx, "tree/a.txt")
		require.NoError(t, err)
		require.Equal(t, "a.txt", fi.Name)
		require.Equal(t, int64(3), fi.Size)
		require.False(t, fi.IsDir())
		require.Equal(t, path.Join(h.Workdir(), "tree/a.txt"), fi.Path)

		ents, err := h.ListDir(ctx, "tree")
		require.NoError(t, err)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name)
			if e.Name == "sub" {
				require.True(t, e.IsDir())
			}
		}
		sort.Strings(names)
		require.Equal(t, []string{"a.txt", "sub"}, names)

		require.NoError(t, h.Remove(ctx, "tree/a.txt"))
		_, err = h.Stat(ctx, "tree/a.txt")
		require.ErrorIs(t, err, sandagent.ErrNotFound)
		require.NoError(t, h.Remove(ctx, "tree"), "Remove takes a whole tree")
		_, err = h.Stat(ctx, "tree")
		require.ErrorIs(t, err, sandagent.ErrNotFound)
	})

	t.Run("Upload", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		require.NoError(t, h.Upload(ctx,
			sandagent.File{Path: "up/one.txt", Content: strings.NewReader("1")},
			sandagent.File{Path: "up/two/two.txt", Content: strings.NewReader("22")},
			sandagent.File{Path: path.Join(h.Workdir(), "up/three.txt"), Content: strings.NewReader("333")},
		))
		for p, want := range map[string]string{"up/one.txt": "1", "up/two/two.txt": "22", "up/three.txt": "333"} {
			got, err := h.ReadFile(ctx, p)
			require.NoError(t, err)
			require.Equal(t, want, string(got))
		}
	})

	t.Run("BadPaths", func(t *testing.T) {
		t.Parallel()
		ctx := s.ctx(t)
		for _, p := range []string{"", "a\x00b"} {
			_, err := h.ReadFile(ctx, p)
			require.ErrorIs(t, err, sandagent.ErrInvalid, "%q", p)
			require.ErrorIs(t, h.WriteFile(ctx, p, nil), sandagent.ErrInvalid, "%q", p)
		}
		require.NoError(t, h.MakeDir(ctx, "adir"))
		_, err := h.ReadFile(ctx, "adir")
		require.ErrorIs(t, err, sandagent.ErrInvalid, "reading a directory")
	})
}
