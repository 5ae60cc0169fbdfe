package e2b

import (
	"cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"
	"github.com/go-resty/resty/v2"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem/filesystemconnect"
	"github.com/sandagent/sandagent/e2b/internal/envd/process/processconnect"
	"github.com/sandagent/sandagent/internal/e2bapi"
	"github.com/sandagent/sandagent/internal/httpx"
)

// handle implements driver.Handle for one E2B sandbox.
type handle struct {
	provider string
	api      *e2bapi.Client
	sb       e2bapi.Sandbox
	domain   string
	portsURL string       // with WithSandboxURL: where ports are reached, by routing headers
	secrets  []string     // the API key and the envd access token
	hc       *http.Client // envd's: the sandbox's headers on the Sandbox's connections
	filesURL string
	proc     processconnect.ProcessClient
	fs       filesystemconnect.FilesystemClient
	files    *resty.Client
	// keepalive is the interval of keepalive events asked of envd on
	// output streams; it sets their stall bound.
	keepalive time.Duration
}

var (
	_ driver.Handle        = (*handle)(nil)
	_ driver.Pauser        = (*handle)(nil)
	_ driver.TimeoutSetter = (*handle)(nil)
	_ driver.Uploader      = (*handle)(nil)
	_ driver.Aser          = (*handle)(nil)
)

// handle wraps a created or connected sandbox. It makes no request.
func (s *Sandbox) handle(sb e2bapi.Sandbox, outcome sandagent.Outcome) *sandagent.Handle {
	domain := s.domain
	if sb.Domain != nil && *sb.Domain != "" {
		domain = *sb.Domain
	}
	rpcURL, filesURL := s.envdURLs(sb.SandboxID, domain)
	hc := envdClient(s.hc, s.svc.Provider, s.svc.UserAgent, sb.SandboxID, sb.EnvdAccessToken)
	h := &handle{
		provider: s.svc.Provider,
		api:      s.api,
		sb:       sb,
		domain:   domain,
		portsURL: s.sandboxURL,
		secrets:  []string{s.apiKey, sb.EnvdAccessToken},
		hc:       hc,
		filesURL: filesURL,
		// Output streams are not compressed: envd would gzip every output
		// event for a client that accepts it (connect-go's default), which
		// costs more CPU on both ends than it saves on the wire; the SDKs
		// do not ask for it either.
		proc:      processconnect.NewProcessClient(hc, rpcURL, connect.WithAcceptCompression("gzip", nil, nil)),
		fs:        filesystemconnect.NewFilesystemClient(hc, rpcURL),
		keepalive: cmp.Or(s.keepalive, keepaliveInterval),
		files: httpx.NewClient(httpx.Options{
			Provider:   s.svc.Provider,
			BaseURL:    filesURL,
			HTTPClient: hc,
			Logger:     s.logger,
			UserAgent:  s.svc.UserAgent,
		}),
	}
	return sandagent.NewHandle(h, sandagent.Attachment{
		Provider:      s.svc.Provider,
		ID:            sb.SandboxID,
		Name:          s.name,
		LookupWorkdir: h.workdir,
		Outcome:       outcome,
		Logger:        s.logger,
	})
}

// workdir asks envd for the path "", which it resolves to its default
// workdir, else the user's home: where commands run by default.
func (h *handle) workdir(ctx context.Context) (string, error) {
	fi, err := h.Stat(ctx, "")
	if err != nil {
		return "", err
	}
	if fi.Path == "" || fi.Path[0] != '/' {
		return "", sandagent.Errorf(nil, "envd reported no absolute workdir (got %q)", fi.Path)
	}
	return fi.Path, nil
}

// Open streams GET /files.
func (h *handle) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	r, err := h.files.R().SetContext(ctx).
		SetDoNotParseResponse(true).
		SetHeader("Accept-Encoding", "identity").
		SetQueryParam("path", p).
		Get("/files")
	if err != nil {
		return nil, h.filesErr("read", 0, nil, nil, err)
	}
	body := r.RawBody()
	if !r.IsSuccess() {
		b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
		_ = body.Close()
		return nil, h.filesErr("read", r.StatusCode(), r.Header(), b, nil)
	}
	return body, nil
}

