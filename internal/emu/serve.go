package emu

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/sandagent/sandagent/internal/engine"
)

// Engine opens the engine an emulator runs its sandboxes on: in dir, or,
// when dir is "", in a new temporary directory that cleanup removes.
func Engine(dir, name string) (eng *engine.Engine, root string, cleanup func(), err error) {
	cleanup = func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", name+"-"); err != nil {
			return nil, "", nil, fmt.Errorf("%s: %w", name, err)
		}
		tmp := dir
		cleanup = func() { _ = os.RemoveAll(tmp) }
	}
	if eng, err = engine.Open(dir); err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("%s: %w", name, err)
	}
	return eng, dir, cleanup, nil
}

// Serve starts h on addr (host:port), or on a free loopback port when addr
// is "". With h2c it also speaks HTTP/2 without TLS, as gRPC clients need.
func Serve(addr string, h http.Handler, h2c bool) (*httptest.Server, error) {
	srv := httptest.NewUnstartedServer(h)
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		_ = srv.Listener.Close()
		srv.Listener = l
	}
	if h2c {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = p
	}
	srv.Start()
	return srv, nil
}
