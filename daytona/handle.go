package daytona

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	apiclient "github.com/daytonaio/daytona/libs/api-client-go"
	toolbox "github.com/daytonaio/daytona/libs/toolbox-api-client-go"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
)

// handle implements driver.Handle for one Daytona sandbox.
type handle struct {
	s        *Sandbox
	id       string
	tbBase   string // {toolboxProxyUrl}/{id}
	tb       *toolbox.APIClient
	ctl      *Control
	lang     string // the code-toolbox-language label at attach
	sessions *sessions
}

var (
	_ driver.Handle        = (*handle)(nil)
	_ driver.Stopper       = (*handle)(nil)
	_ driver.TimeoutSetter = (*handle)(nil)
	_ driver.Uploader      = (*handle)(nil)
	_ driver.Aser          = (*handle)(nil)
)

// newHandle makes the handle of sb. Its toolbox is at toolboxProxyUrl/id;
// a sandbox that reports no toolboxProxyUrl is asked for it, as the
// official SDKs do (GET /sandbox/{id}/toolbox-proxy-url).
func newHandle(ctx context.Context, s *Sandbox, sb *apiclient.Sandbox) (*handle, error) {
	proxy := sb.ToolboxProxyUrl
	if proxy == "" {
		u, resp, err := s.api.SandboxAPI.GetToolboxProxyUrl(ctx, sb.Id).Execute()
		if err = s.check("toolbox proxy url", resp, err); err != nil {
			return nil, err
		}
		proxy = u.Url
	}
	base := strings.TrimRight(proxy, "/") + "/" + sb.Id
	cfg := toolbox.NewConfiguration()
	cfg.Servers = toolbox.ServerConfigurations{{URL: base}}
	cfg.HTTPClient = s.tbHTTP
	cfg.UserAgent = "sandagent"
	for k, v := range s.toolboxHeaders() {
		cfg.AddDefaultHeader(k, v)
	}
	h := &handle{s: s, id: sb.Id, tbBase: base, tb: toolbox.NewAPIClient(cfg), lang: sb.Labels[LabelLanguage]}
	h.ctl = &Control{h: h}
	h.sessions = newSessions(h)
	return h, nil
}

// toolboxHeaders are the API headers plus X-Daytona-Split-Output, which
// makes the daemon keep stdout and stderr apart for a client that sends no
// SDK version.
func (s *Sandbox) toolboxHeaders() map[string]string {
	h := s.headers()
	h["X-Daytona-Split-Output"] = "true"
	return h
}

func (h *handle) workdir(ctx context.Context) (string, error) {
	wd, resp, err := h.tb.InfoAPI.GetWorkDir(ctx).Execute()
	if err = h.tbCheck(ctx, "workdir", resp, err); err != nil {
		return "", err
	}
	return wd.Dir, nil
}

// tbCheck classifies a toolbox failure. A toolbox that refuses a call
// because the sandbox is not started (Daytona's proxy answers 4xx or 5xx
// then) is ErrState: on failures other than 404 it asks the API.
func (h *handle) tbCheck(ctx context.Context, op string, resp *http.Response, err error) error {
	err = h.s.check(op, resp, err)
	return h.stateAware(ctx, err)
}

func (h *handle) stateAware(ctx context.Context, err error) error {
	var se *sandagent.Error
	if err == nil || !errors.As(err, &se) || se.Status == 0 || se.Status == http.StatusNotFound || ctx.Err() != nil {
		return err
	}
	sb, gerr := h.s.get(ctx, h.id)
	if gerr == nil && sb.GetState() != apiclient.SANDBOXSTATE_STARTED {
		return &sandagent.Error{Provider: ProviderName, Op: op(se), Status: se.Status, Kind: sandagent.ErrState,
			Message: fmt.Sprintf("sandbox %s is %s", h.id, sb.GetState())}
	}
	return err
}

func op(e *sandagent.Error) string { return e.Op }

