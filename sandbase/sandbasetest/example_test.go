//go:build unix

package sandbasetest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// The emulator speaks E2B's control plane as SandBase serves it: create a
// sandbox, pause it, resume it by connecting (200, a new access token) and
// kill it.
func Example() {
	srv := sandbasetest.NewServer()
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	call := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", srv.APIKey())
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

	var sb struct{ SandboxID, EnvdAccessToken, State string }
	fmt.Println(call("POST", "/v2/sandboxes", `{"templateID":"base","timeout":300}`, &sb))
	first := sb.EnvdAccessToken
	fmt.Println(call("POST", "/sandboxes/"+sb.SandboxID+"/pause", "", nil))
	call("GET", "/sandboxes/"+sb.SandboxID, "", &sb)
	fmt.Println(sb.State)
	fmt.Println(call("POST", "/v2/sandboxes/"+sb.SandboxID+"/connect", `{"timeout":300}`, &sb), sb.EnvdAccessToken != first)
	fmt.Println(call("DELETE", "/sandboxes/"+sb.SandboxID, "", nil))
	fmt.Println(call("DELETE", "/sandboxes/"+sb.SandboxID, "", nil))
	// Output:
	// 201
	// 204
	// paused
	// 200 true
	// 204
	// 404
}
