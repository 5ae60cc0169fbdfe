//go:build unix

package sandock_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

// piece is the piece size of most tests here (a multiple of 3, above
// inline, the most a write puts in its command line).
const (
	piece  = 60 << 10
	inline = 48 << 10
)

// routes of one sandbox's API, for counting.
type routes struct{ shell, write, read, fs string }

// transferHandle attaches with the given piece size (0: the default) and
// learns the workdir, so that the requests counted next are the transfer's.
func transferHandle(t *testing.T, size int, opts ...sandocktest.Option) (*sandocktest.Server, *sandagent.Handle, routes) {
	t.Helper()
	srv := newServer(t, opts...)
	var o []sandock.Option
	if size > 0 {
		o = append(o, sandock.WithPieceSize(size))
	}
	h := attach(t, srv, o...)
	require.NoError(t, h.WriteFile(t.Context(), "warm-up", nil))
	srv.Requests.Reset()
	base := "/api/v1/sandbox/" + h.ID()
	return srv, h, routes{shell: base + "/shell", write: base + "/fs/write", read: base + "/fs/read", fs: base + "/fs"}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// leftovers lists the temporary files transfers left in the workdir.
func leftovers(t *testing.T, h *sandagent.Handle) []string {
	t.Helper()
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "ls -A"})
	require.NoError(t, err)
	var tmp []string
	for _, name := range strings.Fields(string(res.Stdout)) {
		if strings.HasPrefix(name, ".sandagent-") {
			tmp = append(tmp, name)
		}
	}
	return tmp
}

// writeRequests is what a write of n bytes costs with pieces of p bytes.
func writeRequests(n, p int) int {
	if n <= inline {
		return 1
	}
	return (n+p-1)/p + 1
}

// readRequests is what a read of n bytes costs with pieces of p bytes: the
// base64 text, with its line breaks, in pieces of 4p/3 bytes.
func readRequests(n, p int) int {
	if n <= p {
		return 1
	}
	enc := 4 * ((n + 2) / 3)
	text := enc + (enc+75)/76
	return 1 + (text+4*p/3-1)/(4*p/3) + 1
}

func TestTransferAcrossPieceBoundaries(t *testing.T) {
	srv, h, _ := transferHandle(t, piece)
	for _, size := range []int{0, 1, inline, inline + 1, piece - 1, piece, piece + 1, 5 * piece / 2} {
		data := randomBytes(t, size)
		srv.Requests.Reset()
		require.NoError(t, h.WriteFrom(t.Context(), "f.bin", bytes.NewReader(data)), "size %d", size)
		require.Equal(t, writeRequests(size, piece), srv.Requests.Total(), "upload of %d bytes: %v", size, srv.Requests.Requests())

		srv.Requests.Reset()
		got, err := h.ReadFile(t.Context(), "f.bin")
		require.NoError(t, err, "size %d", size)
		require.True(t, bytes.Equal(data, got), "size %d: got %d bytes", size, len(got))
		require.Equal(t, readRequests(size, piece), srv.Requests.Total(), "download of %d bytes: %v", size, srv.Requests.Requests())
	}
	require.Empty(t, leftovers(t, h))
}

