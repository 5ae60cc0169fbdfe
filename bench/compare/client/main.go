//go:build unix

// Command client is our side of the comparison in bench/compare: one run of
// one case, against the emulator the environment names, as a whole process
// (its wall time, CPU and memory are what the runner measures). It prints
// one JSON line: {"lost": N, "inner_ms": F}, inner_ms being the part of the
// case the row reports on its own (Daytona's warm execs).
//
//	client <case> <size>
//
// Cases: e2b-cold (attach by name, echo hi), e2b-stdout (size bytes of
// base64 on stdout), e2b-files (upload then download size bytes),
// e2b-concurrent (size concurrent execs on one handle), daytona-cold
// (attach by name, echo hi), daytona-warm (size execs one after another).
// E2B_API_KEY, E2B_API_URL, E2B_SANDBOX_URL, DAYTONA_API_KEY,
// DAYTONA_API_URL and BENCH_NAME (the sandbox's name) set the target.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/e2b"
)

type result struct {
	Lost    int64   `json:"lost"`
	InnerMS float64 `json:"inner_ms,omitempty"`
}

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: client <case> <size>")
	}
	size, err := strconv.Atoi(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := run(ctx, os.Args[1], size)
	if err != nil {
		log.Fatal(err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func attach(ctx context.Context, provider string) (*sandagent.Handle, error) {
	name := os.Getenv("BENCH_NAME")
	if provider == "daytona" {
		sb, err := daytona.New(daytona.WithName(name))
		if err != nil {
			return nil, err
		}
		return sb.Attach(ctx)
	}
	sb, err := e2b.New(e2b.WithName(name))
	if err != nil {
		return nil, err
	}
	return sb.Attach(ctx)
}

func run(ctx context.Context, c string, size int) (result, error) {
	var res result
	provider := "e2b"
	if c == "daytona-cold" || c == "daytona-warm" {
		provider = "daytona"
	}
	h, err := attach(ctx, provider)
	if err != nil {
		return res, err
	}
	defer h.Close()
	switch c {
	case "e2b-cold", "daytona-cold":
		out, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo hi"})
		if err != nil {
			return res, err
		}
		if string(out.Stdout) != "hi\n" {
			res.Lost = 1
		}
	case "daytona-warm":
		begin := time.Now()
		for i := range size {
			out, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo " + strconv.Itoa(i)})
			if err != nil {
				return res, err
			}
			if string(out.Stdout) != strconv.Itoa(i)+"\n" {
				res.Lost++
			}
		}
		res.InnerMS = float64(time.Since(begin).Microseconds()) / 1000 / float64(size)
	case "e2b-stdout":
		var n counter
		raw := size / 4 * 3
		_, err := h.Exec(ctx, &sandagent.Cmd{Shell: fmt.Sprintf("head -c %d /dev/urandom | base64 -w 0", raw), Stdout: &n})
		if err != nil {
			return res, err
		}
		if n.n.Load() != int64(size) {
			return res, fmt.Errorf("stdout: %d bytes, want %d", n.n.Load(), size)
		}
	case "e2b-files":
		if err := h.WriteFrom(ctx, "bench.bin", io.LimitReader(pattern{}, int64(size))); err != nil {
			return res, err
		}
		r, err := h.NewReader(ctx, "bench.bin")
		if err != nil {
			return res, err
		}
		n, err := io.Copy(io.Discard, r)
		_ = r.Close()
		if err != nil {
			return res, err
		}
		if n != int64(size) {
			return res, fmt.Errorf("download: %d bytes, want %d", n, size)
		}
	case "e2b-concurrent":
		var wg sync.WaitGroup
		var lost atomic.Int64
		errs := make(chan error, size)
		for i := range size {
			wg.Go(func() {
				out, err := h.Exec(ctx, &sandagent.Cmd{Shell: "echo " + strconv.Itoa(i)})
				if err != nil {
					errs <- err
					return
				}
				if string(out.Stdout) != strconv.Itoa(i)+"\n" {
					lost.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return res, err
		}
		res.Lost = lost.Load()
	default:
		return res, fmt.Errorf("unknown case %q", c)
	}
	return res, nil
}

type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// pattern is an endless stream of non-zero bytes.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}
