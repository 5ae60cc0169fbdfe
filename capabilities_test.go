package sandagent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

func TestCapabilitiesUnsupported(t *testing.T) {
	h := newFake(&fake{})
	ctx := context.Background()
	_, urlErr := h.URL(ctx, 8000)
	_, ptyErr := h.StartPTY(ctx, &sandagent.Cmd{Shell: "sh"}, sandagent.TermSize{Rows: 24, Cols: 80})
	_, forkErr := h.Fork(ctx, 1)
	_, snapErr := h.Snapshot(ctx, "s")
	for name, err := range map[string]error{"url": urlErr, "pty": ptyErr, "fork": forkErr, "snapshot": snapErr} {
		require.ErrorIs(t, err, sandagent.ErrUnsupported, name)
		require.ErrorIs(t, err, errors.ErrUnsupported, name)
		require.Contains(t, err.Error(), "fake", name)
	}
}

func TestCapabilitiesRejectBadInput(t *testing.T) {
	h := newFake(&fake{})
	ctx := context.Background()
	size := sandagent.TermSize{Rows: 24, Cols: 80}
	for _, port := range []int{0, -1, 65536} {
		_, err := h.URL(ctx, port)
		require.ErrorIs(t, err, sandagent.ErrInvalid, "port %d", port)
	}
	for name, c := range map[string]*sandagent.Cmd{
		"nil":    nil,
		"empty":  {},
		"stdout": {Shell: "sh", Stdout: new(bytes.Buffer)},
		"stdin":  {Shell: "sh", Stdin: new(bytes.Buffer)},
	} {
		_, err := h.StartPTY(ctx, c, size)
		require.ErrorIs(t, err, sandagent.ErrInvalid, name)
		require.Contains(t, err.Error(), "fake: pty: ", name)
	}
	_, err := h.StartPTY(ctx, &sandagent.Cmd{Shell: "sh"}, sandagent.TermSize{Rows: 0, Cols: 80})
	require.ErrorIs(t, err, sandagent.ErrInvalid, "zero rows")
	_, err = h.Fork(ctx, 0)
	require.ErrorIs(t, err, sandagent.ErrInvalid)
	_, err = h.Snapshot(ctx, "a\x00b")
	require.ErrorIs(t, err, sandagent.ErrInvalid)
}

func TestEndpointHidesHeaderValues(t *testing.T) {
	e := sandagent.Endpoint{URL: "https://8000-sb.example.com", Header: http.Header{"X-Token": {"secret-token"}}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("preview", "endpoint", e)
	for _, s := range []string{e.String(), fmt.Sprint(e), fmt.Sprintf("%v", e), logged.String()} {
		require.NotContains(t, s, "secret-token")
		require.Contains(t, s, "X-Token")
	}
	req, err := e.NewRequest(context.Background(), http.MethodGet, "index.html", nil)
	require.NoError(t, err)
	require.Equal(t, "https://8000-sb.example.com/index.html", req.URL.String())
	require.Equal(t, "secret-token", req.Header.Get("X-Token"))
}
