package sandock

import (
	"bufio"
	"bytes"
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

// File contents travel as base64 text: the fs endpoints carry strings
// (stored and read as UTF-8, which arbitrary bytes are not), and the shell
// endpoint's input is pasted into one command-line argument on Kubernetes,
// which Linux caps at 128 KiB.
const (
	// defaultPiece is how many bytes of a file one fs request carries: 3 MiB,
	// 4 MiB of base64.
	defaultPiece = 3 << 20
	// inlineWrite is the most content a write puts in its shell command line
	// (64 KiB of base64), well under the argument cap.
	inlineWrite = 48 << 10
)

// pieceSize is a multiple of 3, so that pieces encoded apart decode as
// one stream once put together.
func (h *handle) pieceSize() int {
	if h.piece > 0 {
		return max(3, h.piece-h.piece%3)
	}
	return defaultPiece
}

// tempName is a name for a transfer's temporary files in the workdir,
// hidden from ListDir.
func tempName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return ".sandagent-" + hex.EncodeToString(b[:])
}

// Open reads a file with one shell call, which checks the path and prints
// the file's size and then, for a file of at most one piece, its content in
// base64. A bigger file is encoded into a temporary directory of base64
// pieces in the workdir by that call, read one fs/read each as its consumer
// needs them, and removed with one DELETE at the end (or on Close). The
// content is the file as it was when the read began. A file of n bytes
// costs 1 request up to one piece, else 2 + ceil(4n/3 / piece) (base64
// lines included).
func (h *handle) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	piece := h.pieceSize()
	dir := tempName()
	out, err := h.script(ctx, "read", p, "p="+shellquote.One(p)+"; d="+shellquote.One(dir)+
		`; [ -d "$p" ] && st isdir; [ -e "$p" ] || st missing; n=$(wc -c <"$p") || st err; n=$((n)); `+
		`if [ "$n" -le `+strconv.Itoa(piece)+` ]; then echo "inline $n"; base64 <"$p" || st err; st ok; fi; `+
		`s=$d; rm -rf "$s" && mkdir "$s" && base64 <"$p" | split -a 6 -b `+strconv.Itoa(piece*4/3)+` - "$s/" || st err; `+
		`echo "pieces $n"; ls "$s" || st err; s=; st ok`, true) // a retry encodes into the same directory again
	if err != nil {
		return nil, err
	}
	head, rest, _ := strings.Cut(out, "\n")
	mode, sizeField, _ := strings.Cut(head, " ")
	size, err := strconv.ParseInt(sizeField, 10, 64)
	if err != nil || (mode != "inline" && mode != "pieces") {
		return nil, fmt.Errorf("%s: malformed read header %q from the sandbox", p, head)
	}
	r := &pieceReader{ctx: ctx, h: h, p: p, size: size}
	if mode == "inline" {
		r.src = strings.NewReader(rest)
	} else {
		r.dir = dir
		r.names = strings.Fields(rest)
		r.src = &pieceSource{r: r}
	}
	r.dec = base64.NewDecoder(base64.StdEncoding, r.src)
	return r, nil
}

// pieceReader decodes a file's base64, inline or fetched piece by piece.
type pieceReader struct {
	ctx   context.Context // the ctx given to Open: it bounds every fetch
	h     *handle
	p     string
	size  int64    // the file's size when the read began
	dir   string   // the pieces' directory, "" once removed or when inline
	names []string // the pieces left to fetch
	src   io.Reader
	dec   io.Reader
	n     int64 // bytes decoded so far
	err   error // sticky
}

func (r *pieceReader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.dec.Read(b)
	r.n += int64(n)
	switch {
	case r.n > r.size:
		err = fmt.Errorf("%s: more content than its size %d", r.p, r.size)
	case errors.Is(err, io.EOF) && r.n != r.size:
		err = fmt.Errorf("%s: %d of %d bytes arrived", r.p, r.n, r.size)
	case err != nil && !errors.Is(err, io.EOF):
		err = wrap("read", err)
	}
	if err != nil {
		r.err = err
		r.cleanup()
	}
	return n, err
}

// cleanup removes the pieces' directory, once, even after ctx has ended.
func (r *pieceReader) cleanup() {
	if r.dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), killGrace)
	defer cancel()
	_ = r.h.api.removePath(ctx, r.h.id, r.dir)
	r.dir = ""
}

