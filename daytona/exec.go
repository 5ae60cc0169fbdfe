package daytona

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/coder/websocket"

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

// stdinChunk bounds the input bytes one input request carries.
const stdinChunk = 1 << 20

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// script is the line the session shell sources for c: the command in its
// own sh (so that its cd, exports and exit stay there), in Dir with Env,
// reading stdin from /dev/null or, with Cmd.Stdin, from the input: inline
// (base64 in the script itself, for a small input of known length) or the
// input decoder (stdinScript); then an end marker line on each stream, stdout's with the
// exit status. The daemon labels output line by line, a line only once it
// is complete, and ends an unterminated last line with a newline: the
// marker completes the command's last line, so the output comes back
// exact, and its own newline sends it at once (a background child may
// hold the streams open long after).
func script(c *driver.Cmd, marker string, in input) string {
	line := c.Shell
	if line == "" {
		line = "exec " + shellquote.Quote(c.Args)
	}
	if c.Dir != "" {
		line = "cd " + shellquote.One(c.Dir) + " || exit 1\n" + line
	}
	run := "sh -c " + shellquote.One(line)
	if len(c.Env) > 0 {
		kv := make([]string, 0, len(c.Env))
		for k, v := range c.Env {
			kv = append(kv, shellquote.One(k+"="+v))
		}
		sort.Strings(kv)
		run = "env -- " + strings.Join(kv, " ") + " " + run
	}
	switch {
	case c.Stdin == nil:
		run += " </dev/null"
	case in.inline != nil:
		run = "printf '%s' " + shellquote.One(base64.StdEncoding.EncodeToString(in.inline)) + " | base64 -d | " + run
	default:
		run = "sh -c " + shellquote.One(stdinScript(run, in.fifo)) + " 3<&0"
	}
	m := shellquote.One(marker)
	return run + "; sandagent_ec=$?; printf '%s%d\\n' " + m + ` "$sandagent_ec"; printf '%s\n' ` + m + " >&2"
}

// stdinScript runs run with its stdin from a FIFO that a decoder fills
// from the session command's input (fd 3): each chunk is a line holding a
// byte count, then that many bytes of base64 (the toolbox's input is text
// and gains a newline); a line "." ends the input, which closes the
// command's stdin. When the command ends first, the decoder is killed.
func stdinScript(run, fifo string) string {
	f := shellquote.One(fifo)
	return "mkfifo -m 600 " + f + " || exit 125\n" +
		`(while IFS= read -r n && [ "$n" != . ]; do head -c "$n" | base64 -d || exit 1; done) <&3 >` + f + " 2>/dev/null 3<&- &\n" +
		"exec 3<&-\n" +
		run + " <" + f + "\n" +
		"e=$?; kill $! 2>/dev/null; rm -f " + f + "; exit $e"
}

// input is how a command gets its Cmd.Stdin: inline (not nil), or through
// a FIFO that stdinScript's decoder fills.
type input struct {
	inline []byte
	fifo   string
}

// inlineStdin is the most input sent inline, within the command: a reader
// that tells its length (bytes.Reader, strings.Reader, bytes.Buffer) and
// holds no more. Its base64 goes to the session shell's printf builtin,
// never onto a command line (whose arguments are limited to 128 KiB).
const inlineStdin = 1 << 20

// inputChunk frames b for stdinScript's decoder.
func inputChunk(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b) + "\n"
	return strconv.Itoa(len(enc)) + "\n" + enc
}

