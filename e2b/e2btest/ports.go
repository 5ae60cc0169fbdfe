package e2btest

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
)

// portHost is a port's public host: "<port>-<sandbox id>.<domain>".
var portHost = regexp.MustCompile(`^([0-9]+)-([A-Za-z0-9_-]+)\.`)

// routeByHost sets the routing headers of a request whose Host is a port's
// public host, as E2B's proxy routes it, and reports whether it did.
// Routing headers already present win.
func routeByHost(r *http.Request) bool {
	m := portHost.FindStringSubmatch(r.Host)
	if m == nil || r.Header.Get(headerSandboxID) != "" || r.Header.Get(headerSandboxPort) != "" {
		return false
	}
	r.Header.Set(headerSandboxID, m[2])
	r.Header.Set(headerSandboxPort, m[1])
	return true
}

// servePort forwards a request for a port other than envd's to the server
// listening on that port in the sandbox (its processes share this
// machine's loopback), websockets included. When no process of the
// sandbox listens there the answer is the proxy's 502, whatever else on
// this machine does.
func (s *Server) servePort(w http.ResponseWriter, r *http.Request, sb *sandbox, port uint64) {
	notOpen := func(w http.ResponseWriter) {
		writeJSON(w, http.StatusBadGateway, proxyError{SandboxID: sb.id, Message: "The sandbox is running but port is not open", Port: port, Code: http.StatusBadGateway})
	}
	if port > 65535 || !sb.eng.ListensOn(int(port)) {
		notOpen(w)
		return
	}
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.FormatUint(port, 10)}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			for _, h := range []string{headerSandboxID, headerSandboxPort, "E2b-Traffic-Access-Token"} {
				pr.Out.Header.Del(h)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { notOpen(w) },
	}
	rp.ServeHTTP(w, r)
}
