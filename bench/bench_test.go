//go:build unix

package bench_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/local"
	"github.com/sandagent/sandagent/sandbase"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
	"github.com/sandagent/sandagent/sandock"
	"github.com/sandagent/sandagent/sandock/sandocktest"
)

var latency = flag.Duration("latency", 20*time.Millisecond, "latency the emulators add to every request")

// target is one provider, on the local engine or behind its emulator.
type target struct {
	name     string
	requests *emu.Counter // nil for local: no requests
	// sandbox configures attach by name, by id, or (both "") a new one.
	sandbox func(b *testing.B, name, id string) sandagent.Sandbox
	named   bool // attach by name is the provider's reuse rule
	pause   bool
}

// must returns v, or panics with err: setup failures end the benchmark.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// targets starts every emulator (closed when b ends) with the latency set.
func targets(b *testing.B) []target {
	dir := b.TempDir()
	ts := []target{{
		name: "local", named: true, pause: true,
		sandbox: func(b *testing.B, name, id string) sandagent.Sandbox {
			opts := []local.Option{local.WithDir(dir)}
			if name != "" {
				opts = append(opts, local.WithName(name))
			}
			if id != "" {
				opts = append(opts, local.WithID(id))
			}
			return must(local.New(opts...))
		},
	}}

	es := e2btest.NewServer()
	b.Cleanup(es.Close)
	es.Faults.SetLatency(*latency)
	ts = append(ts, target{
		name: "e2b", requests: es.Requests, named: true, pause: true,
		sandbox: func(b *testing.B, name, id string) sandagent.Sandbox {
			opts := []e2b.Option{e2b.WithAPIURL(es.URL), e2b.WithSandboxURL(es.URL), e2b.WithAPIKey(es.APIKey())}
			if name != "" {
				opts = append(opts, e2b.WithName(name))
			}
			if id != "" {
				opts = append(opts, e2b.WithID(id))
			}
			return must(e2b.New(opts...))
		},
	})

	bs := sandbasetest.NewServer()
	b.Cleanup(bs.Close)
	bs.Faults.SetLatency(*latency)
	ts = append(ts, target{
		name: "sandbase", requests: bs.Requests, named: true, pause: true,
		sandbox: func(b *testing.B, name, id string) sandagent.Sandbox {
			opts := []sandbase.Option{sandbase.WithAPIURL(bs.URL), sandbase.WithSandboxURL(bs.URL), sandbase.WithTemplate("base"), sandbase.WithAPIKey(bs.APIKey())}
			if name != "" {
				opts = append(opts, sandbase.WithName(name))
			}
			if id != "" {
				opts = append(opts, sandbase.WithID(id))
			}
			return must(sandbase.New(opts...))
		},
	})

	ss := sandocktest.NewServer(sandocktest.WithVolumeDelay(0))
	b.Cleanup(ss.Close)
	ss.Faults.SetLatency(*latency)
	ts = append(ts, target{
		name: "sandock", requests: ss.Requests,
		sandbox: func(b *testing.B, _, id string) sandagent.Sandbox {
			opts := []sandock.Option{sandock.WithBaseURL(ss.URL), sandock.WithAPIKey(ss.APIKey())}
			if id != "" {
				opts = append(opts, sandock.WithID(id))
			}
			return must(sandock.New(opts...))
		},
	})

	ds := daytonatest.NewServer()
	b.Cleanup(ds.Close)
	ds.Faults.SetLatency(*latency)
	ts = append(ts, target{
		name: "daytona", requests: ds.Requests, named: true,
		sandbox: func(b *testing.B, name, id string) sandagent.Sandbox {
			opts := []daytona.Option{daytona.WithAPIURL(ds.URL), daytona.WithAPIKey(ds.APIKey())}
			if name != "" {
				opts = append(opts, daytona.WithName(name))
			}
			if id != "" {
				opts = append(opts, daytona.WithID(id))
			}
			return must(daytona.New(opts...))
		},
	})
	return ts
}

// reqs reports the requests per operation served since the timer started.
type reqs struct {
	c     *emu.Counter
	start int
}

func countReqs(b *testing.B, c *emu.Counter) *reqs {
	r := &reqs{c: c}
	if c != nil {
		r.start = c.Total()
	}
	return r
}

func (r *reqs) report(b *testing.B, ops int) {
	if r.c != nil && ops > 0 {
		b.ReportMetric(float64(r.c.Total()-r.start)/float64(ops), "reqs/op")
	}
}

var seq atomic.Int64

func name(prefix string) string { return prefix + "-" + strconv.FormatInt(seq.Add(1), 36) }

func attach(b *testing.B, sb sandagent.Sandbox) *sandagent.Handle {
	b.Helper()
	h := must(sb.Attach(context.Background()))
	b.Cleanup(func() { _ = h.Destroy(context.Background()) })
	return h
}