// Start runs c in a session of the handle's pool. Without live writers and
// stdin, the command runs synchronously: one request brings back its
// labelled log and exit status. Otherwise it runs asynchronously and its
// log streams over a websocket, with the input sent alongside.
func (h *handle) Start(ctx context.Context, c *driver.Cmd) (driver.Process, error) {
	ses, err := h.sessions.get(ctx)
	if err != nil {
		return nil, err
	}
	p := &process{h: h, ses: ses, done: make(chan struct{}), stdout: c.Stdout, stderr: c.Stderr}
	p.marker = "<<sandagent-end-" + randomHex(6) + ">>"
	in := input{fifo: "/tmp/.sandagent-stdin-" + randomHex(8)}
	stdin := c.Stdin
	if l, ok := stdin.(interface{ Len() int }); ok && l.Len() <= inlineStdin {
		if in.inline, err = io.ReadAll(stdin); err != nil {
			h.sessions.put(ses)
			return nil, &sandagent.Error{Provider: ProviderName, Op: "exec", Message: "reading Cmd.Stdin failed", Err: err}
		}
		in.inline = append([]byte{}, in.inline...) // not nil: an empty input is inline too
		stdin = nil
	}
	cmd := script(c, p.marker, in)
	if !c.Live && stdin == nil {
		go p.runSync(ctx, cmd)
		return p, nil
	}
	if err := p.startAsync(ctx, cmd); err != nil {
		return nil, err
	}
	ws, err := h.dialLogs(ctx, p.ses.id, p.cmdID)
	if err != nil {
		h.sessions.kill(context.WithoutCancel(ctx), p.ses)
		return nil, err
	}
	feedCtx, stopFeed := context.WithCancel(ctx)
	var fed chan error
	if stdin != nil {
		fed = make(chan error, 1)
		go func() {
			err := p.feed(feedCtx, stdin)
			if err != nil {
				ws.CloseNow() // the command would wait for input that cannot come
			}
			fed <- err
		}()
	}
	go p.stream(ctx, ws, fed, stopFeed)
	return p, nil
}

// execResponse is the daemon's answer to a session exec. With
// X-Daytona-Split-Output and no SDK version, output is the labelled log.
type execResponse struct {
	CmdID    string  `json:"cmdId"`
	ExitCode *int    `json:"exitCode"`
	Output   *string `json:"output"`
}

// exec sends the session exec request, replacing the session once if the
// daemon no longer knows it.
func (p *process) exec(ctx context.Context, command string, async bool) (*execResponse, error) {
	body, err := json.Marshal(map[string]any{"command": command, "runAsync": async, "suppressInputEcho": true})
	if err != nil {
		return nil, err
	}
	for retried := false; ; retried = true {
		var res execResponse
		err := p.h.postJSON(ctx, "exec", "/process/session/"+url.PathEscape(p.ses.id)+"/exec", body, &res, nil)
		if err == nil {
			p.ses.runs++
			return &res, nil
		}
		if retried || !sessionGone(err) || ctx.Err() != nil {
			return nil, err
		}
		p.h.sessions.drop(p.ses)
		if p.ses, err = p.h.sessions.get(ctx); err != nil {
			return nil, err
		}
	}
}

func (p *process) startAsync(ctx context.Context, command string) error {
	res, err := p.exec(ctx, command, true)
	if err != nil {
		p.h.sessions.drop(p.ses)
		return err
	}
	p.cmdID = res.CmdID
	return nil
}

// runSync runs the command in one request and writes its output at the
// end. Bytes that are not UTF-8 come back as U+FFFD in the JSON answer: a
// log holding U+FFFD is read again raw (GET .../logs), which one more
// request makes exact.
func (p *process) runSync(ctx context.Context, command string) {
	defer close(p.done)
	res, err := p.exec(ctx, command, false)
	if err != nil {
		p.code, p.err = -1, err
		if ctx.Err() != nil {
			p.err = nil
			p.h.sessions.kill(context.WithoutCancel(ctx), p.ses) // the daemon does not stop a command whose client left
			return
		}
		p.h.sessions.drop(p.ses)
		return
	}
	p.cmdID = res.CmdID
	var log []byte
	if res.Output != nil {
		log = []byte(*res.Output)
	}
	if bytes.ContainsRune(log, utf8.RuneError) {
		if log, err = p.rawLog(ctx); err != nil {
			p.code, p.err = -1, err
			p.h.sessions.put(p.ses)
			return
		}
	}
	d := p.demuxer()
	d.write(log)
	d.flush()
	p.ses.logged += int64(len(log))
	p.h.sessions.put(p.ses)
	switch {
	case d.ended[0]:
		p.code = d.code
	case res.ExitCode != nil:
		p.code = *res.ExitCode
	default:
		p.code, p.err = -1, &sandagent.Error{Provider: ProviderName, Op: "exec", Message: "the toolbox returned no exit status"}
	}
}

