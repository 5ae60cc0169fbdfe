package daytona

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	toolbox "github.com/daytonaio/daytona/libs/toolbox-api-client-go"
	"golang.org/x/net/websocket"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/internal/httpx"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// The daemon's stream labels: it writes every line of a session command's
// output to the log with one of them in front.
var (
	stdoutPrefix = []byte{1, 1, 1}
	stderrPrefix = []byte{2, 2, 2}
)

// markerWait is how long Wait keeps reading the log once both end markers
// have arrived, for the daemon to close the websocket, before it asks for
// the exit code itself.
const markerWait = 3 * time.Second

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// script is the command line the session runs: the command in its own sh,
// in dir with env, then an end marker on each stream, keeping the status.
func script(c *driver.Cmd, marker string) string {
	line := c.Shell
	if line == "" {
		line = "exec " + shellquote.Quote(c.Args)
	}
	if c.Dir != "" {
		line = "cd " + shellquote.One(c.Dir) + " || exit 1\n" + line
	}
	cmd := "sh -c " + shellquote.One(line)
	if len(c.Env) > 0 {
		kv := make([]string, 0, len(c.Env))
		for k, v := range c.Env {
			kv = append(kv, shellquote.One(k+"="+v))
		}
		sort.Strings(kv)
		cmd = "env -- " + strings.Join(kv, " ") + " " + cmd
	}
	m := shellquote.One(marker)
	return cmd + "; __sandagent_ec=$?; printf '%s' " + m + "; printf '%s' " + m + " >&2; (exit $__sandagent_ec)"
}

func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	if c.Stdin != nil {
		return nil, sandagent.Errorf(sandagent.ErrUnsupported, "daytona cannot forward stdin: the toolbox cannot close a command's input")
	}
	sid := "sandagent-" + randomHex(8)
	resp, err := h.tb.ProcessAPI.CreateSession(ctx).Request(*toolbox.NewCreateSessionRequest(sid)).Execute()
	if err = h.tbCheck(ctx, "exec", resp, err); err != nil {
		return nil, err
	}
	p := &process{h: h, sid: sid, done: make(chan struct{}), stdout: c.Stdout, stderr: c.Stderr}
	p.marker = "<<sandagent-end-" + randomHex(6) + ">>"
	req := toolbox.NewSessionExecuteRequest(script(c, p.marker))
	async := true
	req.RunAsync = &async
	res, resp, err := h.tb.ProcessAPI.SessionExecuteCommand(ctx, sid).Request(*req).Execute()
	if err = h.tbCheck(ctx, "exec", resp, err); err != nil {
		p.deleteSession(ctx)
		return nil, err
	}
	p.cmdID = res.CmdId
	ws, err := h.dialLogs(ctx, sid, p.cmdID)
	if err != nil {
		p.deleteSession(ctx)
		return nil, err
	}
	go p.run(ctx, ws)
	return p, nil
}

// dialLogs opens the command's log websocket, following.
func (h *handle) dialLogs(ctx context.Context, sid, cmdID string) (*websocket.Conn, error) {
	u, err := url.Parse(h.tbBase + "/process/session/" + url.PathEscape(sid) + "/command/" + url.PathEscape(cmdID) + "/logs?follow=true")
	if err != nil {
		return nil, err
	}
	origin := *u
	origin.Path, origin.RawQuery = "", ""
	u.Scheme = map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
	cfg, err := websocket.NewConfig(u.String(), origin.String())
	if err != nil {
		return nil, err
	}
	for k, v := range h.s.toolboxHeaders() {
		cfg.Header.Set(k, v)
	}
	ws, err := cfg.DialContext(ctx)
	if err != nil {
		var de *websocket.DialError
		if errors.As(err, &de) {
			err = de.Err // its text holds the URL; keep the cause
		}
		if errors.Is(err, websocket.ErrBadStatus) {
			return nil, h.stateAware(ctx, &sandagent.Error{Provider: ProviderName, Op: "exec", Status: http.StatusBadRequest, Message: "the toolbox refused the log stream"})
		}
		return nil, h.s.check("exec", nil, err)
	}
	return ws, nil
}

// process is a command running in its own toolbox session.
type process struct {
	h              *handle
	sid, cmdID     string
	marker         string
	stdout, stderr io.Writer
	done           chan struct{}
	code           int
	err            error
}

func (p *process) PID() int { return 0 }

func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

