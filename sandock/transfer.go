package sandock

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/shellquote"
)

// defaultPiece is how many bytes of a file one shell call carries: 4 MiB,
// about 5.3 MiB of base64 in the request's input or the response's stdout.
const defaultPiece = 4 << 20

func (h *handle) pieceSize() int {
	if h.piece > 0 {
		return h.piece
	}
	return defaultPiece
}

// Open reads the file in pieces, one shell call each: the first call
// checks the path, prints its size and mtime and the first piece; the
// reader fetches each next piece (`tail -c +OFFSET | head -c PIECE`) when
// its consumer has read the previous one, after checking that the size and
// mtime have not changed. A file of n bytes costs max(1, ceil(n/piece))
// requests. The reader stops at a short piece or at the size stat gave, so
// files whose size stat does not know (under /proc) are read whole.
func (h *handle) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	piece := h.pieceSize()
	out, err := h.script(ctx, "read", p, "p="+shellquote.One(p)+`; [ -d "$p" ] && exit 3; [ -e "$p" ] || exit 2; `+
		`{ stat -L -c '%s %Y' "$p" && head -c `+strconv.Itoa(piece)+` | base64; } <"$p" || exit 1`, "", true)
	if err != nil {
		return nil, err
	}
	stamp, enc, _ := strings.Cut(out, "\n")
	sizeField, _, _ := strings.Cut(stamp, " ")
	size, err := strconv.ParseInt(sizeField, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: malformed stat output %q", p, stamp)
	}
	r := &pieceReader{ctx: ctx, h: h, p: p, piece: piece, stamp: stamp, size: size}
	if err := r.take(enc); err != nil {
		return nil, err
	}
	return r, nil
}

// pieceReader streams a file, one piece in memory at a time.
type pieceReader struct {
	ctx   context.Context // the ctx given to Open: it bounds every fetch
	h     *handle
	p     string
	piece int
	stamp string // "size mtime" when the read began
	size  int64
	off   int64  // bytes fetched so far
	buf   []byte // the unread part of the current piece
	done  bool   // nothing left to fetch
	err   error  // sticky: a failed fetch, or Close
}

// take decodes a fetched piece.
func (r *pieceReader) take(enc string) error {
	b, err := decodeBase64(enc)
	if err != nil {
		return fmt.Errorf("%s: %w", r.p, err)
	}
	r.buf = b
	r.off += int64(len(b))
	r.done = len(b) < r.piece || r.off == r.size
	return nil
}

func (r *pieceReader) Read(b []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.done:
			return 0, io.EOF
		}
		r.err = wrap("read", r.fetch())
	}
	n := copy(b, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fetch gets the next piece.
func (r *pieceReader) fetch() error {
	out, err := r.h.script(r.ctx, "read", r.p, "p="+shellquote.One(r.p)+
		`; [ "$(stat -L -c '%s %Y' "$p" 2>/dev/null)" = `+shellquote.One(r.stamp)+` ] || { [ -e "$p" ] || exit 2; exit 6; }; `+
		`{ tail -c +`+strconv.FormatInt(r.off+1, 10)+` | head -c `+strconv.Itoa(r.piece)+` | base64; } <"$p" || exit 1`, "", true)
	if err != nil {
		return err
	}
	return r.take(out)
}

func (r *pieceReader) Close() error {
	r.buf, r.err = nil, sandagent.Errorf(sandagent.ErrClosed, "%s: reader closed", r.p)
	return nil
}

// decodeBase64 decodes base64's output; the decoder skips its line breaks.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsRune(s, ' ') {
		s = strings.ReplaceAll(s, " ", "")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("malformed base64 from the sandbox: %w", err)
	}
	return b, nil
}

// Write sends content that fits in one piece in one shell call, as base64
// input to `base64 -d` into a temporary file that is renamed over the
// target once its byte count is checked. Bigger content goes in pieces,
// one shell call each, read from r one at a time: the first creates a
// temporary file beside the target, the next ones append to it, each
// checking the byte count so far, and the last renames it into place, so
// the target is replaced whole or not at all. Content of n bytes costs
// max(1, ceil(n/piece)) requests; an upload of many pieces that fails
// costs one more, to remove its temporary file.
func (h *handle) Write(ctx context.Context, p string, r io.Reader) error {
	piece := h.pieceSize()
	br := bufio.NewReaderSize(r, 16) // to peek whether a full piece is the last
	buf, err := io.ReadAll(io.LimitReader(br, int64(piece)))
	if err != nil {
		return err
	}
	last, err := drained(br, len(buf) < piece)
	if err != nil {
		return err
	}
	if last {
		return h.writeWhole(ctx, p, buf)
	}
	var token [8]byte
	_, _ = rand.Read(token[:])
	u := &upload{h: h, p: p, tmp: path.Join(path.Dir(p), ".sandagent-"+hex.EncodeToString(token[:]))}
	if err := u.run(ctx, br, buf); err != nil {
		u.abort(ctx)
		return err
	}
	return nil
}

