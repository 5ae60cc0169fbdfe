//go:build unix

package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/local"
	"github.com/sandagent/sandagent/mcpserver"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// providers makes, for each provider under test, a configuration of the
// sandbox named name, the same on every call.
var providers = map[string]func(t *testing.T) func(name string) sandagent.Sandbox{
	"local": func(t *testing.T) func(string) sandagent.Sandbox {
		dir := t.TempDir()
		return func(name string) sandagent.Sandbox {
			sb, err := local.New(local.WithName(name), local.WithDir(dir))
			require.NoError(t, err)
			return sb
		}
	},
	"e2b": func(t *testing.T) func(string) sandagent.Sandbox {
		srv := e2btest.NewServer()
		t.Cleanup(srv.Close)
		return func(name string) sandagent.Sandbox {
			sb, err := e2b.New(e2b.WithName(name), e2b.WithAPIKey(srv.APIKey()), e2b.WithAPIURL(srv.URL), e2b.WithSandboxURL(srv.URL))
			require.NoError(t, err)
			return sb
		}
	},
}

// client connects an in-process client to s; progress notifications go to
// onProgress when it is not nil.
func client(t *testing.T, s *mcpserver.Server, onProgress func(*mcp.ProgressNotificationParams)) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.MCP().Connect(t.Context(), st, nil)
	require.NoError(t, err)
	var opts *mcp.ClientOptions
	if onProgress != nil {
		opts = &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			onProgress(r.Params)
		}}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, opts).Connect(t.Context(), ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

// call calls a tool and decodes its structured result into a map; it
// fails the test on a protocol error, and returns the text of a tool error.
func call(t *testing.T, cs *mcp.ClientSession, params *mcp.CallToolParams) (map[string]any, string) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), params)
	require.NoError(t, err, "a protocol error")
	if res.IsError {
		require.Len(t, res.Content, 1)
		return nil, res.Content[0].(*mcp.TextContent).Text
	}
	var out map[string]any
	raw, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &out))
	return out, ""
}

func ok(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) map[string]any {
	t.Helper()
	out, errText := call(t, cs, &mcp.CallToolParams{Name: tool, Arguments: args})
	require.Empty(t, errText, "%s %v", tool, args)
	return out
}

func toolError(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) string {
	t.Helper()
	_, errText := call(t, cs, &mcp.CallToolParams{Name: tool, Arguments: args})
	require.NotEmpty(t, errText, "%s %v should fail", tool, args)
	return errText
}

// TestPauseWithdrawn: a provider that cannot pause says so, and the tool
// is withdrawn.
func TestPauseWithdrawn(t *testing.T) {
	srv := sandocktest.NewServer()
	defer srv.Close()
	sb, err := sandock.New(sandock.WithBaseURL(srv.URL), sandock.WithAPIKey(srv.APIKey()))
	require.NoError(t, err)
	s := mcpserver.New(sb)
	defer s.Close()
	changed := make(chan struct{}, 1)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.MCP().Connect(t.Context(), st, nil)
	require.NoError(t, err)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	}).Connect(t.Context(), ct, nil)
	require.NoError(t, err)
	defer ss.Wait()
	defer cs.Close()

	require.Contains(t, toolError(t, cs, "pause", nil), "sandock does not support pause")
	<-changed
	tools, err := cs.ListTools(t.Context(), nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 7)
	for _, tool := range tools.Tools {
		require.NotEqual(t, "pause", tool.Name)
	}
}