// rawLog reads the command's labelled log as bytes.
func (p *process) rawLog(ctx context.Context) ([]byte, error) {
	resp, err := p.h.do(ctx, "exec", http.MethodGet, "/process/session/"+url.PathEscape(p.ses.id)+"/command/"+url.PathEscape(p.cmdID)+"/logs", nil, nil, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, p.h.s.check("exec", nil, err)
	}
	return b, nil
}

// dialLogs opens the command's log websocket, following.
func (h *handle) dialLogs(ctx context.Context, sid, cmdID string) (*websocket.Conn, error) {
	u := h.tbBase + "/process/session/" + url.PathEscape(sid) + "/command/" + url.PathEscape(cmdID) + "/logs?follow=true"
	hdr := http.Header{}
	for k, v := range h.s.toolboxHeaders() {
		hdr.Set(k, v)
	}
	hdr.Set("User-Agent", "sandagent")
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: h.s.tbHTTP, HTTPHeader: hdr})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, h.stateAware(ctx, &sandagent.Error{Provider: ProviderName, Op: "exec", Status: resp.StatusCode, Kind: httpx.KindOf(resp.StatusCode), Message: "the toolbox refused the log stream"})
		}
		return nil, h.s.check("exec", nil, err)
	}
	ws.SetReadLimit(32 << 20)
	return ws, nil
}

// process is a command running in a session of the handle's pool.
type process struct {
	h              *handle
	ses            *session
	cmdID          string
	marker         string
	stdout, stderr io.Writer
	done           chan struct{}
	code           int
	err            error
	reading        atomic.Bool // the stdin feeder is in Cmd.Stdin's Read
}

func (p *process) PID() int { return 0 }

func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

func (p *process) demuxer() *demuxer {
	return &demuxer{marker: []byte(p.marker), out: [2]io.Writer{p.stdout, p.stderr}}
}

// stream copies the log to the writers until both end markers have come:
// the exit status is in stdout's. When ctx ends first, deleting the
// session kills the command. A stream that breaks, or ends without the
// markers, is an error, never a short result.
func (p *process) stream(ctx context.Context, ws *websocket.Conn, fed <-chan error, stopFeed context.CancelFunc) {
	defer close(p.done)
	defer stopFeed()
	d := p.demuxer()
	var readErr error
	for !d.ended[0] || !d.ended[1] {
		var msg []byte
		if _, msg, readErr = ws.Read(ctx); readErr != nil {
			break
		}
		d.write(msg)
		p.ses.logged += int64(len(msg))
	}
	ws.CloseNow() // the daemon would close about a second after the exit
	stopFeed()
	var feedErr error
	if fed != nil && !p.reading.Load() {
		// A feeder blocked in Cmd.Stdin's Read is not waited for: the
		// command has ended, and Read may never return.
		feedErr = <-fed
	}
	switch {
	case ctx.Err() != nil:
		d.flush()
		p.code = -1
		p.h.sessions.kill(context.WithoutCancel(ctx), p.ses)
	case d.ended[0] && d.ended[1]:
		p.code = d.code
		if feedErr != nil {
			p.err = feedErr
		}
		p.h.sessions.settle(p.ses, p.cmdID)
	case feedErr != nil:
		d.flush()
		p.code, p.err = -1, feedErr
		p.h.sessions.kill(context.WithoutCancel(ctx), p.ses)
	default:
		d.flush()
		// The log ended, or broke, before both end markers: output is
		// missing, as when any stream drops.
		cause := fmt.Errorf("the command's output stream broke: %w", readErr)
		if websocket.CloseStatus(readErr) == websocket.StatusNormalClosure {
			cause = errors.New("the command's output stream ended before the command (was its session deleted?)")
		}
		p.code, p.err = -1, httpx.Dropped(ProviderName, "exec", cause, p.h.s.apiKey)
		p.h.sessions.kill(context.WithoutCancel(ctx), p.ses)
	}
}

