//go:build unix

package e2b_test

import (
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/e2b"
)

const benchSize = 100 << 20

// heapPeak samples the heap in use until stop is called, and reports the
// highest value (client and in-process emulator together) as peak-heap-MiB.
func heapPeak(b *testing.B) (stop func()) {
	runtime.GC()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
}

func benchHandle(b *testing.B) *sandagent.Handle {
	srv := server(b)
	sb, err := e2b.New(opts(srv)...)
	require.NoError(b, err)
	h, err := sb.Attach(context.Background())
	require.NoError(b, err)
	b.Cleanup(func() { _ = h.Destroy(context.Background()) })
	return h
}

// BenchmarkExecStdout streams 100 MiB of stdout through Exec. The Result
// keeps the first sandagent.MaxOutput bytes; the rest only passes through.
func BenchmarkExecStdout(b *testing.B) {
	h := benchHandle(b)
	b.SetBytes(benchSize)
	stop := heapPeak(b)
	for b.Loop() {
		var n counter
		_, err := h.Exec(context.Background(), &sandagent.Cmd{Args: []string{"head", "-c", "104857600", "/dev/zero"}, Stdout: &n})
		require.NoError(b, err)
		require.Equal(b, int64(benchSize), n.n)
	}
	stop()
}

// BenchmarkUpload writes a 100 MiB file from a stream.
func BenchmarkUpload(b *testing.B) {
	h := benchHandle(b)
	b.SetBytes(benchSize)
	stop := heapPeak(b)
	for b.Loop() {
		require.NoError(b, h.WriteFrom(context.Background(), "big.bin", io.LimitReader(pattern{}, benchSize)))
	}
	stop()
}

// BenchmarkDownload reads a 100 MiB file as a stream.
func BenchmarkDownload(b *testing.B) {
	h := benchHandle(b)
	ctx := context.Background()
	require.NoError(b, h.WriteFrom(ctx, "big.bin", io.LimitReader(pattern{}, benchSize)))
	b.SetBytes(benchSize)
	stop := heapPeak(b)
	for b.Loop() {
		r, err := h.NewReader(ctx, "big.bin")
		require.NoError(b, err)
		n, err := io.Copy(io.Discard, r)
		require.NoError(b, err)
		require.NoError(b, r.Close())
		require.Equal(b, int64(benchSize), n)
	}
	stop()
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// pattern is an endless stream of non-zero bytes, made without allocating.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}