// do sends a hand-made toolbox request (the generated client buffers file
// bodies in memory or temporary files; these stream), with the toolbox
// headers and hdr.
func (h *handle) do(ctx context.Context, op, method, p string, q url.Values, body io.Reader, ctype string, hdr map[string]string) (*http.Response, error) {
	u := h.tbBase + p
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range h.s.toolboxHeaders() {
		req.Header.Set(k, v)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "sandagent")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := h.s.tbHTTP.Do(req)
	if err != nil {
		return nil, h.s.check(op, nil, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, h.stateAware(ctx, h.s.statusError(op, resp, b))
	}
	return resp, nil
}

func (h *handle) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	resp, err := h.do(ctx, "read", http.MethodGet, "/files/download", url.Values{"path": {p}}, nil, "", nil)
	if err != nil {
		return nil, fileError(p, err)
	}
	return resp.Body, nil
}

func (h *handle) Write(ctx context.Context, p string, r io.Reader) error {
	return h.Upload(ctx, []driver.File{{Path: p, Content: r}})
}

// Upload sends every file in one multipart request to /files/bulk-upload,
// streaming; the daemon creates parent directories.
func (h *handle) Upload(ctx context.Context, files []driver.File) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for i, f := range files {
				if err := mw.WriteField(fmt.Sprintf("files[%d].path", i), f.Path); err != nil {
					return err
				}
				part, err := mw.CreateFormFile(fmt.Sprintf("files[%d].file", i), path.Base(f.Path))
				if err != nil {
					return err
				}
				if _, err := io.Copy(part, f.Content); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	resp, err := h.do(ctx, "write", http.MethodPost, "/files/bulk-upload", nil, pr, mw.FormDataContentType(), nil)
	pr.CloseWithError(errors.New("request ended"))
	if err != nil {
		if len(files) == 1 {
			return fileError(files[0].Path, err)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func fileInfo(dir string, fi *toolbox.FileInfo) driver.FileInfo {
	perm, _ := strconv.ParseUint(fi.Permissions, 8, 32)
	mode := fs.FileMode(perm) & fs.ModePerm
	if fi.IsDir {
		mode |= fs.ModeDir
	}
	mt, _ := time.Parse(time.RFC3339Nano, fi.ModifiedAt)
	return driver.FileInfo{Name: fi.Name, Path: path.Join(dir, fi.Name), Size: int64(fi.Size), Mode: mode, ModTime: mt}
}

func (h *handle) Stat(ctx context.Context, p string) (driver.FileInfo, error) {
	fi, resp, err := h.tb.FileSystemAPI.GetFileInfo(ctx).Path(p).Execute()
	if err = h.tbCheck(ctx, "stat", resp, err); err != nil {
		return driver.FileInfo{}, fileError(p, err)
	}
	out := fileInfo(path.Dir(p), fi)
	out.Name, out.Path = path.Base(p), p
	return out, nil
}

func (h *handle) ListDir(ctx context.Context, p string) ([]driver.FileInfo, error) {
	fis, resp, err := h.tb.FileSystemAPI.ListFiles(ctx).Path(p).Execute()
	if err = h.tbCheck(ctx, "list", resp, err); err != nil {
		return nil, fileError(p, err)
	}
	out := make([]driver.FileInfo, len(fis))
	for i := range fis {
		out[i] = fileInfo(p, &fis[i])
	}
	return out, nil
}

func (h *handle) MakeDir(ctx context.Context, p string) error {
	resp, err := h.tb.FileSystemAPI.CreateFolder(ctx).Path(p).Mode("0755").Execute()
	return fileError(p, h.tbCheck(ctx, "mkdir", resp, err))
}

func (h *handle) Remove(ctx context.Context, p string) error {
	resp, err := h.tb.FileSystemAPI.DeleteFile(ctx).Path(p).Recursive(true).Execute()
	return fileError(p, h.tbCheck(ctx, "remove", resp, err))
}

func (h *handle) State(ctx context.Context) (string, error) {
	st, err := h.ctl.State(ctx)
	if errors.Is(err, sandagent.ErrNotFound) {
		return string(sandagent.StateDestroyed), nil
	}
	return string(sandboxState(st)), err
}

func (h *handle) Stop(ctx context.Context) error { return h.ctl.Stop(ctx) }

// SetTimeout sets the auto-stop interval to d, rounded up to minutes.
func (h *handle) SetTimeout(ctx context.Context, d time.Duration) error {
	return h.ctl.SetAutoStop(ctx, d)
}

func (h *handle) Destroy(ctx context.Context) error {
	_, resp, err := h.s.api.SandboxAPI.DeleteSandbox(ctx, h.id).Execute()
	err = h.s.check("destroy", resp, err)
	if errors.Is(err, sandagent.ErrNotFound) {
		return nil
	}
	return err
}

// Close deletes the handle's idle toolbox sessions (their shells).
func (h *handle) Close() error {
	h.sessions.close()
	return nil
}

// As offers *Control, *apiclient.APIClient and *toolbox.APIClient.
func (h *handle) As(target any) bool {
	switch t := target.(type) {
	case **Control:
		*t = h.ctl
	case **apiclient.APIClient:
		*t = h.s.api
	case **toolbox.APIClient:
		*t = h.tb
	default:
		return false
	}
	return true
}

// Control is the Daytona-specific side of a Handle, reached with As:
//
//	var ctl *daytona.Control
//	if h.As(&ctl) { err = ctl.Archive(ctx) }
//
// Its methods that change the state wait for the new state, bounded by ctx
// and WithWaitTimeout.
type Control struct{ h *handle }

// Info returns the sandbox as Daytona describes it.
func (c *Control) Info(ctx context.Context) (*apiclient.Sandbox, error) {
	sb, err := c.h.s.get(ctx, c.h.id)
	return sb, wrapOp("info", err)
}

// State returns Daytona's own state of the sandbox ("started", ...).
func (c *Control) State(ctx context.Context) (apiclient.SandboxState, error) {
	sb, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	return sb.GetState(), nil
}

// Start starts a stopped or archived sandbox and waits until it is started.
func (c *Control) Start(ctx context.Context) error {
	sb, resp, err := c.h.s.api.SandboxAPI.StartSandbox(ctx, c.h.id).Execute()
	if err = c.h.s.check("start", resp, err); err != nil {
		return wrapOp("start", err)
	}
	return c.wait(ctx, "start", sb, apiclient.SANDBOXSTATE_STARTED)
}

// Stop stops the sandbox and waits until it is stopped. Its files stay.
func (c *Control) Stop(ctx context.Context) error {
	sb, resp, err := c.h.s.api.SandboxAPI.StopSandbox(ctx, c.h.id).Execute()
	if err = c.h.s.check("stop", resp, err); err != nil {
		return wrapOp("stop", err)
	}
	return c.wait(ctx, "stop", sb, apiclient.SANDBOXSTATE_STOPPED)
}

// Restart stops the sandbox, then starts it.
func (c *Control) Restart(ctx context.Context) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	return c.Start(ctx)
}

// Archive moves a stopped sandbox's files to cold storage and waits until
// it is archived.
func (c *Control) Archive(ctx context.Context) error {
	sb, resp, err := c.h.s.api.SandboxAPI.ArchiveSandbox(ctx, c.h.id).Execute()
	if err = c.h.s.check("archive", resp, err); err != nil {
		return wrapOp("archive", err)
	}
	return c.wait(ctx, "archive", sb, apiclient.SANDBOXSTATE_ARCHIVED)
}

// Resize changes CPU cores and memory and disk in GB (zero: unchanged).
// Daytona resizes started or stopped sandboxes; disk only grows, only when
// stopped; decreases need a stopped sandbox.
func (c *Control) Resize(ctx context.Context, r Resources) error {
	if r.GPU != 0 || r.CPU < 0 || r.Memory < 0 || r.Disk < 0 {
		return wrapOp("resize", invalid("resize takes positive CPU, Memory and Disk only, got %+v", r))
	}
	req := apiclient.ResizeSandbox{}
	for _, f := range []struct {
		n   int
		dst **int32
	}{{r.CPU, &req.Cpu}, {r.Memory, &req.Memory}, {r.Disk, &req.Disk}} {
		if f.n > 0 {
			v := int32(f.n)
			*f.dst = &v
		}
	}
	sb, resp, err := c.h.s.api.SandboxAPI.ResizeSandbox(ctx, c.h.id).ResizeSandbox(req).Execute()
	if err = c.h.s.check("resize", resp, err); err != nil {
		return wrapOp("resize", err)
	}
	if st := sb.GetState(); st == apiclient.SANDBOXSTATE_RESIZING {
		return c.wait(ctx, "resize", sb, "")
	}
	return nil
}

// SetLabels replaces the sandbox's labels. The sandagent.managed and
// sandagent.name labels are kept unless labels sets them.
func (c *Control) SetLabels(ctx context.Context, labels map[string]string) error {
	sb, err := c.h.s.get(ctx, c.h.id)
	if err != nil {
		return wrapOp("labels", err)
	}
	all := map[string]string{}
	for _, k := range []string{sandagent.ManagedLabel, sandagent.NameLabel} {
		if v, ok := sb.Labels[k]; ok {
			all[k] = v
		}
	}
	for k, v := range labels {
		all[k] = v
	}
	_, resp, err := c.h.s.api.SandboxAPI.ReplaceLabels(ctx, c.h.id).SandboxLabels(*apiclient.NewSandboxLabels(all)).Execute()
	return wrapOp("labels", c.h.s.check("labels", resp, err))
}

// SetAutoStop sets the auto-stop interval (0 disables it).
func (c *Control) SetAutoStop(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return wrapOp("autostop", invalid("negative interval %s", d))
	}
	_, resp, err := c.h.s.api.SandboxAPI.SetAutostopInterval(ctx, c.h.id, float32(minutes(d))).Execute()
	return wrapOp("autostop", c.h.s.check("autostop", resp, err))
}

// SetAutoArchive sets the auto-archive interval (0: Daytona's maximum).
func (c *Control) SetAutoArchive(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return wrapOp("autoarchive", invalid("negative interval %s", d))
	}
	_, resp, err := c.h.s.api.SandboxAPI.SetAutoArchiveInterval(ctx, c.h.id, float32(minutes(d))).Execute()
	return wrapOp("autoarchive", c.h.s.check("autoarchive", resp, err))
}

