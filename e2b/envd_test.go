//go:build unix

package e2b_test

import (
	"io/fs"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/internal/emu"
)

// Process streams do not ask envd for gzip: envd would compress every
// output event.
func TestProcessStreamsUncompressed(t *testing.T) {
	srv := server(t)
	ht := &headerTransport{path: "/process.Process/Start"}
	h := attach(t, srv, e2b.WithHTTPClient(&http.Client{Transport: ht}))
	_, err := h.Exec(t.Context(), &sandagent.Cmd{Args: []string{"true"}})
	require.NoError(t, err)
	ht.mu.Lock()
	defer ht.mu.Unlock()
	require.NotEmpty(t, ht.seen)
	for _, hd := range ht.seen {
		require.NotContains(t, hd.Get("Connect-Accept-Encoding"), "gzip")
		require.NotContains(t, hd.Get("Grpc-Accept-Encoding"), "gzip")
		require.NotContains(t, hd.Get("Accept-Encoding"), "gzip")
	}
}

// envd's answers that our callers must see classified: 507 (disk full),
// unavailable and canceled.
func TestEnvdErrorsClassified(t *testing.T) {
	srv := server(t)
	h := attach(t, srv)
	ctx := t.Context()
	_, err := h.Stat(ctx, ".") // learns the workdir: from now on only the requests of each call
	require.NoError(t, err)

	srv.Faults.Add(emu.Fault{Method: http.MethodPost, Path: "/files", Status: http.StatusInsufficientStorage,
		Body: `{"code":507,"message":"not enough disk space available"}`})
	err = h.WriteFile(ctx, "full.txt", []byte("x"))
	require.ErrorIs(t, err, sandagent.ErrState)
	require.ErrorContains(t, err, "not enough disk space available")

	// A 503 is unavailable to connect-go (canceled: see TestCodeKind).
	srv.Faults.Add(emu.Fault{Path: "/filesystem.Filesystem/Stat", Status: http.StatusServiceUnavailable})
	_, err = h.Stat(ctx, "x")
	require.ErrorIs(t, err, sandagent.ErrState)
}

// envd reports a symlink with its target's type: the Handle sees a file or
// a directory, never a symlink.
func TestSymlinkHasItsTargetsType(t *testing.T) {
	srv := server(t)
	h := attach(t, srv)
	ctx := t.Context()
	require.NoError(t, h.WriteFile(ctx, "target.txt", []byte("abc")))
	require.NoError(t, h.MakeDir(ctx, "dir"))
	_, err := h.Exec(ctx, &sandagent.Cmd{Shell: "ln -s target.txt file.link && ln -s dir dir.link"})
	require.NoError(t, err)

	fi, err := h.Stat(ctx, "file.link")
	require.NoError(t, err)
	require.True(t, fi.Mode.IsRegular(), "%v", fi.Mode)
	fi, err = h.Stat(ctx, "dir.link")
	require.NoError(t, err)
	require.True(t, fi.IsDir(), "%v", fi.Mode)
	ents, err := h.ListDir(ctx, ".")
	require.NoError(t, err)
	for _, e := range ents {
		require.Zero(t, e.Mode&fs.ModeSymlink, "%s: %v", e.Name, e.Mode)
	}
}
