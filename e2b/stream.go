package e2b

import (
	"context"
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
)

// keepaliveInterval is how often envd is asked to send a keepalive event on
// an idle output stream (the SDKs' 50 s).
const keepaliveInterval = 50 * time.Second

// keepaliveHeader is the header that asks envd for keepalives.
const keepaliveHeader = "Keepalive-Ping-Interval"

// keepalivePing is the value of keepaliveHeader for interval d: whole
// seconds, at least one.
func keepalivePing(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// stallBound is how long an output stream may deliver nothing (no data,
// keepalive, start or end event) before it counts as stalled: two keepalive
// intervals and a fifth of one as slack (110 s by default).
func stallBound(interval time.Duration) time.Duration { return 2*interval + interval/5 }

// watchdog ends an output stream that delivers nothing for limit: the
// connection can stay open while envd, or a proxy on the way, went silent.
type watchdog struct {
	provider string
	limit    time.Duration
	timer    *time.Timer
	cancel   context.CancelFunc // ends the stream
	stalled  atomic.Bool
}

// watch returns the ctx for a stream call and its watchdog, armed: it
// covers the call itself.
func (h *handle) watch(ctx context.Context) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{provider: h.provider, limit: stallBound(h.keepalive), cancel: cancel}
	w.timer = time.AfterFunc(w.limit, func() {
		w.stalled.Store(true)
		cancel()
	})
	return ctx, w
}

// stop releases the watchdog and returns why the stream ended: the stall,
// if the watchdog ended it, else err.
func (w *watchdog) stop(err error) error {
	w.timer.Stop()
	w.cancel()
	if w.stalled.Load() {
		return &sandagent.Error{Provider: w.provider, Kind: sandagent.ErrTimeout,
			Message: "the output stream stalled: no data or keepalive for " + w.limit.String() +
				"; the process may still be running in the sandbox"}
	}
	return err
}

// events reads a Start or Connect stream under a watchdog.
type events struct {
	w       *watchdog
	receive func() bool
	msg     func() *process.ProcessEvent
	err     func() error
	close   func() error
}

func newEvents[T any, M interface {
	*T
	GetEvent() *process.ProcessEvent
}](w *watchdog, s *connect.ServerStreamForClient[T]) *events {
	return &events{
		w:       w,
		receive: s.Receive,
		msg:     func() *process.ProcessEvent { return M(s.Msg()).GetEvent() },
		err:     s.Err,
		close:   s.Close,
	}
}

// next returns the next event, or nil at the end of the stream. Only the
// wait for it counts towards the stall bound, not the time the caller
// takes to consume the previous one.
func (e *events) next() *process.ProcessEvent {
	e.w.timer.Reset(e.w.limit)
	ok := e.receive()
	e.w.timer.Stop()
	if !ok {
		return nil
	}
	return e.msg()
}

// end closes the stream and returns why it ended (nil for a clean end).
func (e *events) end() error {
	err := e.err()
	_ = e.close()
	return e.w.stop(err)
}

// copyOut writes the output to stdout and stderr until the end event, then
// closes the stream. exited tells whether the end event came, with the exit
// code; otherwise err is why the stream ended (nil: ended cleanly without
// an exit status).
func (e *events) copyOut(stdout, stderr io.Writer) (code int, exited bool, err error) {
	for ev := e.next(); ev != nil; ev = e.next() {
		switch ev := ev.GetEvent().(type) {
		case *process.ProcessEvent_Data:
			switch out := ev.Data.GetOutput().(type) {
			case *process.ProcessEvent_DataEvent_Stdout:
				_, _ = stdout.Write(out.Stdout)
			case *process.ProcessEvent_DataEvent_Stderr:
				_, _ = stderr.Write(out.Stderr)
			case *process.ProcessEvent_DataEvent_Pty:
				_, _ = stdout.Write(out.Pty)
			}
		case *process.ProcessEvent_End:
			_ = e.end()
			return int(ev.End.GetExitCode()), true, nil
		}
	}
	return -1, false, e.end()
}

// streamErr classifies the end of an output stream that brought no exit
// status.
func (h *handle) streamErr(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil:
		return h.wrap(op, sandagent.Errorf(nil, "the output stream ended without an exit status"))
	}
	return h.rpcErr(ctx, op, err)
}