// drained reports whether br has nothing left; short says the last read
// already met its end.
func drained(br *bufio.Reader, short bool) (bool, error) {
	if short {
		return true, nil
	}
	_, err := br.Peek(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// writeWhole writes data in one shell call.
func (h *handle) writeWhole(ctx context.Context, p string, data []byte) error {
	fill := `base64 -d > "$t"`
	if len(data) == 0 {
		fill = `: > "$t"`
	}
	script := "p=" + shellquote.One(p) + "; d=" + shellquote.One(path.Dir(p)) + "; n=" + strconv.Itoa(len(data)) +
		`; [ -d "$p" ] && exit 3; mkdir -p "$d" 2>/dev/null || exit 4; t="$d/.sandagent-$$"; ` +
		fill + ` || { rm -f "$t"; exit 1; }; [ "$(($(wc -c < "$t")))" -eq "$n" ] || { rm -f "$t"; exit 5; }; mv -f "$t" "$p"`
	_, err := h.script(ctx, "write", p, script, base64.StdEncoding.EncodeToString(data), true)
	return err
}

// upload is a write in many pieces.
type upload struct {
	h     *handle
	p     string
	tmp   string // the temporary file, beside p
	inode string // the temporary file's inode, which the rename keeps
	sent  int64  // bytes in the temporary file
}

// run sends first, a full piece, then the rest of br.
func (u *upload) run(ctx context.Context, br *bufio.Reader, first []byte) error {
	if err := u.send(ctx, first, false); err != nil {
		return err
	}
	buf := first[:len(first):len(first)]
	for {
		n, err := io.ReadFull(br, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return err
		}
		last, err := drained(br, n < len(buf))
		if err != nil {
			return err
		}
		if err := u.send(ctx, buf[:n], last); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// Scripts of the pieces; each checks the temporary file's size ($n bytes
// once the piece is in).
const (
	checkSize = `[ "$(($(wc -c < "$t")))" -eq "$n" ] || { rm -f "$t"; exit 5; }; `
	// The first piece creates the temporary file and prints its inode.
	firstPiece = `[ -d "$p" ] && exit 3; mkdir -p "$(dirname "$t")" 2>/dev/null || exit 4; ` +
		`base64 -d > "$t" || { rm -f "$t"; exit 1; }; ` + checkSize + `stat -c %i "$t"`
	// A later piece appends unless the file already holds it (a retry of
	// a piece that went in), so that retrying one is safe.
	nextPiece = `[ -f "$t" ] || exit 5; [ "$(($(wc -c < "$t")))" -eq "$o" ] && { base64 -d >> "$t" || { rm -f "$t"; exit 1; }; }; ` + checkSize
	// The last piece renames the file into place; a retry of it finds the
	// file gone and the target bearing its inode.
	lastPiece = `[ -e "$t" ] || { [ "$(stat -c %i "$p" 2>/dev/null)" = "$i" ] && exit 0; exit 5; }; ` + nextPiece +
		`[ -d "$p" ] && { rm -f "$t"; exit 3; }; mv -f "$t" "$p"`
)

// send writes one piece.
func (u *upload) send(ctx context.Context, data []byte, last bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := u.sent + int64(len(data))
	vars := "p=" + shellquote.One(u.p) + "; t=" + shellquote.One(u.tmp) + "; i=" + shellquote.One(u.inode) +
		"; o=" + strconv.FormatInt(u.sent, 10) + "; n=" + strconv.FormatInt(n, 10) + "; "
	script := nextPiece
	switch {
	case u.sent == 0:
		script = firstPiece
	case last:
		script = lastPiece
	}
	out, err := u.h.script(ctx, "write", u.p, vars+script, base64.StdEncoding.EncodeToString(data), true)
	if err != nil {
		return err
	}
	if u.sent == 0 {
		u.inode = strings.TrimSpace(out)
		if _, err := strconv.ParseUint(u.inode, 10, 64); err != nil {
			return fmt.Errorf("%s: malformed inode %q from the sandbox", u.p, u.inode)
		}
	}
	u.sent = n
	return nil
}

// abort removes the temporary file of a failed upload, even after ctx has
// ended.
func (u *upload) abort(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killGrace)
	defer cancel()
	_, _ = u.h.script(ctx, "write", u.p, "rm -f "+shellquote.One(u.tmp), "", true)
}