func BenchmarkAttach(b *testing.B) {
	ctx := context.Background()
	for _, tg := range targets(b) {
		b.Run(tg.name+"/create", func(b *testing.B) {
			var made []*sandagent.Handle
			r := countReqs(b, tg.requests)
			for b.Loop() {
				made = append(made, must(tg.sandbox(b, name("create"), "").Attach(ctx)))
			}
			r.report(b, len(made))
			b.StopTimer()
			for _, h := range made {
				_ = h.Destroy(ctx)
			}
		})
		b.Run(tg.name+"/reuse", func(b *testing.B) {
			n := name("reuse")
			first := attach(b, tg.sandbox(b, n, ""))
			sb := tg.sandbox(b, "", first.ID()) // the reuse rule: by id, or by name
			if tg.named {
				sb = tg.sandbox(b, n, "")
			}
			ops := 0
			r := countReqs(b, tg.requests)
			for b.Loop() {
				if h := must(sb.Attach(ctx)); h.Outcome() != sandagent.Reused {
					b.Fatal(h.Outcome())
				}
				ops++
			}
			r.report(b, ops)
		})
		if !tg.pause {
			continue
		}
		b.Run(tg.name+"/resume", func(b *testing.B) {
			h := attach(b, tg.sandbox(b, name("resume"), ""))
			sb := tg.sandbox(b, "", h.ID())
			ops := 0
			r := countReqs(b, tg.requests)
			for b.Loop() {
				b.StopTimer()
				if err := h.Pause(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if h = must(sb.Attach(ctx)); h.Outcome() != sandagent.Resumed {
					b.Fatal(h.Outcome())
				}
				ops++
			}
			r.report(b, ops) // includes the (untimed) pause requests
		})
	}
}

func BenchmarkExec(b *testing.B) {
	ctx := context.Background()
	for _, tg := range targets(b) {
		b.Run(tg.name, func(b *testing.B) {
			h := attach(b, tg.sandbox(b, "", ""))
			cmd := &sandagent.Cmd{Args: []string{"true"}}
			ops := 0
			r := countReqs(b, tg.requests)
			for b.Loop() {
				must(h.Exec(ctx, cmd))
				ops++
			}
			r.report(b, ops)
		})
	}
}

// peakHeap samples the heap in use until stop is called, and reports the
// peak in MiB.
func peakHeap(b *testing.B) (stop func()) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	}
}

const hundredMiB = 100 << 20

func BenchmarkStdout100MiB(b *testing.B) {
	ctx := context.Background()
	for _, tg := range targets(b) {
		b.Run(tg.name, func(b *testing.B) {
			h := attach(b, tg.sandbox(b, "", ""))
			// Lines of 100 bytes, as programs print: line-based wires
			// (Daytona's labelled log) stream them as they come.
			cmd := &sandagent.Cmd{Shell: fmt.Sprintf("yes %s | head -c %d", strings.Repeat("x", 99), hundredMiB), Stdout: io.Discard}
			b.SetBytes(hundredMiB)
			runtime.GC()
			stop := peakHeap(b)
			for b.Loop() {
				must(h.Exec(ctx, cmd))
			}
			stop()
		})
	}
}

// zeros is a reader of n bytes that allocates nothing.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.n)
	clear(p[:n])
	z.n -= n
	return int(n), nil
}

func BenchmarkUpload100MiB(b *testing.B) {
	ctx := context.Background()
	for _, tg := range targets(b) {
		b.Run(tg.name, func(b *testing.B) {
			h := attach(b, tg.sandbox(b, "", ""))
			b.SetBytes(hundredMiB)
			runtime.GC()
			stop := peakHeap(b)
			for b.Loop() {
				if err := h.WriteFrom(ctx, "big.bin", &zeros{hundredMiB}); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}

func BenchmarkDownload100MiB(b *testing.B) {
	ctx := context.Background()
	for _, tg := range targets(b) {
		b.Run(tg.name, func(b *testing.B) {
			h := attach(b, tg.sandbox(b, "", ""))
			if err := h.WriteFrom(ctx, "big.bin", &zeros{hundredMiB}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(hundredMiB)
			runtime.GC()
			stop := peakHeap(b)
			for b.Loop() {
				r := must(h.NewReader(ctx, "big.bin"))
				n, err := io.Copy(io.Discard, r)
				r.Close()
				if err != nil || n != hundredMiB {
					b.Fatal(n, err)
				}
			}
			stop()
		})
	}
}

// BenchmarkConcurrentExec runs 1,000 commands at once, on one handle and
// spread over 100 handles: one op is the whole batch.
func BenchmarkConcurrentExec(b *testing.B) {
	ctx := context.Background()
	for _, tg := range targets(b) {
		for _, handles := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/1000-on-%d", tg.name, handles), func(b *testing.B) {
				hs := make([]*sandagent.Handle, handles)
				for i := range hs {
					hs[i] = attach(b, tg.sandbox(b, "", ""))
				}
				cmd := &sandagent.Cmd{Args: []string{"true"}}
				ops := 0
				r := countReqs(b, tg.requests)
				for b.Loop() {
					var wg sync.WaitGroup
					errs := make(chan error, 1000)
					for i := range 1000 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if _, err := hs[i%handles].Exec(ctx, cmd); err != nil {
								errs <- err
							}
						}()
					}
					wg.Wait()
					close(errs)
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
					ops++
				}
				r.report(b, ops)
			})
		}
	}
}