func TestTools(t *testing.T) {
	for name, provider := range providers {
		t.Run(name, func(t *testing.T) {
			sandbox := provider(t)
			s := mcpserver.New(sandbox("mcp-tools"), mcpserver.WithMaxOutput(1000))
			progress := make(chan *mcp.ProgressNotificationParams, 100)
			cs := client(t, s, func(p *mcp.ProgressNotificationParams) { progress <- p })

			tools, err := cs.ListTools(t.Context(), nil)
			require.NoError(t, err)
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			require.ElementsMatch(t, []string{"exec", "read_file", "write_file", "list_dir", "stat", "remove", "url", "pause"}, names)

			// Files.
			require.Equal(t, 6.0, ok(t, cs, "write_file", map[string]any{"path": "notes/a.txt", "content": "héllo"})["bytes"])
			bin := []byte{0, 1, 0xff, 0xfe}
			ok(t, cs, "write_file", map[string]any{"path": "notes/b.bin", "content": base64.StdEncoding.EncodeToString(bin), "encoding": "base64"})
			out := ok(t, cs, "read_file", map[string]any{"path": "notes/a.txt"})
			require.Equal(t, "héllo", out["content"])
			require.Equal(t, "utf-8", out["encoding"])
			out = ok(t, cs, "read_file", map[string]any{"path": "notes/b.bin"})
			require.Equal(t, "base64", out["encoding"])
			require.Equal(t, base64.StdEncoding.EncodeToString(bin), out["content"])
			out = ok(t, cs, "stat", map[string]any{"path": "notes/a.txt"})
			require.Equal(t, "file", out["type"])
			require.Equal(t, 6.0, out["size"])
			require.True(t, strings.HasSuffix(out["path"].(string), "/notes/a.txt"), out["path"])
			out = ok(t, cs, "list_dir", map[string]any{"path": "notes"})
			require.Equal(t, 2.0, out["total"])
			require.Len(t, out["entries"], 2)
			require.Equal(t, "notes", ok(t, cs, "remove", map[string]any{"path": "notes"})["removed"])
			require.Contains(t, toolError(t, cs, "stat", map[string]any{"path": "notes"}), "not found")

			// Commands: cwd, env, exit status and streamed output.
			ok(t, cs, "write_file", map[string]any{"path": "sub/x", "content": ""})
			params := &mcp.CallToolParams{Name: "exec", Arguments: map[string]any{
				"command": `pwd; echo "$GREETING"; echo oops >&2; exit 3`, "cwd": "sub", "env": map[string]any{"GREETING": "hi there"},
			}}
			params.SetProgressToken("tok")
			out, errText := call(t, cs, params)
			require.Empty(t, errText)
			require.Equal(t, 3.0, out["exit_code"])
			require.True(t, strings.HasSuffix(out["stdout"].(string), "/sub\nhi there\n"), out["stdout"])
			require.Equal(t, "oops\n", out["stderr"])
			require.NotContains(t, out, "stdout_file")
			// The client handles notifications apart from results: they
			// may come after the result.
			wait, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var streamedOut, streamedErr strings.Builder
			for !strings.HasSuffix(streamedOut.String(), "/sub\nhi there\n") || streamedErr.String() != "oops\n" {
				select {
				case p := <-progress:
					require.Equal(t, "tok", p.ProgressToken)
					if msg, ok := strings.CutPrefix(p.Message, "stderr: "); ok {
						streamedErr.WriteString(msg)
					} else {
						streamedOut.WriteString(p.Message)
					}
				case <-wait.Done():
					t.Fatalf("progress so far: %q and %q", streamedOut.String(), streamedErr.String())
				}
			}

			out = ok(t, cs, "exec", map[string]any{"command": "sleep 30", "timeout": 0.2})
			require.Equal(t, true, out["timed_out"])
			require.Equal(t, -1.0, out["exit_code"])

			// Output too long for the result is written whole to a file.
			out = ok(t, cs, "exec", map[string]any{"command": `i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done; printf 'bad\377' >&2`})
			require.Equal(t, 0.0, out["exit_code"])
			require.Len(t, out["stdout"], 1000)
			var want strings.Builder
			for i := range 500 {
				want.WriteString("line " + strconv.Itoa(i) + "\n")
			}
			require.Contains(t, out["note"], fmt.Sprintf("stdout was %d bytes; the result holds the first 1000", want.Len()))
			require.Contains(t, out["note"], "stderr is not UTF-8")
			require.Equal(t, "bad\uFFFD", out["stderr"])
			require.Equal(t, want.String(), readAll(t, cs, out["stdout_file"].(string)))
			raw := ok(t, cs, "read_file", map[string]any{"path": out["stderr_file"]})
			require.Equal(t, base64.StdEncoding.EncodeToString([]byte("bad\377")), raw["content"])

			// Bad arguments are tool errors that say what is wrong.
			require.Contains(t, toolError(t, cs, "exec", map[string]any{}), "command")
			require.Contains(t, toolError(t, cs, "exec", map[string]any{"command": " "}), "command is empty")
			require.Contains(t, toolError(t, cs, "exec", map[string]any{"command": "true", "timeout": -1}), "timeout -1")
			require.Contains(t, toolError(t, cs, "exec", map[string]any{"command": 7}), "command")
			require.Contains(t, toolError(t, cs, "write_file", map[string]any{"path": "x", "content": "!!", "encoding": "base64"}), "not valid base64")
			require.Contains(t, toolError(t, cs, "write_file", map[string]any{"path": "x", "content": "", "encoding": "rot13"}), `encoding "rot13"`)
			require.Contains(t, toolError(t, cs, "read_file", map[string]any{"path": "missing.txt"}), "not found")
			require.Contains(t, toolError(t, cs, "read_file", map[string]any{"path": "sub/x", "offset": -1}), "offset -1")
			require.Contains(t, toolError(t, cs, "read_file", map[string]any{"path": ""}), "empty path")
			_, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "no_such_tool"})
			require.Error(t, err, "an unknown tool is a protocol error")

			// A port's URL.
			out = ok(t, cs, "url", map[string]any{"port": 8000})
			require.True(t, strings.HasPrefix(out["url"].(string), "http"), out["url"])
			require.Contains(t, toolError(t, cs, "url", map[string]any{"port": 0}), "port 0")

			// Pause, then the next call resumes the sandbox.
			out = ok(t, cs, "pause", nil)
			require.NotEmpty(t, out["paused"])
			require.Equal(t, "still here\n", ok(t, cs, "exec", map[string]any{"command": "echo still here"})["stdout"])

			// Close detaches: the sandbox lives on.
			require.NoError(t, s.Close())
			require.Contains(t, toolError(t, cs, "stat", map[string]any{"path": "."}), "closed")
			h, err := sandbox("mcp-tools").Attach(t.Context())
			require.NoError(t, err)
			require.Equal(t, sandagent.Reused, h.Outcome())
			require.NoError(t, h.Destroy(t.Context()))
		})
	}
}

// readAll reads a file whole with read_file, part by part.
func readAll(t *testing.T, cs *mcp.ClientSession, path string) string {
	t.Helper()
	var b bytes.Buffer
	for offset := 0.0; ; {
		out := ok(t, cs, "read_file", map[string]any{"path": path, "offset": offset})
		require.Equal(t, "utf-8", out["encoding"])
		b.WriteString(out["content"].(string))
		offset += out["bytes"].(float64)
		if out["more"] != true {
			return b.String()
		}
		require.Contains(t, out["note"], "offset")
	}
}
