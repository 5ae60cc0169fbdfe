package daytona

import (
	"encoding/json"
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
