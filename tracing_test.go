//go:build unix

package sandagent_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/driver"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/local"
)

// recorder returns a TracerProvider that keeps every ended span.
func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	return tp, rec
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// named returns the ended spans called name.
func named(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// childrenOf returns the ended spans whose parent is parent.
func childrenOf(rec *tracetest.SpanRecorder, parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// attachSpan checks the one attach span, of a created sandbox, and returns
// it.
func attachSpan(t *testing.T, rec *tracetest.SpanRecorder, h *sandagent.Handle, requests int64) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := named(rec, "sandagent.attach")
	require.Len(t, spans, 1)
	a := attrs(spans[0])
	require.Equal(t, h.Provider(), a["sandagent.provider"].AsString())
	require.Equal(t, "created", a["sandagent.outcome"].AsString())
	require.Equal(t, h.ID(), a["sandagent.sandbox.id"].AsString())
	require.Equal(t, requests, a["sandagent.requests"].AsInt64())
	require.Equal(t, codes.Unset, spans[0].Status().Code)
	return spans[0]
}

func TestTracingLocal(t *testing.T) {
	tp, rec := recorder(t)
	sb, err := local.New(local.WithName("traced"), local.WithDir(t.TempDir()), local.WithTracerProvider(tp))
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	defer h.Destroy(t.Context())

	attachSpan(t, rec, h, 0) // local makes no HTTP request

	_, err = h.Exec(t.Context(), &sandagent.Cmd{Shell: "printf hello; printf err >&2; exit 4"})
	require.Error(t, err)
	spans := named(rec, "sandagent.exec")
	require.Len(t, spans, 1)
	a := attrs(spans[0])
	require.Equal(t, int64(4), a["process.exit.code"].AsInt64())
	require.Equal(t, int64(5), a["sandagent.stdout.bytes"].AsInt64())
	require.Equal(t, int64(3), a["sandagent.stderr.bytes"].AsInt64())
	require.Equal(t, h.ID(), a["sandagent.sandbox.id"].AsString())
	require.Equal(t, codes.Unset, spans[0].Status().Code, "a non-zero exit is the command's failure, not the operation's")

	require.NoError(t, h.WriteFile(t.Context(), "f.txt", []byte("x")))
	_, err = h.ReadFile(t.Context(), "missing.txt")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.NoError(t, h.Pause(t.Context()))
	for _, name := range []string{"sandagent.write", "sandagent.read", "sandagent.pause"} {
		require.Len(t, named(rec, name), 1, name)
	}
	read := named(rec, "sandagent.read")[0]
	require.Equal(t, codes.Error, read.Status().Code)
	require.Equal(t, "ErrNotFound", attrs(read)["error.type"].AsString())
	require.Len(t, read.Events(), 1, "the error is recorded")

	// A fork is traced as its parent.
	require.NoError(t, h.Stop(t.Context()))
	kids, err := h.Fork(t.Context(), 1)
	require.NoError(t, err)
	defer kids[0].Destroy(t.Context())
	_, err = kids[0].Stat(t.Context(), ".")
	require.NoError(t, err)
	stat := named(rec, "sandagent.stat")
	require.Len(t, stat, 1)
	require.Equal(t, kids[0].ID(), attrs(stat[0])["sandagent.sandbox.id"].AsString())
	require.Len(t, named(rec, "sandagent.fork"), 1)

	_, err = h.Exec(t.Context(), &sandagent.Cmd{})
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	spans = named(rec, "sandagent.exec")
	require.Len(t, spans, 2)
	require.Equal(t, "ErrInvalid", attrs(spans[1])["error.type"].AsString())
}

// TestTracingGlobal: without WithTracerProvider, the global provider is
// used, as it is when the span starts.
func TestTracingGlobal(t *testing.T) {
	sb, err := local.New(local.WithDir(t.TempDir()))
	require.NoError(t, err)
	tp, rec := recorder(t)
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	defer h.Destroy(t.Context())
	require.Len(t, named(rec, "sandagent.attach"), 1)
}

func TestTracingE2B(t *testing.T) {
	const key = "e2b_tracing_secret_key_0123456789"
	srv := e2btest.NewServer(e2btest.WithAPIKey(key))
	defer srv.Close()
	tp, rec := recorder(t)
	sb, err := e2b.New(e2b.WithName("traced"), e2b.WithAPIKey(key), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL), e2b.WithTracerProvider(tp))
	require.NoError(t, err)
	h, err := sb.Attach(t.Context())
	require.NoError(t, err)
	defer h.Destroy(t.Context())

	attach := attachSpan(t, rec, h, 3) // list, create, list
	reqs := childrenOf(rec, attach)
	require.Len(t, reqs, 3)
	for i, want := range []string{"GET", "POST", "GET"} {
		r := reqs[i]
		require.Equal(t, want, r.Name())
		require.Equal(t, trace.SpanKindClient, r.SpanKind())
		ra := attrs(r)
		require.Equal(t, "e2b", ra["sandagent.provider"].AsString())
		require.Equal(t, "127.0.0.1", ra["server.address"].AsString())
		require.Contains(t, ra["url.path"].AsString(), "/sandboxes")
		require.Less(t, ra["http.response.status_code"].AsInt64(), int64(300))
	}

	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "echo hi"})
	require.NoError(t, err)
	require.Equal(t, "hi\n", string(res.Stdout))
	exec := named(rec, "sandagent.exec")
	require.Len(t, exec, 1)
	require.Equal(t, int64(0), attrs(exec[0])["process.exit.code"].AsInt64())
	require.Equal(t, int64(3), attrs(exec[0])["sandagent.stdout.bytes"].AsInt64())
	require.NotEmpty(t, childrenOf(rec, exec[0]), "envd's requests are the exec's children")

	_, err = h.ReadFile(t.Context(), "missing.txt")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	read := named(rec, "sandagent.read")
	require.Len(t, read, 1)
	require.Equal(t, "ErrNotFound", attrs(read[0])["error.type"].AsString())
	reqs = childrenOf(rec, read[0])
	require.NotEmpty(t, reqs)
	require.Equal(t, codes.Error, reqs[len(reqs)-1].Status().Code)
	require.Equal(t, "404", attrs(reqs[len(reqs)-1])["error.type"].AsString())

	// A failed attach: the sentinel, and the request it made.
	bad, err := e2b.New(e2b.WithName("traced"), e2b.WithAPIKey("wrong_key_0123456789"), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL), e2b.WithTracerProvider(tp))
	require.NoError(t, err)
	_, err = bad.Attach(t.Context())
	require.ErrorIs(t, err, sandagent.ErrAuth)
	attach = named(rec, "sandagent.attach")[1]
	require.Equal(t, codes.Error, attach.Status().Code)
	require.Equal(t, "ErrAuth", attrs(attach)["error.type"].AsString())
	require.Equal(t, int64(1), attrs(attach)["sandagent.requests"].AsInt64())

	// No span holds the API key or the sandbox's access token.
	var token string
	var native e2b.Native
	if h.As(&native) {
		token = native.EnvdAccessToken
	}
	for _, s := range rec.Ended() {
		b, err := json.Marshal(tracetest.SpanStubFromReadOnlySpan(s))
		require.NoError(t, err)
		require.NotContains(t, string(b), key, s.Name())
		require.NotContains(t, string(b), "wrong_key_0123456789", s.Name())
		if token != "" {
			require.NotContains(t, string(b), token, s.Name())
		}
		require.False(t, strings.Contains(string(b), "signature="), s.Name())
	}
}

