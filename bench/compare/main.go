//go:build unix

// Command compare measures our Go clients against the official SDKs (E2B's
// JS SDK, Daytona's TypeScript SDK, pinned in js/package.json) on the same
// emulators, in this process, with latency injected where a row says so.
// Each run is a whole client process, ours (client/, built once) and the
// official one (js/, installed once with npm into the user cache
// directory) taking turns; the table shows the medians of their wall time,
// CPU time (user and system) and peak RSS, and the ratios ours / official.
//
//	go run ./bench/compare            # every row, 10 runs each
//	go run ./bench/compare -runs 3 -rows e2b-stdout,e2b-cold
//	go run ./bench/compare -short     # tiny sizes, one run: CI's check
//
// Without node or npm the official column is left empty (CI=true makes it an
// error). It is not a test: `go test ./...` does not run it.
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sandagent/sandagent/daytona"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/e2b"
	"github.com/sandagent/sandagent/e2b/e2btest"
)

// row is one line of the table: a case both clients run.
type row struct {
	key     string // the case, as client/ and js/ name it
	work    string
	size    int // the case's size (bytes, execs); short: shortSize
	short   int
	latency time.Duration // per request, injected into the emulator
	perExec bool          // report the client's inner_ms (per exec), not the process's wall
	goal    string
}

var rows = []row{
	{key: "e2b-cold", work: "E2B cold start (list, connect, `echo hi`), no latency", goal: "—"},
	{key: "e2b-cold", work: "same, 20 ms per request", latency: 20 * time.Millisecond, goal: "ours ≤ 3 × 20 ms + 10 ms"},
	{key: "e2b-stdout", work: "E2B 100 MiB of base64 stdout", size: 100 << 20, short: 1 << 20, goal: "wall ≤ 0.25, CPU ≤ 0.12, RSS ≤ 48 MiB"},
	{key: "e2b-files", work: "E2B 100 MiB upload then download", size: 100 << 20, short: 1 << 20, goal: "—"},
	{key: "daytona-warm", work: "Daytona, 20 warm execs at 20 ms (per exec)", size: 20, short: 3, latency: 20 * time.Millisecond, perExec: true, goal: "ratio ≤ 1"},
	{key: "daytona-cold", work: "Daytona cold start at 20 ms", latency: 20 * time.Millisecond, goal: "—"},
	{key: "e2b-concurrent", work: "1,000 concurrent execs on one E2B handle", size: 1000, short: 50, goal: "0 lost, wall ≤ 0.7"},
}

// sample is one run of one client.
type sample struct {
	wall, cpu time.Duration
	rss       int64 // bytes
	lost      int64
	inner     float64 // ms
	reqs      int     // requests the emulators served
}

func main() {
	short := flag.Bool("short", false, "tiny sizes and one run: a check that the harness works")
	runs := flag.Int("runs", 10, "runs of each client per row")
	only := flag.String("rows", "", "comma-separated cases to run (default: all)")
	flag.Parse()
	if *short {
		*runs = 1
	}
	log.SetFlags(0)
	ctx := context.Background()

	dir, err := pkgDir()
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "sandagent-compare-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ours := filepath.Join(tmp, "client")
	build := exec.Command("go", "build", "-o", ours, "./client")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		log.Fatalf("building the client: %v\n%s", err, out)
	}
	cmdDir := dir
	nodeModules, why := installSDKs(ctx, filepath.Join(dir, "js", "package.json"))
	if nodeModules == "" {
		if os.Getenv("CI") == "true" {
			log.Fatalf("the official SDKs: %s", why)
		}
		fmt.Printf("official SDKs skipped: %s\n\n", why)
	}

	e2bSrv := e2btest.NewServer()
	defer e2bSrv.Close()
	dSrv := daytonatest.NewServer()
	defer dSrv.Close()
	const name = "bench"
	env := append(os.Environ(),
		"BENCH_NAME="+name,
		"E2B_API_KEY="+e2bSrv.APIKey(), "E2B_API_URL="+e2bSrv.URL, "E2B_SANDBOX_URL="+e2bSrv.URL, "E2B_DEBUG=false",
		"DAYTONA_API_KEY="+dSrv.APIKey(), "DAYTONA_API_URL="+dSrv.URL, "DAYTONA_TARGET=", "DAYTONA_ORGANIZATION_ID=",
		"NODE_PATH="+nodeModules,
	)
	if err := createSandboxes(ctx, name, e2bSrv, dSrv); err != nil {
		log.Fatal(err)
	}

	fmt.Printf("%d run(s) of each client per row, medians; ratio = ours / official. Go client: %s; official: %s\n\n",
		*runs, "bench/compare/client", "bench/compare/js (e2b 2.50.0, @daytonaio/sdk 0.190.1)")
	if *short {
		fmt.Print("Short mode: 1 MiB instead of 100 MiB, 50 concurrent execs instead of 1,000, 3 warm execs instead of 20.\n\n")
	}
	fmt.Println("| work | ours: wall, CPU, peak RSS | official: wall, CPU, peak RSS | wall ratio | CPU ratio | requests (ours, official) | lost (ours, official) | goal |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), r.key) {
			continue
		}
		size := r.size
		if *short && r.short > 0 {
			size = r.short
		}
		e2bSrv.Faults.SetLatency(r.latency)
		dSrv.Faults.SetLatency(r.latency)
		script := "e2b.cjs"
		if strings.HasPrefix(r.key, "daytona") {
			script = "daytona.cjs"
		}
		var us, them []sample
		count := func(s sample) sample {
			s.reqs = e2bSrv.Requests.Total() + dSrv.Requests.Total()
			e2bSrv.Requests.Reset()
			dSrv.Requests.Reset()
			return s
		}
		count(sample{})
		for i := range *runs {
			clients := []func() error{
				func() error {
					s, err := measure(ctx, cmdDir, env, ours, r.key, fmt.Sprint(size))
					us = append(us, count(s))
					return err
				},
			}
			if nodeModules != "" {
				clients = append(clients, func() error {
					s, err := measure(ctx, cmdDir, env, "node", filepath.Join(dir, "js", script), r.key, fmt.Sprint(size))
					them = append(them, count(s))
					return err
				})
			}
			if i%2 == 1 { // take turns at going first
				slices.Reverse(clients)
			}
			for _, c := range clients {
				if err := c(); err != nil {
					log.Fatalf("%s: %v", r.work, err)
				}
			}
		}
		e2bSrv.Faults.SetLatency(0)
		dSrv.Faults.SetLatency(0)
		fmt.Println(line(r, median(us), median(them), len(them) > 0))
	}
}