// Write streams one file with POST /files.
func (h *handle) Write(ctx context.Context, p string, r io.Reader) error {
	return h.post(ctx, "write", []driver.File{{Path: p, Content: r}})
}

// Upload streams every file in one POST /files.
func (h *handle) Upload(ctx context.Context, files []driver.File) error {
	if len(files) == 0 {
		return nil
	}
	return h.post(ctx, "upload", files)
}

// post sends files as one multipart/form-data request, a part named "file"
// per file whose filename is its path, generated while it is sent: nothing
// is held in memory but a copy buffer. A single file also goes in the path
// query parameter, as the SDKs send it.
func (h *handle) post(ctx context.Context, op string, files []driver.File) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var src errReader
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := func() error {
			for _, f := range files {
				part, err := mw.CreateFormFile("file", f.Path)
				if err != nil {
					return err
				}
				src.r = f.Content
				if _, err := io.Copy(part, &src); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		_ = pw.CloseWithError(err) // nil: EOF
	}()
	r, err := h.postFiles(ctx, pr, mw.FormDataContentType(), files)
	_ = pr.CloseWithError(errRequestDone) // stops the writer if the request ended early
	<-done
	if err == nil {
		defer r.Body.Close()
	}
	if src.err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &sandagent.Error{Provider: h.provider, Op: op, Message: "reading the content to write failed", Err: src.err}
	}
	if err != nil {
		return h.filesErr(op, 0, nil, nil, err)
	}
	if r.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		return h.filesErr(op, r.StatusCode, r.Header, b, nil)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) // lets the connection be reused
	return nil
}