// feed sends r to the command's stdin through the toolbox's session input,
// framed for stdinScript's decoder, then ends the input. It stops without
// an error when ctx ends (the command has ended) or the daemon answers 410
// Gone (the command ended meanwhile); a read error of r ends the input and
// is returned.
func (p *process) feed(ctx context.Context, r io.Reader) error {
	path := "/process/session/" + url.PathEscape(p.ses.id) + "/command/" + url.PathEscape(p.cmdID) + "/input"
	send := func(data string) error {
		body, err := json.Marshal(map[string]string{"data": data})
		if err != nil {
			return err
		}
		err = p.h.postJSON(ctx, "exec", path, body, nil, nil)
		var se *sandagent.Error
		if ctx.Err() != nil || errors.As(err, &se) && se.Status == http.StatusGone {
			return errInputEnded
		}
		return err
	}
	buf := make([]byte, stdinChunk)
	for {
		p.reading.Store(true)
		n, rerr := r.Read(buf)
		p.reading.Store(false)
		if l, ok := r.(interface{ Len() int }); ok && rerr == nil && n > 0 && l.Len() == 0 {
			rerr = io.EOF // the end, known without another Read
		}
		data := ""
		if n > 0 {
			data = inputChunk(buf[:n])
		}
		if rerr != nil {
			data += "." // the end of the input, in the same request
		}
		if data != "" {
			if err := send(data); err != nil {
				return ignoreEnded(err)
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return &sandagent.Error{Provider: ProviderName, Op: "exec", Message: "reading Cmd.Stdin failed", Err: rerr}
		}
	}
}

var errInputEnded = errors.New("the command's input has ended")

func ignoreEnded(err error) error {
	if errors.Is(err, errInputEnded) {
		return nil
	}
	return err
}

// postJSON posts body to the toolbox and decodes the answer into out (when
// not nil).
func (h *handle) postJSON(ctx context.Context, op, path string, body []byte, out any, hdr map[string]string) error {
	resp, err := h.do(ctx, op, http.MethodPost, path, nil, bytes.NewReader(body), "application/json", hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &sandagent.Error{Provider: ProviderName, Op: op, Status: resp.StatusCode, Message: "unexpected response: " + err.Error()}
	}
	return nil
}

// demuxer splits the daemon's labelled log into the two streams, line by
// line, and removes the end marker the script prints on each: a stream's
// last line is "<output>marker\n" on stderr and "<output>marker<status>\n"
// on stdout, the newline being the labeller's.
type demuxer struct {
	marker  []byte
	out     [2]io.Writer
	buf     []byte
	scanned int // bytes of buf's pending line, after its label, known to hold no newline
	ended   [2]bool
	code    int // the exit status stdout's marker carried
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
		if !d.ended[stream] {
			if body, code, ok := endLine(line, d.marker, stream == 0); ok {
				d.ended[stream], line = true, body
				if stream == 0 {
					d.code = code
				}
			}
		}
		d.emit(stream, line)
	}
}

// endLine reports whether line (with its newline) is a stream's last line,
// and returns the output before the marker and, on stdout, the status.
func endLine(line, marker []byte, stdout bool) (body []byte, code int, ok bool) {
	rest, found := bytes.CutSuffix(line, []byte{'\n'})
	if !found {
		return nil, 0, false
	}
	if stdout {
		n := 0
		for n < len(rest) && n < 4 && rest[len(rest)-1-n] >= '0' && rest[len(rest)-1-n] <= '9' {
			n++
		}
		if n == 0 {
			return nil, 0, false
		}
		code, _ = strconv.Atoi(string(rest[len(rest)-n:]))
		rest = rest[:len(rest)-n]
	}
	body, ok = bytes.CutSuffix(rest, marker)
	return body, code, ok
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
