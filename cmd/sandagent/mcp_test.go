package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/e2b/e2btest"
)

// TestMCPStdio runs `sandagent mcp` as an agent's MCP client does: a
// subprocess spoken to over stdin and stdout.
func TestMCPStdio(t *testing.T) {
	srv := e2btest.NewServer()
	defer srv.Close()
	for provider, setup := range map[string]struct {
		url string
		env []string
	}{
		"local": {"local://mcp-cli?dir=" + t.TempDir(), nil},
		"e2b":   {"e2b://mcp-cli", []string{"E2B_API_URL=" + srv.URL, "E2B_SANDBOX_URL=" + srv.URL, "E2B_API_KEY=" + srv.APIKey()}},
	} {
		t.Run(provider, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "mcp", "--url", setup.url)
			cmd.Env = append(append(childEnv(), "SANDAGENT_TEST_BE_CLI=1"), setup.env...)
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(t.Context(), &mcp.CommandTransport{Command: cmd}, nil)
			require.NoError(t, err)
			require.Equal(t, "sandagent", cs.InitializeResult().ServerInfo.Name)
			callEveryTool(t, cs)
			require.NoError(t, cs.Close())
			require.Equal(t, 0, cmd.ProcessState.ExitCode(), "stdin closed: a normal end")

			// The server detached and left the sandbox running.
			out, errOut, code := cli(t, setup.env, "", "attach", "--url", setup.url)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "\treused\t")
			cli(t, setup.env, "", "kill", "--url", setup.url)
		})
	}
}

// TestMCPHTTP serves streamable HTTP until interrupted.
func TestMCPHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	url := "local://mcp-http?dir=" + t.TempDir()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"mcp", "--url", url, "--http", "127.0.0.1:0"}, nil, io.Discard, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "sandagent mcp: serving MCP on ")
	require.True(t, ok, line)
	go io.Copy(io.Discard, pr)

	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: addr}, nil)
	require.NoError(t, err)
	callEveryTool(t, cs)
	require.NoError(t, cs.Close())
	cancel()
	require.Equal(t, 0, <-code)
	cli(t, nil, "", "kill", "--url", url)
}

func TestMCPUsage(t *testing.T) {
	for _, args := range [][]string{
		{"mcp"},
		{"mcp", "--url", "local://x", "extra"},
		{"mcp", "--no-such-flag"},
	} {
		var stderr strings.Builder
		require.Equal(t, 2, run(t.Context(), args, nil, io.Discard, &stderr), args)
		require.NotEmpty(t, stderr.String())
	}
	var stderr strings.Builder
	require.Equal(t, 1, run(t.Context(), []string{"mcp", "--url", "nosuch://x"}, nil, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "unknown scheme")
}

// callEveryTool lists the tools and calls each one once.
func callEveryTool(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	tools, err := cs.ListTools(t.Context(), nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 8)
	call := func(tool string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
		require.NoError(t, err)
		require.False(t, res.IsError, "%s: %v", tool, res.Content)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &out))
		return out
	}
	call("write_file", map[string]any{"path": "dir/f.txt", "content": "data"})
	require.Equal(t, "data", call("read_file", map[string]any{"path": "dir/f.txt"})["content"])
	require.Equal(t, 4.0, call("stat", map[string]any{"path": "dir/f.txt"})["size"])
	require.Equal(t, 1.0, call("list_dir", map[string]any{"path": "dir"})["total"])
	out := call("exec", map[string]any{"command": "cat dir/f.txt; exit 5"})
	require.Equal(t, "data", out["stdout"])
	require.Equal(t, 5.0, out["exit_code"])
	call("remove", map[string]any{"path": "dir"})
	require.NotEmpty(t, call("url", map[string]any{"port": 8080})["url"])
	call("pause", nil)
	require.Equal(t, "back\n", call("exec", map[string]any{"command": "echo back"})["stdout"])
}
