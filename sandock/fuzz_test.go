package sandock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// FuzzReadEvents feeds the SSE parser arbitrary streams: it must end, never
// panic, and never report an exit the stream did not carry.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("data: {\"type\":\"stdout\",\"data\":\"hi\\n\"}\n\ndata: {\"type\":\"exit\",\"exitCode\":0}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": keep-alive\n\nevent: x\ndata:{\"type\":\"error\",\"message\":\"boom\"}\n"))
	f.Add([]byte("data: {\"type\":\"stdout\",\"data\":\"cut"))
	f.Add([]byte("data: [DONE]"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var out, errb bytes.Buffer
		end, _ := readEvents(bytes.NewReader(stream), &out, &errb)
		if end.exit != nil && !bytes.Contains(stream, []byte("exit")) {
			t.Fatalf("an exit from nowhere: %q", stream)
		}
	})
}

// FuzzEventsRoundTrip frames any output as the service does and checks the
// parser gives back exactly what was sent, split at any point.
func FuzzEventsRoundTrip(f *testing.F) {
	f.Add("hello\n", "warn\n", 3, 0)
	f.Add("", "", 0, 7)
	f.Add("data: [DONE]\n", "\r\n\x00", 1, 255)
	f.Fuzz(func(t *testing.T, stdout, stderr string, split, code int) {
		var b strings.Builder
		emit := func(v any) {
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "data: %s\n\n", j)
		}
		emit(map[string]any{"type": "stdout", "data": stdout})
		emit(map[string]any{"type": "stderr", "data": stderr})
		emit(map[string]any{"type": "exit", "exitCode": code})
		b.WriteString("data: [DONE]\n\n")
		var out, errb bytes.Buffer
		end, err := readEvents(io.MultiReader(strings.NewReader(b.String()[:clamp(split, b.Len())]), strings.NewReader(b.String()[clamp(split, b.Len()):])), &out, &errb)
		if err != nil || end.exit == nil || *end.exit.ExitCode != code {
			t.Fatalf("end %+v, err %v", end, err)
		}
		// JSON strings carry text: invalid UTF-8 becomes U+FFFD, as documented.
		if want := asJSONText(t, stdout); out.String() != want {
			t.Fatalf("stdout %q, want %q", out.String(), want)
		}
		if want := asJSONText(t, stderr); errb.String() != want {
			t.Fatalf("stderr %q, want %q", errb.String(), want)
		}
	})
}

// asJSONText is s as it comes out of a JSON string.
func asJSONText(t *testing.T, s string) string {
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func clamp(i, n int) int { return min(max(i, 0), n) }

// FuzzDecodeError must not panic on any body, and must never return the
// raw bytes of a body that is not the API's JSON.
func FuzzDecodeError(f *testing.F) {
	f.Add([]byte(`{"success":false,"code":404,"message":"Sandbox not found"}`))
	f.Add([]byte(`<html>bad gateway</html>`))
	f.Add([]byte(`{"code":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := decodeError(body)
		if msg != "" && !json.Valid(body) {
			t.Fatalf("a message %q from a body that is not JSON", msg)
		}
	})
}

// FuzzRecords cuts any stderr, with the wrapper's records put anywhere in
// it, into three writes at any points: the records come out, every other
// byte goes through, in order.
func FuzzRecords(f *testing.F) {
	f.Add("warn\n", 0, 3, 1, 5)
	f.Add("sandagent-", 4, 10, 2, 0)
	f.Add("", 0, 0, 0, 0)
	f.Add("a;b=c;sandagent-0123:", 1, 2, 3, 4)
	const tag = "sandagent-0123456789abcdef:"
	f.Fuzz(func(t *testing.T, text string, at1, at2, cut1, cut2 int) {
		if strings.Contains(text, tag[:len(tag)-1]) {
			t.Skip("the text holds the tag")
		}
		at1, at2 = clamp(at1, len(text)), clamp(at2, len(text))
		at1, at2 = min(at1, at2), max(at1, at2)
		in := text[:at1] + tag + "pid=42;" + text[at1:at2] + tag + "exit=3;" + text[at2:]
		cut1, cut2 = clamp(cut1, len(in)), clamp(cut2, len(in))
		cut1, cut2 = min(cut1, cut2), max(cut1, cut2)
		var out bytes.Buffer
		got := map[string]string{}
		r := &records{w: &out, tag: []byte(tag), set: func(k, v string) { got[k] = v }}
		for _, part := range []string{in[:cut1], in[cut1:cut2], in[cut2:]} {
			if _, err := r.Write([]byte(part)); err != nil {
				t.Fatal(err)
			}
		}
		r.flush()
		if out.String() != text {
			t.Fatalf("output %q, want %q", out.String(), text)
		}
		if got["pid"] != "42" || got["exit"] != "3" {
			t.Fatalf("records %v", got)
		}
	})
}
