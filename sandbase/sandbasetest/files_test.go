//go:build unix

package sandbasetest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFiles(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	fs := "/sandboxes/" + sb.SandboxID + "/filesystem"
	work := c.workdir(sb.SandboxID)
	binary := []byte{0, 1, 2, 0xff, '\n', 0xfe}

	// Write: base64, 200 with an empty body, parents created.
	resp, b := c.request("POST", fs, map[string]any{"path": "/workspace/dir/a.bin", "content": base64.StdEncoding.EncodeToString(binary)})
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	require.Empty(t, b)
	require.Equal(t, "6\n", c.sh(sb.SandboxID, "wc -c < dir/a.bin").Stdout, "commands see the file")

	// Read: base64 content and the host path; every spelling of the path.
	for _, p := range []string{"/workspace/dir/a.bin", "/home/user/dir/a.bin", "dir/a.bin", work + "/dir/a.bin"} {
		var got struct{ Content, Path string }
		c.call("GET", fs+"?path="+p, nil, 200, &got)
		require.Equal(t, base64.StdEncoding.EncodeToString(binary), got.Content, p)
		require.Equal(t, filepath.Join(work, "dir/a.bin"), got.Path, p)
	}

	// Download: the raw bytes.
	resp, b = c.request("GET", fs+"/download?path=dir/a.bin", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, binary, b)
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=a.bin`, resp.Header.Get("Content-Disposition"))

	// Stat, list (both documented shapes at once), mkdir with parents, move.
	var e entry
	c.call("GET", fs+"/stat?path=dir/a.bin", nil, 200, &e)
	require.Equal(t, entry{Name: "a.bin", Path: filepath.Join(work, "dir/a.bin"), Type: "file", Size: 6}, e)
	c.call("POST", fs+"/mkdir", map[string]any{"path": "/home/user/x/y/z"}, 200, &e)
	require.Equal(t, entry{Name: "z", Path: filepath.Join(work, "x/y/z"), IsDir: true, Type: "dir"}, e)
	c.call("POST", fs+"/mkdir", map[string]any{"path": "x/y/z"}, 200, &e) // exists: fine
	var list []entry
	c.call("GET", fs+"/list", nil, 200, &list)
	require.Equal(t, []entry{
		{Name: "dir", Path: filepath.Join(work, "dir"), IsDir: true, Type: "dir"},
		{Name: "x", Path: filepath.Join(work, "x"), IsDir: true, Type: "dir"},
	}, list, "the default path is the work tree")
	resp, b = c.request("GET", fs+"/list?path=/workspace/dir", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.JSONEq(t, `[{"name":"a.bin","path":"`+filepath.Join(work, "dir/a.bin")+`","isDir":false,"type":"file","size":6}]`, string(b))
	c.call("POST", fs+"/move", map[string]any{"source": "dir/a.bin", "destination": "/workspace/moved/b.bin"}, 200, &e)
	require.Equal(t, entry{Name: "b.bin", Path: filepath.Join(work, "moved/b.bin"), Type: "file", Size: 6}, e)
	c.fails("GET", fs+"/stat?path=dir/a.bin", nil, 404, filepath.Join(work, "dir/a.bin")+": no such file or directory")

	// Delete: 204, then not found.
	resp, _ = c.request("DELETE", fs+"?path=moved/b.bin", nil)
	require.Equal(t, 204, resp.StatusCode)
	c.fails("DELETE", fs+"?path=moved/b.bin", nil, 404, filepath.Join(work, "moved/b.bin")+": no such file or directory")

	// Errors.
	c.fails("GET", fs+"?path=missing", nil, 404, filepath.Join(work, "missing")+": no such file or directory")
	c.fails("GET", fs, nil, 400, "path is required")
	c.fails("GET", fs+"?path=/workspace", nil, 400, work+" is a directory")
	c.fails("GET", fs+"?path=/etc/passwd", nil, 400, `path "/etc/passwd" is outside the sandbox's directory `+work+" (the sandbox is confined to a directory of the host: it has no filesystem root of its own)")
	c.fails("POST", fs, map[string]any{"path": "x.txt", "content": "%%%"}, 400, "invalid base64 content")
	c.fails("POST", fs, map[string]any{"content": ""}, 400, "path is required")
	c.fails("POST", fs, map[string]any{"path": "x.txt"}, 400, "content is required")
	c.fails("POST", fs+"/move", map[string]any{"source": "nope", "destination": "b"}, 404, "lstat "+filepath.Join(work, "nope")+": no such file or directory")
	c.fails("POST", fs+"/move", map[string]any{"source": "x"}, 400, "source and destination are required")
	c.fails("POST", fs+"/mkdir", map[string]any{}, 400, "path is required")
}