func (r *pieceReader) Close() error {
	r.cleanup()
	if r.err == nil {
		r.err = sandagent.Errorf(sandagent.ErrClosed, "%s: reader closed", r.p)
	}
	return nil
}

// pieceSource yields the base64 text of the pieces, fetching each when the
// one before is used up.
type pieceSource struct {
	r   *pieceReader
	cur *strings.Reader
}

func (s *pieceSource) Read(b []byte) (int, error) {
	for s.cur == nil || s.cur.Len() == 0 {
		r := s.r
		if len(r.names) == 0 {
			return 0, io.EOF
		}
		text, err := r.h.api.readFile(r.ctx, r.h.id, path.Join(r.dir, r.names[0]))
		if err != nil {
			return 0, err
		}
		if text == "" { // the service reads a file it cannot read as ""
			return 0, fmt.Errorf("piece %s of %s is missing", r.names[0], r.p)
		}
		r.names = r.names[1:]
		s.cur = strings.NewReader(text)
	}
	return s.cur.Read(b)
}

// Write writes content of up to inlineWrite bytes with one shell call
// that decodes it from its own command line. Bigger content goes as
// base64 pieces, one fs/write each, read from r one at a time, into a
// temporary directory in the workdir; one shell call then decodes them into
// a temporary file beside the target, checks its byte count, renames it
// over the target and removes the pieces. So the target is replaced whole
// or not at all, and content of n bytes costs 1 request up to inlineWrite,
// else ceil(n / piece) + 1 (one more, to remove the pieces, if the upload
// fails before the last call).
func (h *handle) Write(ctx context.Context, p string, r io.Reader) error {
	br := bufio.NewReader(r)
	buf, err := io.ReadAll(io.LimitReader(br, inlineWrite+1))
	if err != nil {
		return err
	}
	if len(buf) <= inlineWrite {
		fill := `printf %s ` + shellquote.One(base64.StdEncoding.EncodeToString(buf)) + ` | base64 -d`
		if len(buf) == 0 {
			fill = `:`
		}
		_, err := h.script(ctx, "write", p, decodeScript(p, "", fill, int64(len(buf))), true)
		return err
	}
	dir := tempName()
	n, err := h.sendPieces(ctx, dir, io.MultiReader(bytes.NewReader(buf), br))
	if err == nil {
		_, err = h.script(ctx, "write", p, decodeScript(p, dir, `cat "$s"/* | base64 -d`, n), false)
		if err == nil {
			return nil
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killGrace)
	defer cancel()
	_ = h.api.removePath(cctx, h.id, dir)
	return err
}

// sendPieces writes r's content as base64 pieces named 000000, 000001, …
// in dir, and returns the byte count.
func (h *handle) sendPieces(ctx context.Context, dir string, r io.Reader) (int64, error) {
	buf := make([]byte, h.pieceSize())
	var total int64
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf)
		if cerr := ctx.Err(); cerr != nil {
			return total, cerr
		}
		if n > 0 {
			name := path.Join(dir, fmt.Sprintf("%06d", i))
			if err := h.api.writeFile(ctx, h.id, name, base64.StdEncoding.EncodeToString(buf[:n])); err != nil {
				return total, err
			}
			total += int64(n)
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// decodeScript writes what fill prints into a temporary file beside p,
// checks that it holds n bytes and renames it over p. pieces, when set, is
// a directory the script removes however it ends.
func decodeScript(p, pieces, fill string, n int64) string {
	return "p=" + shellquote.One(p) + "; d=" + shellquote.One(path.Dir(p)) + "; s=" + shellquote.One(pieces) +
		"; n=" + strconv.FormatInt(n, 10) +
		`; [ -d "$p" ] && st isdir; mkdir -p "$d" 2>/dev/null || st notdir; t="$d/.sandagent-$$"; ` +
		`{ ` + fill + `; } > "$t" || { rm -f "$t"; st err; }; ` +
		`[ "$(($(wc -c < "$t")))" -eq "$n" ] || { rm -f "$t"; st short; }; mv -f "$t" "$p" || { rm -f "$t"; st err; }; st ok`
}