// SetAutoDelete sets the auto-delete interval: negative disables it, 0
// deletes the sandbox as soon as it stops.
func (c *Control) SetAutoDelete(ctx context.Context, d time.Duration) error {
	m := -1
	if d >= 0 {
		m = minutes(d)
	}
	_, resp, err := c.h.s.api.SandboxAPI.SetAutoDeleteInterval(ctx, c.h.id, float32(m)).Execute()
	return wrapOp("autodelete", c.h.s.check("autodelete", resp, err))
}

// wait polls until the sandbox is in want, or, with want "", until it has
// left its transitional state.
func (c *Control) wait(ctx context.Context, op string, sb *apiclient.Sandbox, want apiclient.SandboxState) error {
	start := sb.GetState()
	err := c.h.s.waitFor(ctx, "sandbox "+c.h.id+" "+op, func(context.Context) (bool, error) {
		st := sb.GetState()
		switch {
		case want != "" && st == want, want == "" && st != start:
			return true, nil
		case st == apiclient.SANDBOXSTATE_ERROR || st == apiclient.SANDBOXSTATE_BUILD_FAILED:
			return false, sandagent.Errorf(sandagent.ErrState, "sandbox %s went to %s: %s", c.h.id, st, sb.GetErrorReason())
		}
		return false, nil
	}, func(ctx context.Context) error {
		next, err := c.h.s.get(ctx, c.h.id)
		if err == nil {
			*sb = *next
		}
		return err
	})
	return wrapOp(op, err)
}

func wrapOp(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sandagent.Error
	if errors.As(err, &se) {
		return wrap(op, err)
	}
	return err
}
