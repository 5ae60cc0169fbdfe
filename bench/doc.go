// Package bench holds the benchmarks of every provider, run against the
// local engine and against each provider's emulator with a fixed latency
// injected per request (default 20 ms, to model a real network):
//
//	go test ./bench -run '^$' -bench . -benchmem -count 6 | tee new.txt
//	go test ./bench -run '^$' -bench . -args -latency=0
//
// Each benchmark reports, besides time and allocations, reqs/op (requests
// the emulator served per operation: the provider's round trips) and, for
// the 100 MiB transfers, MB/s and peak-heap-MiB. BENCHMARKS.md has the
// figures and what bounds each of them.
package bench
