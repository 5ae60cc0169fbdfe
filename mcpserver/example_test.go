//go:build unix

package mcpserver_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sandagent/sandagent/local"
	"github.com/sandagent/sandagent/mcpserver"
)

// An agent's MCP client runs a command in the sandbox. Here the client is
// in the same process; `sandagent mcp` serves the same tools over stdio.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mcpserver-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sb, err := local.New(local.WithName("example"), local.WithDir(dir))
	if err != nil {
		log.Fatal(err)
	}
	s := mcpserver.New(sb)
	defer s.Close() // detach: the sandbox lives on

	serverSide, clientSide := mcp.NewInMemoryTransports()
	ss, err := s.MCP().Connect(ctx, serverSide, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ss.Wait()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(ctx, clientSide, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "exec", Arguments: map[string]any{"command": "echo hello from the sandbox"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output: {"exit_code":0,"stderr":"","stdout":"hello from the sandbox\n"}
}
