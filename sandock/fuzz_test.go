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
