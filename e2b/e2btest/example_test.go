//go:build unix

package e2btest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
	"github.com/sandagent/sandagent/e2b/internal/envd/process/processconnect"
)

// headers routes envd requests to one sandbox, as E2B's SDKs do.
type headers struct{ id, token string }

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("E2b-Sandbox-Id", h.id)
	r.Header.Set("E2b-Sandbox-Port", "49983")
	r.Header.Set("X-Access-Token", h.token)
	return http.DefaultTransport.RoundTrip(r)
}

// Create a sandbox through the control plane, then run a command in it
// through envd, on the same emulator.
func Example() {
	s := e2btest.NewServer()
	defer s.Close()

	req, _ := http.NewRequest("POST", s.URL+"/sandboxes", strings.NewReader(`{"templateID":"base","timeout":300,"secure":true}`))
	req.Header.Set("X-API-Key", s.APIKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var sb struct{ SandboxID, EnvdAccessToken string }
	_ = json.NewDecoder(resp.Body).Decode(&sb)
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	client := &http.Client{Transport: headers{id: sb.SandboxID, token: sb.EnvdAccessToken}}
	pc := processconnect.NewProcessClient(client, s.URL, connect.WithProtoJSON())
	stream, err := pc.Start(context.Background(), connect.NewRequest(&process.StartRequest{
		Process: &process.ProcessConfig{Cmd: "/bin/bash", Args: []string{"-l", "-c", "echo hello from the sandbox"}},
	}))
	if err != nil {
		panic(err)
	}
	defer stream.Close()
	for stream.Receive() {
		ev := stream.Msg().GetEvent()
		if out := ev.GetData().GetStdout(); out != nil {
			fmt.Print(string(out))
		}
		if end := ev.GetEnd(); end != nil {
			fmt.Println(end.GetStatus())
		}
	}
	// Output:
	// 201
	// hello from the sandbox
	// exit status 0
}
