package mcpserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// spool keeps the first max bytes of a stream in memory and, once the
// stream is longer, all of it in a temporary file on this machine, so that
// the whole output can be written to the sandbox afterwards.
type spool struct {
	max  int
	head []byte
	n    int64
	f    *os.File
	err  error // the temporary file's first failure
}

func newSpool(max int) *spool { return &spool{max: max} }

// Write never fails, so that the command is never cut short: a failure to
// keep all of the output is reported by reader.
func (s *spool) Write(b []byte) (int, error) {
	s.n += int64(len(b))
	if room := s.max - len(s.head); room > 0 {
		s.head = append(s.head, b[:min(room, len(b))]...)
	}
	if s.n <= int64(s.max) || s.err != nil {
		return len(b), nil
	}
	if s.f == nil {
		if s.f, s.err = os.CreateTemp("", "sandagent-mcp-*"); s.err != nil {
			return len(b), nil
		}
		// Everything before b: the head, which then held all of it.
		if _, s.err = s.f.Write(s.head[:s.n-int64(len(b))]); s.err != nil {
			return len(b), nil
		}
	}
	_, s.err = s.f.Write(b)
	return len(b), nil
}

// text returns what a result holds of the stream (its first max bytes as
// text, a rune cut in two dropped, bad bytes as U+FFFD), and whether that is
// the stream byte for byte.
func (s *spool) text() (string, bool) {
	if s.n <= int64(s.max) && utf8.Valid(s.head) {
		return string(s.head), true
	}
	head := s.head
	if s.n > int64(s.max) {
		head = trimPartialRune(head)
	}
	return strings.ToValidUTF8(string(head), "\uFFFD"), false
}

// reader returns the whole stream.
func (s *spool) reader() (io.Reader, error) {
	if s.err != nil {
		return nil, fmt.Errorf("keeping the output on this machine: %w", s.err)
	}
	if s.f == nil {
		return bytes.NewReader(s.head), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.f, nil
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

// maxProgressMessage bounds the text of one progress notification; the
// result holds the output in full.
const maxProgressMessage = 16 << 10

// progress sends a command's output, as it arrives, in progress
// notifications: progress counts the bytes so far, and the message is the
// new output.
type progress struct {
	ctx     context.Context
	session *mcp.ServerSession
	token   any

	mu sync.Mutex
	n  int64
}

// stream returns a writer for one stream; prefix starts its messages.
func (p *progress) stream(prefix string) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		msg := b
		if len(msg) > maxProgressMessage {
			msg = trimPartialRune(msg[:maxProgressMessage])
		}
		text := prefix + strings.ToValidUTF8(string(msg), "\uFFFD")
		if len(msg) < len(b) {
			text += "…"
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.n += int64(len(b))
		// A client that went away is not the command's failure: the result
		// carries the output whole.
		_ = p.session.NotifyProgress(p.ctx, &mcp.ProgressNotificationParams{ProgressToken: p.token, Progress: float64(p.n), Message: text})
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
