//go:build unix

package sandbasetest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// The emulator speaks SandBase's REST API: create a sandbox, run a command
// in it, pause it and resume it.
func Example() {
	srv := sandbasetest.NewServer()
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	call := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.APIKey())
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}

	var sb struct{ SandboxID, Status string }
	fmt.Println(call("POST", "/sandboxes", `{"templateID":"base","metadata":{"sandagent.name":"demo"}}`, &sb), sb.Status)
	var res struct {
		Stdout   string
		ExitCode int
	}
	call("POST", "/sandboxes/"+sb.SandboxID+"/processes", `{"cmd":"sh","args":["-c","echo hello; exit 3"]}`, &res)
	fmt.Printf("%q %d\n", res.Stdout, res.ExitCode)
	fmt.Println(call("POST", "/sandboxes/"+sb.SandboxID+"/pause", "", nil))
	fmt.Println(call("POST", "/sandboxes/"+sb.SandboxID+"/connect", `{"timeout":300}`, &sb), sb.Status)
	fmt.Println(call("DELETE", "/sandboxes/"+sb.SandboxID, "", nil))
	// Output:
	// 201 running
	// "hello\n" 3
	// 204
	// 201 running
	// 204
}