// TestTransfer20MiB: on the Kubernetes mode (128 KiB argument cap, exit
// codes 0 or 1), 20 MiB of random bytes round-trip byte-exact, through
// fs requests of 4 MiB of base64 and one shell call each way.
func TestTransfer20MiB(t *testing.T) {
	const size = 20 << 20
	for _, mode := range []sandocktest.Mode{sandocktest.Kubernetes, sandocktest.Docker} {
		t.Run(mode.String(), func(t *testing.T) {
			srv, h, rt := transferHandle(t, 0, sandocktest.WithMode(mode))
			data := randomBytes(t, size)
			require.NoError(t, h.WriteFrom(t.Context(), "dir/big.bin", bytes.NewReader(data)))
			require.Equal(t, 7, srv.Requests.Count(http.MethodPost, rt.write), "pieces of 3 MiB")
			require.Equal(t, 1, srv.Requests.Count(http.MethodPost, rt.shell), "one shell call decodes")
			require.Equal(t, 8, srv.Requests.Total())

			srv.Requests.Reset()
			r, err := h.NewReader(t.Context(), "dir/big.bin")
			require.NoError(t, err)
			defer r.Close()
			var got bytes.Buffer
			n, err := io.Copy(&got, r)
			require.NoError(t, err)
			require.EqualValues(t, size, n)
			require.True(t, bytes.Equal(data, got.Bytes()), "the file came back different")
			require.Equal(t, 1, srv.Requests.Count(http.MethodPost, rt.shell), "one shell call encodes")
			require.Equal(t, readRequests(size, 3<<20), srv.Requests.Total(), "%v", srv.Requests.Requests())
			require.Empty(t, leftovers(t, h))

			_, err = h.ReadFile(t.Context(), "dir/missing.bin")
			require.ErrorIs(t, err, sandagent.ErrNotFound, "found by output, not by exit code")
			_, err = h.Stat(t.Context(), "dir/missing.bin")
			require.ErrorIs(t, err, sandagent.ErrNotFound)
			require.ErrorIs(t, h.Remove(t.Context(), "dir/missing.bin"), sandagent.ErrNotFound)
			_, err = h.ReadFile(t.Context(), "dir")
			require.ErrorIs(t, err, sandagent.ErrInvalid, "a directory")
		})
	}
}

func TestReaderFetchesOnDemand(t *testing.T) {
	srv, h, rt := transferHandle(t, piece)
	data := randomBytes(t, 3*piece)
	require.NoError(t, h.WriteFile(t.Context(), "f.bin", data))

	srv.Requests.Reset()
	r, err := h.NewReader(t.Context(), "f.bin")
	require.NoError(t, err)
	require.Equal(t, []string{"POST " + rt.shell}, srv.Requests.Requests(), "opening encodes, fetches nothing")
	buf := make([]byte, piece/2)
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	require.Equal(t, data[:piece/2], buf)
	require.Equal(t, 2, srv.Requests.Total(), "the first piece, when needed")
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	require.Equal(t, data[piece/2:piece], buf)
	require.Equal(t, 3, srv.Requests.Total(), "a piece of base64 holds a little less than a piece: the second")

	require.NoError(t, r.Close())
	require.Equal(t, "DELETE "+rt.fs, srv.Requests.Requests()[srv.Requests.Total()-1], "closing removes the pieces")
	_, err = r.Read(buf)
	require.ErrorIs(t, err, sandagent.ErrClosed)
	require.Empty(t, leftovers(t, h))
}

// failAt is a reader of data that, when the upload has sent n-1 fs/write
// requests, queues fault for the next request.
type failAt struct {
	r     io.Reader
	srv   *sandocktest.Server
	route string
	n     int
	fault emu.Fault
	once  sync.Once
}

func (f *failAt) Read(p []byte) (int, error) {
	if f.srv.Requests.Count(http.MethodPost, f.route) == f.n-1 {
		f.once.Do(func() { f.srv.Faults.Add(f.fault) })
	}
	return f.r.Read(p)
}

func TestFailedUploadLeavesNoFile(t *testing.T) {
	for n := 1; n <= 4; n++ { // 2.5 pieces: three writes, then the decode
		srv, h, rt := transferHandle(t, piece)
		require.NoError(t, h.WriteFile(t.Context(), "f.bin", []byte("old")))
		require.NoError(t, h.MakeDir(t.Context(), "dir"))
		srv.Requests.Reset()

		for _, name := range []string{"f.bin", "dir/new.bin"} {
			srv.Requests.Reset()
			route := rt.write
			if n == 4 {
				route = rt.shell
			}
			err := h.WriteFrom(t.Context(), name, &failAt{
				r: bytes.NewReader(randomBytes(t, 5*piece/2)), srv: srv, route: rt.write, n: min(n, 3),
				fault: emu.Fault{Method: http.MethodPost, Path: route, Status: http.StatusInternalServerError, Times: 10},
			})
			srv.Faults.Clear()
			var e *sandagent.Error
			require.ErrorAs(t, err, &e, "request %d failed", n)
			require.Equal(t, http.StatusInternalServerError, e.Status)
			require.Equal(t, "write", e.Op)
			require.Equal(t, "DELETE "+rt.fs, srv.Requests.Requests()[srv.Requests.Total()-1], "the pieces are removed")
		}

		got, err := h.ReadFile(t.Context(), "f.bin")
		require.NoError(t, err)
		require.Equal(t, "old", string(got), "the target is untouched")
		_, err = h.Stat(t.Context(), "dir/new.bin")
		require.ErrorIs(t, err, sandagent.ErrNotFound)
		require.Empty(t, leftovers(t, h))
		res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "ls -A dir"})
		require.NoError(t, err)
		require.Empty(t, strings.TrimSpace(string(res.Stdout)))
	}
}