// slowStart is a driver whose commands never start before their ctx ends.
type slowStart struct{ driver.Handle }

func (slowStart) Start(ctx context.Context, _ *driver.Cmd) (driver.Process, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestTimeoutWhileStarting: a Cmd.Timeout that expires before the command
// started is ErrTimeout, like one that expires while it runs, and the
// error, in the span too, does not quote the command.
func TestTimeoutWhileStarting(t *testing.T) {
	tp, rec := recorder(t)
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)
	h := sandagent.NewHandle(slowStart{}, sandagent.Attachment{Provider: "fake", ID: "f-1", Workdir: "/work"})
	res, err := h.Exec(t.Context(), &sandagent.Cmd{Shell: "echo secret-token", Timeout: time.Millisecond})
	require.ErrorIs(t, err, sandagent.ErrTimeout)
	require.Equal(t, -1, res.ExitCode, "a timed-out command has a Result")
	require.Equal(t, "sandagent: fake: exec: command timed out after 1ms", err.Error())
	spans := named(rec, "sandagent.exec")
	require.Len(t, spans, 1)
	require.Equal(t, "ErrTimeout", attrs(spans[0])["error.type"].AsString())
	b, err := json.Marshal(tracetest.SpanStubFromReadOnlySpan(spans[0]))
	require.NoError(t, err)
	require.NotContains(t, string(b), "secret-token")
}