func TestReadCap(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	fs := "/sandboxes/" + sb.SandboxID + "/filesystem"
	c.sh(sb.SandboxID, "head -c 1048576 /dev/zero > max; head -c 1048577 /dev/zero > over")

	var got struct{ Content string }
	c.call("GET", fs+"?path=max", nil, 200, &got)
	raw, err := base64.StdEncoding.DecodeString(got.Content)
	require.NoError(t, err)
	require.Len(t, raw, 1<<20, "1 MB is allowed")
	c.fails("GET", fs+"?path=over", nil, 400, "file too large: 1048577 bytes exceeds the 1 MB limit; use /filesystem/download")
	resp, b := c.request("GET", fs+"/download?path=over", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, b, 1<<20+1, "download has no cap")
}

// multipartBody writes the fields in order; a field named "file" is a file.
func multipartBody(fields ...[2]string) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if f[0] == "file" {
			w, _ := mw.CreateFormFile("file", "upload.bin")
			_, _ = io.WriteString(w, f[1])
		} else {
			_ = mw.WriteField(f[0], f[1])
		}
	}
	_ = mw.Close()
	return &buf, mw.FormDataContentType()
}

func TestUpload(t *testing.T) {
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	up := "/sandboxes/" + sb.SandboxID + "/filesystem/upload"
	work := c.workdir(sb.SandboxID)

	upload := func(fields ...[2]string) (*http.Response, []byte) {
		body, ct := multipartBody(fields...)
		return c.request("POST", up, body, "Content-Type", ct)
	}
	for _, order := range [][][2]string{
		{{"path", "/workspace/up/a.txt"}, {"file", "first"}},  // streamed
		{{"file", "second"}, {"path", "/workspace/up/a.txt"}}, // spooled
	} {
		resp, b := upload(order...)
		require.Equal(t, 200, resp.StatusCode, "%s", b)
		var e entry
		require.NoError(t, json.Unmarshal(b, &e))
		want := order[0][1]
		if order[0][0] == "file" {
			want = order[1][1]
		}
		require.Equal(t, filepath.Join(work, "up/a.txt"), e.Path, want)
	}
	require.Equal(t, "second", c.sh(sb.SandboxID, "cat up/a.txt").Stdout)

	resp, b := upload([2]string{"file", "x"})
	requireError(t, resp, b, 400, "path is required")
	resp, b = upload([2]string{"path", "a"})
	requireError(t, resp, b, 400, "file is required")
	resp, b = c.request("POST", up, []byte("not multipart"))
	requireError(t, resp, b, 400, "invalid multipart form: request Content-Type isn't multipart/form-data")
}

func TestUploadLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 100 MB")
	}
	t.Parallel()
	c := start(t)
	sb := c.create(nil)
	up := "/sandboxes/" + sb.SandboxID + "/filesystem/upload"

	send := func(size int64) (*http.Response, []byte) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			_ = mw.WriteField("path", "big.bin")
			w, _ := mw.CreateFormFile("file", "big.bin")
			_, err := io.Copy(w, io.LimitReader(zeros{}, size))
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		return c.request("POST", up, pr, "Content-Type", mw.FormDataContentType())
	}
	resp, b := send(100<<20 + 1)
	requireError(t, resp, b, 413, "file too large: the maximum upload size is 100 MB")
	c.fails("GET", "/sandboxes/"+sb.SandboxID+"/filesystem/stat?path=big.bin", nil, 404,
		filepath.Join(c.workdir(sb.SandboxID), "big.bin")+": no such file or directory")

	resp, b = send(100 << 20)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	var e entry
	require.NoError(t, json.Unmarshal(b, &e))
	require.EqualValues(t, 100<<20, e.Size, "100 MB is allowed")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