// An ambiguous failure of a piece (the sandbox acted, the response was
// lost) is retried: pieces are whole files, so a retry rewrites the same.
func TestRetriedPiecesAreNotRepeated(t *testing.T) {
	srv, h, rt := transferHandle(t, piece)
	data := randomBytes(t, 5*piece/2)
	require.NoError(t, h.WriteFrom(t.Context(), "f.bin", &failAt{
		r: bytes.NewReader(data), srv: srv, route: rt.write, n: 2,
		fault: emu.Fault{Method: http.MethodPost, Path: rt.write, Reset: emu.ResetAfter},
	}))
	require.Equal(t, 4, srv.Requests.Count(http.MethodPost, rt.write), "three pieces, one retried")
	got, err := h.ReadFile(t.Context(), "f.bin")
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "got %d bytes", len(got))
	require.Empty(t, leftovers(t, h))
}

func TestFailedDownload(t *testing.T) {
	srv, h, rt := transferHandle(t, piece)
	require.NoError(t, h.WriteFile(t.Context(), "f.bin", randomBytes(t, 3*piece)))

	r, err := h.NewReader(t.Context(), "f.bin")
	require.NoError(t, err)
	defer r.Close()
	_, err = io.ReadFull(r, make([]byte, piece/2))
	require.NoError(t, err)
	srv.Faults.Add(emu.Fault{Method: http.MethodGet, Path: rt.read, Status: http.StatusInternalServerError, Times: 10})
	_, err = io.ReadAll(r)
	var e *sandagent.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusInternalServerError, e.Status)
	require.Equal(t, "read", e.Op)
	require.Equal(t, sandock.ProviderName, e.Provider)
	_, again := r.Read(make([]byte, 1))
	require.Equal(t, err, again, "the error sticks")
	srv.Faults.Clear()
	require.Empty(t, leftovers(t, h), "the pieces are removed")

	t.Run("a snapshot", func(t *testing.T) {
		data := randomBytes(t, 3*piece)
		require.NoError(t, h.WriteFile(t.Context(), "g.bin", data))
		r, err := h.NewReader(t.Context(), "g.bin")
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, h.Remove(t.Context(), "g.bin"))
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "the file as it was when the read began")
	})
	t.Run("a missing piece", func(t *testing.T) {
		r, err := h.NewReader(t.Context(), "f.bin")
		require.NoError(t, err)
		defer r.Close()
		res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "rm -f .sandagent-*/aaaaab"})
		require.NoError(t, err, "%s", res.Stderr)
		_, err = io.ReadAll(r)
		require.ErrorContains(t, err, "missing", "the service reads a missing file as empty: never a short file")
	})
}

// cancelAfter cancels a ctx once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func TestTransferRespectsCtx(t *testing.T) {
	srv, h, rt := transferHandle(t, piece)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := h.WriteFrom(ctx, "f.bin", &cancelAfter{r: bytes.NewReader(randomBytes(t, 3*piece)), n: piece + 1, cancel: cancel})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"POST " + rt.write, "POST " + rt.write, "DELETE " + rt.fs}, srv.Requests.Requests(),
		"two pieces, the ctx ends while the third is read, then the clean-up")
	_, err = h.Stat(t.Context(), "f.bin")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.Empty(t, leftovers(t, h))

	require.NoError(t, h.WriteFile(t.Context(), "f.bin", randomBytes(t, 3*piece)))
	ctx, cancel = context.WithCancel(t.Context())
	r, err := h.NewReader(ctx, "f.bin")
	require.NoError(t, err)
	defer r.Close()
	_, err = io.ReadFull(r, make([]byte, piece/2))
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(r)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	require.Empty(t, leftovers(t, h), "the pieces are removed after the ctx ended")
}