// postFiles sends POST /files with a streamed body. It bypasses resty,
// which reads a whole io.Reader body into memory to be able to resend it;
// a POST is never retried anyway.
func (h *handle) postFiles(ctx context.Context, body io.Reader, contentType string, files []driver.File) (*http.Response, error) {
	u := h.filesURL + "/files"
	if len(files) == 1 {
		u += "?" + url.Values{"path": {files[0].Path}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return h.hc.Do(req)
}

var errRequestDone = errors.New("request ended")

// errReader remembers the error of the reader it wraps, to tell the
// caller's failing reader from a failing request.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// Stat asks Filesystem.Stat.
func (h *handle) Stat(ctx context.Context, p string) (driver.FileInfo, error) {
	r, err := h.fs.Stat(ctx, connect.NewRequest(&filesystem.StatRequest{Path: p}))
	if err != nil {
		return driver.FileInfo{}, h.rpcErr(ctx, "stat", err)
	}
	return fileInfo(r.Msg.GetEntry(), p), nil
}

// ListDir asks Filesystem.ListDir, one level deep.
func (h *handle) ListDir(ctx context.Context, p string) ([]driver.FileInfo, error) {
	r, err := h.fs.ListDir(ctx, connect.NewRequest(&filesystem.ListDirRequest{Path: p, Depth: 1}))
	if err != nil {
		return nil, h.rpcErr(ctx, "list", err)
	}
	out := make([]driver.FileInfo, 0, len(r.Msg.GetEntries()))
	for _, e := range r.Msg.GetEntries() {
		out = append(out, fileInfo(e, ""))
	}
	return out, nil
}

func fileInfo(e *filesystem.EntryInfo, asked string) driver.FileInfo {
	mode := fs.FileMode(e.GetMode()).Perm()
	switch e.GetType() {
	case filesystem.FileType_FILE_TYPE_DIRECTORY:
		mode |= fs.ModeDir
	case filesystem.FileType_FILE_TYPE_SYMLINK:
		mode |= fs.ModeSymlink
	}
	fi := driver.FileInfo{Name: e.GetName(), Path: e.GetPath(), Size: e.GetSize(), Mode: mode}
	if fi.Path == "" {
		fi.Path = asked // envd before 0.1.x reported no path
	}
	if t := e.GetModifiedTime(); t != nil {
		fi.ModTime = t.AsTime()
	}
	return fi
}

// MakeDir asks Filesystem.MakeDir; an existing directory is success.
func (h *handle) MakeDir(ctx context.Context, p string) error {
	_, err := h.fs.MakeDir(ctx, connect.NewRequest(&filesystem.MakeDirRequest{Path: p}))
	if connect.CodeOf(err) == connect.CodeAlreadyExists {
		return nil
	}
	return h.rpcErr(ctx, "mkdir", err)
}

// Remove asks Filesystem.Stat, then Filesystem.Remove: envd's Remove
// succeeds on a missing path, and the contract wants ErrNotFound.
func (h *handle) Remove(ctx context.Context, p string) error {
	if _, err := h.Stat(ctx, p); err != nil {
		return err
	}
	_, err := h.fs.Remove(ctx, connect.NewRequest(&filesystem.RemoveRequest{Path: p}))
	return h.rpcErr(ctx, "remove", err)
}

// move asks Filesystem.Move.
func (h *handle) move(ctx context.Context, src, dst string) error {
	_, err := h.fs.Move(ctx, connect.NewRequest(&filesystem.MoveRequest{Source: src, Destination: dst}))
	return h.rpcErr(ctx, "move", err)
}

// State asks GET /sandboxes/{id}.
func (h *handle) State(ctx context.Context) (string, error) {
	sb, err := h.api.Get(ctx, h.sb.SandboxID)
	if errors.Is(err, sandagent.ErrNotFound) {
		return string(sandagent.StateDestroyed), nil
	}
	if err != nil {
		return "", err
	}
	if sb.State == "" { // an answer that was not the sandbox object
		return "", &sandagent.Error{Provider: h.provider, Op: "state", Message: "unexpected response: no sandbox state"}
	}
	return string(state(sb.State)), nil
}

// Pause asks POST /sandboxes/{id}/pause.
func (h *handle) Pause(ctx context.Context) error { return h.api.Pause(ctx, h.sb.SandboxID) }

// SetTimeout asks POST /sandboxes/{id}/timeout.
func (h *handle) SetTimeout(ctx context.Context, d time.Duration) error {
	return h.api.SetTimeout(ctx, h.sb.SandboxID, d)
}

// Destroy asks DELETE /sandboxes/{id}; a sandbox already gone is success.
func (h *handle) Destroy(ctx context.Context) error { return h.api.Kill(ctx, h.sb.SandboxID) }

// Close has nothing to release: connections belong to the Sandbox's client.
func (h *handle) Close() error { return nil }

// Native is what Handle.As offers on E2B:
//
//	var n e2b.Native
//	if h.As(&n) {
//		url := "https://" + n.Host(3000)
//	}
type Native struct {
	SandboxID   string
	TemplateID  string
	EnvdVersion string
	Domain      string // the sandbox's domain, such as e2b.app
	// EnvdAccessToken authenticates requests to envd (header
	// X-Access-Token); "" for a sandbox created with WithSecure(false). It
	// is a secret.
	EnvdAccessToken string
	// TrafficAccessToken authenticates requests to the sandbox's ports
	// (header e2b-traffic-access-token) when public traffic is restricted.
	TrafficAccessToken string

	h *handle
}

// Host returns the public host name of a port of the sandbox,
// "<port>-<id>.<domain>", as the SDKs' getHost.
func (n *Native) Host(port int) string { return host(port, n.SandboxID, n.Domain) }

// Move renames a file or directory in the sandbox with envd's Filesystem.Move.
// Relative paths resolve against the user's home, as envd resolves them.
func (n *Native) Move(ctx context.Context, src, dst string) error {
	h, err := n.handle()
	if err != nil {
		return wrap("move", err)
	}
	return h.wrap("move", h.move(ctx, src, dst))
}

// handle returns the handle n came from.
func (n *Native) handle() (*handle, error) {
	if n.h == nil {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "Native did not come from Handle.As")
	}
	return n.h, nil
}

// As fills a *Native.
func (h *handle) As(target any) bool {
	n, ok := target.(*Native)
	if !ok {
		return false
	}
	*n = Native{
		SandboxID:       h.sb.SandboxID,
		TemplateID:      h.sb.TemplateID,
		EnvdVersion:     h.sb.EnvdVersion,
		Domain:          h.domain,
		EnvdAccessToken: h.sb.EnvdAccessToken,
		h:               h,
	}
	if h.sb.TrafficAccessToken != nil {
		n.TrafficAccessToken = *h.sb.TrafficAccessToken
	}
	return true
}
