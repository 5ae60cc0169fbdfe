package e2b

import (
	"context"
	"net/http"
	"strconv"

	"github.com/sandagent/sandagent/driver"
)

var _ driver.URLer = (*handle)(nil)

// URL returns the port's public host, https://<port>-<id>.<domain>, as the
// SDKs' getHost, with the sandbox's traffic access token
// (e2b-traffic-access-token) when it has one: a sandbox created with
// public traffic off. With a sandbox URL (WithSandboxURL, E2B_SANDBOX_URL)
// the port is reached there, by the proxy's routing headers
// (E2b-Sandbox-Id, E2b-Sandbox-Port), as envd is. It makes no request.
func (h *handle) URL(_ context.Context, port int) (driver.Endpoint, error) {
	header := http.Header{}
	if t := h.sb.TrafficAccessToken; t != nil && *t != "" {
		header.Set("E2b-Traffic-Access-Token", *t)
	}
	u := "https://" + host(port, h.sb.SandboxID, h.domain)
	if h.portsURL != "" {
		u = h.portsURL
		header.Set("E2b-Sandbox-Id", h.sb.SandboxID)
		header.Set("E2b-Sandbox-Port", strconv.Itoa(port))
	}
	if len(header) == 0 {
		header = nil
	}
	return driver.Endpoint{URL: u, Header: header}, nil
}
