package e2b

import (
	"context"
	"io"
	"math"

	"connectrpc.com/connect"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
)

// ConnectProcess attaches to a process of the sandbox (envd's
// Process.Connect), one started earlier by this or any other handle or
// program: pid is what sandagent.Process.PID reported. The output it writes
// from now on goes live to stdout and stderr (nil discards it; earlier
// output is not replayed) until it ends, and its exit code is returned: a
// non-zero exit is not an error here, and a process killed by a signal
// reports -1. envd keeps the exit status of a process for 30 s, so a
// process that ended that recently returns at once.
//
// Connect only observes. When ctx ends, the connection ends and the process
// keeps running (whereas the process of a Handle.Start is killed when its
// ctx ends); the same goes for a stream that stalls, which ends with
// ErrTimeout as Start's does. An unknown pid is ErrNotFound; errors are
// classified as those of Handle.Exec.
func (n *Native) ConnectProcess(ctx context.Context, pid int, stdout, stderr io.Writer) (exitCode int, err error) {
	h, err := n.handle()
	if err != nil {
		return -1, wrap("connect", err)
	}
	if pid <= 0 || uint64(pid) > math.MaxUint32 {
		return -1, h.wrap("connect", sandagent.Errorf(sandagent.ErrInvalid, "invalid pid %d", pid))
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	code, err := h.connectProcess(ctx, uint32(pid), stdout, stderr)
	return code, h.wrap("connect", err)
}

func (h *handle) connectProcess(ctx context.Context, pid uint32, stdout, stderr io.Writer) (int, error) {
	req := connect.NewRequest(&process.ConnectRequest{Process: pidSelector(pid)})
	req.Header().Set(keepaliveHeader, keepalivePing(h.keepalive))
	// ctx's deadline is not sent (as Connect-Timeout-Ms): envd would end
	// the stream at it with its own error, racing ctx's. ctx still ends it.
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer context.AfterFunc(ctx, cancel)()
	defer cancel()
	sctx, w := h.watch(dctx)
	stream, err := h.proc.Connect(sctx, req)
	if err != nil {
		return -1, h.rpcErr(ctx, "connect", w.stop(err))
	}
	code, exited, err := newEvents(w, stream).copyOut(stdout, stderr)
	if exited {
		return code, nil
	}
	return -1, h.streamErr(ctx, "connect", err)
}

// ProcessInfo describes a process of the sandbox, as ListProcesses reports
// it. Its environment is left out: it may hold secrets.
type ProcessInfo struct {
	PID  int
	Cmd  string   // the program
	Args []string // its arguments, the program excluded
	Cwd  string   // "" when it was started in the default workdir
	Tag  string   // "" when it was started without one
}

// ListProcesses returns the processes envd runs in the sandbox (envd's
// Process.List, one request), started by any handle or program, such as the
// commands of Handle.Start and Handle.Exec ("/bin/bash" with "-l", "-c" and
// the line for Cmd.Shell), shown without the wrapper that puts them in a
// process group of their own.
func (n *Native) ListProcesses(ctx context.Context) ([]ProcessInfo, error) {
	h, err := n.handle()
	if err != nil {
		return nil, wrap("list", err)
	}
	r, err := h.proc.List(ctx, connect.NewRequest(&process.ListRequest{}))
	if err != nil {
		return nil, h.wrap("list", h.rpcErr(ctx, "list", err))
	}
	out := make([]ProcessInfo, 0, len(r.Msg.GetProcesses()))
	for _, p := range r.Msg.GetProcesses() {
		cfg := p.GetConfig()
		cmd, args := cfg.GetCmd(), cfg.GetArgs()
		if cmd == "/bin/sh" && len(args) > 3 && args[0] == "-c" && args[1] == groupScript && args[2] == "sh" {
			cmd, args = args[3], args[4:] // the wrapper of Start
		}
		out = append(out, ProcessInfo{
			PID:  int(p.GetPid()),
			Cmd:  cmd,
			Args: args,
			Cwd:  cfg.GetCwd(),
			Tag:  p.GetTag(),
		})
	}
	return out, nil
}