// run copies the log to the writers, then learns the exit code and
// deletes the session. When ctx ends first, deleting the session kills the
// command.
func (p *process) run(ctx context.Context, ws *websocket.Conn) {
	defer close(p.done)
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	d := &demuxer{marker: []byte(p.marker), out: [2]io.Writer{p.stdout, p.stderr}}
	var readErr error
	for {
		var msg []byte
		if d.ended[0] && d.ended[1] {
			_ = ws.SetReadDeadline(time.Now().Add(markerWait))
		}
		if readErr = websocket.Message.Receive(ws, &msg); readErr != nil {
			break
		}
		d.write(msg)
	}
	stop()
	ws.Close()
	d.flush()
	if ctx.Err() != nil {
		p.code = -1
		p.deleteSession(ctx)
		return
	}
	if !(d.ended[0] && d.ended[1]) { // the log ended, or broke, before both end markers: output is missing
		p.code, p.err = -1, httpx.Dropped(ProviderName, "exec", readErr, p.h.s.apiKey)
		p.deleteSession(ctx)
		return
	}
	p.code, p.err = p.exitCode(ctx)
	p.deleteSession(ctx)
}

// exitCode asks for the command's exit code until the daemon has it.
func (p *process) exitCode(ctx context.Context) (int, error) {
	var code int
	err := p.h.s.waitFor(ctx, "exit code", func(ctx context.Context) (bool, error) {
		cmd, resp, err := p.h.tb.ProcessAPI.GetSessionCommand(ctx, p.sid, p.cmdID).Execute()
		if err = p.h.tbCheck(ctx, "exec", resp, err); err != nil {
			return false, err
		}
		if cmd.ExitCode == nil {
			return false, nil
		}
		code = int(*cmd.ExitCode)
		return true, nil
	}, func(context.Context) error { return nil })
	return code, err
}

func (p *process) deleteSession(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	resp, err := p.h.tb.ProcessAPI.DeleteSession(ctx, p.sid).Execute()
	if err = p.h.s.check("exec", resp, err); err != nil && p.h.s.logger != nil {
		p.h.s.logger.Debug("sandagent: deleting a toolbox session failed", "provider", ProviderName, "session", p.sid, "err", err)
	}
}

// demuxer splits the daemon's labelled log into the two streams, line by
// line, and removes the end marker the script prints on each: a stream's
// last line is "<output>marker\n", the newline being the labeller's.
type demuxer struct {
	marker  []byte
	out     [2]io.Writer
	buf     []byte
	scanned int // bytes of buf's pending line, after its label, known to hold no newline
	ended   [2]bool
}

func (d *demuxer) write(b []byte) {
	d.buf = append(d.buf, b...)
	for {
		if len(d.buf) < 3 {
			return
		}
		stream := -1
		switch {
		case bytes.HasPrefix(d.buf, stdoutPrefix):
			stream = 0
		case bytes.HasPrefix(d.buf, stderrPrefix):
			stream = 1
		}
		if stream < 0 { // not a label: pass it on as stdout
			i := bytes.IndexAny(d.buf, "\x01\x02")
			if i < 0 {
				i = len(d.buf)
			}
			i = max(i, 1)
			d.emit(0, d.buf[:i])
			d.buf = d.buf[i:]
			continue
		}
		// A long line arrives in many messages: search only what is new.
		nl := bytes.IndexByte(d.buf[3+d.scanned:], '\n')
		if nl < 0 {
			d.scanned = len(d.buf) - 3
			return
		}
		nl += d.scanned
		d.scanned = 0
		line := d.buf[3 : 3+nl+1]
		d.buf = d.buf[3+nl+1:]
		if body, ok := bytes.CutSuffix(line, append(d.marker, '\n')); ok && !d.ended[stream] {
			d.ended[stream] = true
			line = body
		}
		d.emit(stream, line)
	}
}

func (d *demuxer) emit(stream int, b []byte) {
	if len(b) > 0 {
		_, _ = d.out[stream].Write(b)
	}
}

// flush passes on what is left, after the stream ended early.
func (d *demuxer) flush() {
	if len(d.buf) > 0 {
		start := 0
		if bytes.HasPrefix(d.buf, stderrPrefix) {
			d.emit(1, d.buf[3:])
		} else {
			if bytes.HasPrefix(d.buf, stdoutPrefix) {
				start = 3
			}
			d.emit(0, d.buf[start:])
		}
		d.buf = nil
	}
}
