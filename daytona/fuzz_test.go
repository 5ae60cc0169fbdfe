package daytona

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// FuzzDecodeMessage must not panic on any error body, and reads a message
// only from the API's JSON shapes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"statusCode":404,"message":"Sandbox not found","error":"Not Found"}`))
	f.Add([]byte(`{"statusCode":400,"message":["name must be a string","cpu must be positive"]}`))
	f.Add([]byte(`{"errors":["a","b"]}`))
	f.Add([]byte(`<html>502</html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if msg := decodeMessage(body); msg != "" && !json.Valid(body) {
			t.Fatalf("a message %q from a body that is not JSON", msg)
		}
	})
}

// FuzzDemux checks that any output, labelled line by line as the daemon
// does (a last unterminated line completed by the end marker), with the two
// streams' lines interleaved in any order and the log cut into messages
// anywhere, comes back byte for byte, with the exit status.
func FuzzDemux(f *testing.F) {
	f.Add([]byte("out\nlast"), []byte("err\n"), byte(3), []byte{1, 0, 1}, []byte{5, 1, 200})
	f.Add([]byte(""), []byte("\x01\x01\x01not a label\n\x02"), byte(0), []byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, code byte, order, cuts []byte) {
		const marker = "<<sandagent-end-0123456789ab>>"
		if bytes.Contains(stdout, []byte(marker)) || bytes.Contains(stderr, []byte(marker)) {
			t.Skip()
		}
		lines := func(s []byte, prefix []byte) [][]byte {
			var out [][]byte
			for _, l := range bytes.SplitAfter(s, []byte("\n")) {
				if len(l) > 0 {
					out = append(out, append(append([]byte{}, prefix...), l...))
				}
			}
			return out
		}
		o := lines(append(append([]byte{}, stdout...), fmt.Sprintf("%s%d\n", marker, code)...), stdoutPrefix)
		e := lines(append(append([]byte{}, stderr...), marker+"\n"...), stderrPrefix)
		var log []byte
		for i := 0; len(o) > 0 || len(e) > 0; i++ {
			if len(e) == 0 || len(o) > 0 && (i >= len(order) || order[i]%2 == 0) {
				log, o = append(log, o[0]...), o[1:]
			} else {
				log, e = append(log, e[0]...), e[1:]
			}
		}
		var gotOut, gotErr bytes.Buffer
		d := &demuxer{marker: []byte(marker), out: [2]io.Writer{&gotOut, &gotErr}}
		for i := 0; len(log) > 0; i++ {
			n := len(log)
			if i < len(cuts) {
				n = min(n, int(cuts[i])+1)
			}
			d.write(log[:n])
			log = log[n:]
		}
		d.flush()
		if !d.ended[0] || !d.ended[1] || d.code != int(code) {
			t.Fatalf("ended %v, code %d, want both and %d", d.ended, d.code, code)
		}
		if !bytes.Equal(gotOut.Bytes(), stdout) || !bytes.Equal(gotErr.Bytes(), stderr) {
			t.Fatalf("stdout %q stderr %q, want %q %q", gotOut.Bytes(), gotErr.Bytes(), stdout, stderr)
		}
	})
}
