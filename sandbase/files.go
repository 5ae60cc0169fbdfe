package sandbase

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"path"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
)

// File size limits.
const (
	// smallWrite is the largest write sent as base64 JSON; larger ones go
	// as a multipart upload.
	smallWrite = 1 << 20
	// MaxUpload is the largest file SandBase takes: 100 MB.
	MaxUpload = 100 << 20
)

// entry is SandBase's description of a file. Its pages document two
// shapes, {name, path, isDir, size} and {name, type, path, size}: both are
// read.
type entry struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	IsDir bool   `json:"isDir"`
	Type  string `json:"type"`
	Size  int64  `json:"size"`
}

func (e entry) info() driver.FileInfo {
	fi := driver.FileInfo{Name: e.Name, Path: e.Path, Size: e.Size}
	if e.IsDir || e.Type == "dir" || e.Type == "directory" {
		fi.Mode = fs.ModeDir
	}
	if fi.Name == "" {
		fi.Name = path.Base(fi.Path)
	}
	return fi
}

// Open streams GET /filesystem/download: raw bytes, no size cap.
func (h *handle) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	r, err := h.api.R(ctx).
		SetDoNotParseResponse(true).
		SetHeader("Accept-Encoding", "identity").
		SetQueryParam("path", p).
		Get(h.path("/filesystem/download"))
	var resp *http.Response
	if r != nil {
		resp = r.RawResponse
	}
	if err := h.api.CheckResponse("read", resp, err); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Write sends a small file as base64 JSON (POST /filesystem) and a larger
// one as a streamed multipart upload.
func (h *handle) Write(ctx context.Context, p string, r io.Reader) error {
	head, err := io.ReadAll(io.LimitReader(r, smallWrite+1))
	if err != nil {
		return readErr(ctx, err)
	}
	if len(head) <= smallWrite {
		resp, err := h.api.R(ctx).
			SetBody(map[string]string{"path": p, "content": base64.StdEncoding.EncodeToString(head)}).
			Post(h.path("/filesystem"))
		return h.api.Check("write", resp, err)
	}
	return h.upload(ctx, p, io.MultiReader(bytes.NewReader(head), r))
}

// errTooLarge ends an upload past MaxUpload.
var errTooLarge = errors.New("file too large")

// upload streams r as POST /filesystem/upload, the fields "path" then
// "file", generated while it is sent: nothing is held in memory but a copy
// buffer.
func (h *handle) upload(ctx context.Context, p string, r io.Reader) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	src := &limitedReader{r: r, n: MaxUpload}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := mw.WriteField("path", p)
		if err == nil {
			var part io.Writer
			if part, err = mw.CreateFormFile("file", path.Base(p)); err == nil {
				_, err = io.Copy(part, src)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		_ = pw.CloseWithError(err) // nil: EOF
	}()
	resp, err := h.api.Do(ctx, http.MethodPost, h.path("/filesystem/upload"), pr, mw.FormDataContentType())
	_ = pr.CloseWithError(errRequestDone) // stops the writer if the request ended early
	<-done
	switch {
	case errors.Is(src.err, errTooLarge):
		if resp != nil {
			_ = resp.Body.Close()
		}
		return sandagent.Errorf(sandagent.ErrInvalid, "file larger than SandBase's upload limit of %d bytes", MaxUpload)
	case src.err != nil:
		if resp != nil {
			_ = resp.Body.Close()
		}
		return readErr(ctx, src.err)
	}
	if err := h.api.CheckResponse("write", resp, err); err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	return nil
}

var errRequestDone = errors.New("request ended")

// readErr reports a failure to read the caller's content.
func readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &sandagent.Error{Provider: ProviderName, Op: "write", Message: "reading the content to write failed", Err: err}
}

// limitedReader remembers the error of the reader it wraps, to tell the
// caller's failing reader from a failing request, and fails with
// errTooLarge past n bytes.
type limitedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.n -= int64(n); l.n < 0 {
		err = errTooLarge
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// Stat asks GET /filesystem/stat.
func (h *handle) Stat(ctx context.Context, p string) (driver.FileInfo, error) {
	var e entry
	r, err := h.api.R(ctx).SetQueryParam("path", p).Get(h.path("/filesystem/stat"))
	if err := h.api.Check("stat", r, err); err != nil {
		return driver.FileInfo{}, err
	}
	if err := decode("stat", r, &e, "file information"); err != nil {
		return driver.FileInfo{}, err
	}
	fi := e.info()
	if fi.Path == "" {
		fi.Path = p
	}
	return fi, nil
}

// ListDir asks GET /filesystem/list, one level deep.
func (h *handle) ListDir(ctx context.Context, p string) ([]driver.FileInfo, error) {
	r, err := h.api.R(ctx).SetQueryParam("path", p).Get(h.path("/filesystem/list"))
	if err := h.api.Check("list", r, err); err != nil {
		return nil, err
	}
	var entries []entry
	if err := decode("list", r, &entries, "directory listing"); err != nil {
		return nil, err
	}
	out := make([]driver.FileInfo, len(entries))
	for i, e := range entries {
		out[i] = e.info()
	}
	return out, nil
}

// MakeDir asks POST /filesystem/mkdir, which creates parents; an existing
// directory is success.
func (h *handle) MakeDir(ctx context.Context, p string) error {
	r, err := h.api.R(ctx).SetBody(map[string]string{"path": p}).Post(h.path("/filesystem/mkdir"))
	return h.api.Check("mkdir", r, err)
}

// Remove asks DELETE /filesystem, which removes trees; a missing path is a
// 404, ErrNotFound.
func (h *handle) Remove(ctx context.Context, p string) error {
	r, err := h.api.R(ctx).SetQueryParam("path", p).Delete(h.path("/filesystem"))
	return h.api.Check("remove", r, err)
}