// line formats one row of the table.
func line(r row, us, them sample, official bool) string {
	show := func(s sample) string {
		if r.perExec {
			return fmt.Sprintf("%.1f ms per exec, %.0f MiB", s.inner, mib(s.rss))
		}
		return fmt.Sprintf("%s, %s, %.0f MiB", ms(s.wall), ms(s.cpu), mib(s.rss))
	}
	theirs, wall, cpu, lost, reqs := "—", "—", "—", fmt.Sprint(us.lost), fmt.Sprint(us.reqs)
	if official {
		theirs = show(them)
		lost += fmt.Sprintf(", %d", them.lost)
		reqs += fmt.Sprintf(", %d", them.reqs)
		if r.perExec {
			wall = fmt.Sprintf("%.2f", us.inner/them.inner)
		} else {
			wall = fmt.Sprintf("%.3f", us.wall.Seconds()/them.wall.Seconds())
			cpu = fmt.Sprintf("%.3f", us.cpu.Seconds()/them.cpu.Seconds())
		}
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", r.work, show(us), theirs, wall, cpu, reqs, lost, r.goal)
}

func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// measure runs one client process and returns what it cost and reported.
func measure(ctx context.Context, dir string, env []string, name string, args ...string) (sample, error) {
	var s sample
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	s.wall = time.Since(begin)
	if err != nil {
		return s, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		s.rss = ru.Maxrss << 10 // KiB on Linux
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var out struct {
		Lost    int64   `json:"lost"`
		InnerMS float64 `json:"inner_ms"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		return s, fmt.Errorf("%s: output %q: %v", name, stdout.String(), err)
	}
	s.lost, s.inner = out.Lost, out.InnerMS
	return s, nil
}

// median takes each measure's median on its own.
func median(ss []sample) sample {
	if len(ss) == 0 {
		return sample{}
	}
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		wall:  time.Duration(pick(func(s sample) float64 { return float64(s.wall) })),
		cpu:   time.Duration(pick(func(s sample) float64 { return float64(s.cpu) })),
		rss:   int64(pick(func(s sample) float64 { return float64(s.rss) })),
		lost:  int64(pick(func(s sample) float64 { return float64(s.lost) })),
		inner: pick(func(s sample) float64 { return s.inner }),
		reqs:  int(pick(func(s sample) float64 { return float64(s.reqs) })),
	}
}

// createSandboxes makes the sandbox every client attaches to by name.
func createSandboxes(ctx context.Context, name string, e2bSrv *e2btest.Server, dSrv *daytonatest.Server) error {
	es, err := e2b.New(e2b.WithName(name), e2b.WithAPIKey(e2bSrv.APIKey()), e2b.WithAPIURL(e2bSrv.URL), e2b.WithSandboxURL(e2bSrv.URL), e2b.WithTimeout(time.Hour))
	if err != nil {
		return err
	}
	h, err := es.Attach(ctx)
	if err != nil {
		return fmt.Errorf("e2b sandbox: %w", err)
	}
	_ = h.Close()
	ds, err := daytona.New(daytona.WithName(name), daytona.WithAPIKey(dSrv.APIKey()), daytona.WithAPIURL(dSrv.URL))
	if err != nil {
		return err
	}
	h, err = ds.Attach(ctx)
	if err != nil {
		return fmt.Errorf("daytona sandbox: %w", err)
	}
	return h.Close()
}

// pkgDir is the directory of this package's source.
func pkgDir() (string, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/sandagent/sandagent/bench/compare").Output()
	if err != nil {
		return "", fmt.Errorf("locating bench/compare (run from the module): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// installSDKs installs the packages of packageJSON, once per version of it,
// under the user cache directory, and returns their node_modules; or "" and
// why not.
func installSDKs(ctx context.Context, packageJSON string) (string, string) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", tool + " is not on PATH"
		}
	}
	pkg, err := os.ReadFile(packageJSON)
	if err != nil {
		return "", err.Error()
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err.Error()
	}
	sum := sha256.Sum256(pkg)
	root := filepath.Join(cache, "sandagent-bench")
	dir := filepath.Join(root, "npm-"+hex.EncodeToString(sum[:6]))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "installed")); err == nil {
		return modules, ""
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err.Error()
	}
	tmp, err := os.MkdirTemp(root, ".install-")
	if err != nil {
		return "", err.Error()
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), pkg, 0o644); err != nil {
		return "", err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("npm install: %v: %s", err, cmp.Or(strings.TrimSpace(string(out)), "no output"))
	}
	if err := os.WriteFile(filepath.Join(tmp, "installed"), nil, 0o644); err != nil {
		return "", err.Error()
	}
	// Another run may have finished first: keep theirs.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, serr := os.Stat(filepath.Join(dir, "installed")); serr != nil {
			return "", err.Error()
		}
	}
	return modules, ""
}
