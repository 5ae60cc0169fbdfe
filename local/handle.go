//go:build unix

package local

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/engine"
)

// handle implements driver.Handle over the engine.
type handle struct {
	e    *engine.Engine
	sb   *engine.Sandbox
	name string
}

var (
	_ driver.Handle        = (*handle)(nil)
	_ driver.Pauser        = (*handle)(nil)
	_ driver.Stopper       = (*handle)(nil)
	_ driver.TimeoutSetter = (*handle)(nil)
	_ driver.Signaler      = (*process)(nil)
)

func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	p, err := h.sb.Spawn(ctx, engine.Cmd{
		Args: c.Args, Shell: c.Shell, Dir: c.Dir, Env: c.Env,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr,
	})
	if err != nil {
		return nil, err
	}
	return &process{p}, nil
}

type process struct{ p *engine.Proc }

func (p *process) PID() int                                    { return p.p.PID() }
func (p *process) Wait() (int, error)                          { return p.p.Wait() }
func (p *process) Signal(_ context.Context, s os.Signal) error { return p.p.Signal(s) }

func (h *handle) Open(_ context.Context, p string) (io.ReadCloser, error) { return h.sb.Open(p) }

func (h *handle) Write(_ context.Context, p string, r io.Reader) error { return h.sb.Write(p, r) }

func (h *handle) Stat(_ context.Context, p string) (driver.FileInfo, error) {
	fi, err := h.sb.Stat(p)
	if err != nil {
		return driver.FileInfo{}, err
	}
	return info(fi), nil
}

func (h *handle) ListDir(_ context.Context, p string) ([]driver.FileInfo, error) {
	fis, err := h.sb.ListDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]driver.FileInfo, len(fis))
	for i, fi := range fis {
		out[i] = info(fi)
	}
	return out, nil
}

func info(fi engine.FileInfo) driver.FileInfo {
	return driver.FileInfo{Name: fi.Name, Path: fi.Path, Size: fi.Info.Size(), Mode: fi.Info.Mode(), ModTime: fi.Info.ModTime()}
}

func (h *handle) MakeDir(_ context.Context, p string) error { return h.sb.MakeDir(p) }

func (h *handle) Remove(_ context.Context, p string) error { return h.sb.Remove(p) }

func (h *handle) State(context.Context) (string, error) {
	m, err := h.sb.Meta()
	return m.State, err
}

func (h *handle) Pause(context.Context) error { return h.sb.Pause() }

func (h *handle) Stop(context.Context) error { return h.sb.Stop() }

func (h *handle) SetTimeout(_ context.Context, d time.Duration) error { return h.sb.SetTimeout(d) }

func (h *handle) Destroy(ctx context.Context) error { return destroy(ctx, h.e, h.sb, h.name) }

func (h *handle) Close() error { return nil }
