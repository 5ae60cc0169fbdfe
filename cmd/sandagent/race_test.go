package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/internal/emu"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// createRequest is each provider's create request, as emu.Counter records it.
var createRequest = map[string]string{"e2b": "POST /v2/sandboxes", "sandbase": "POST /v2/sandboxes", "daytona": "POST /api/sandbox"}

// startEmulator starts provider's emulator in this process and returns the
// environment that points the command at it, and its faults and counter.
func startEmulator(t *testing.T, provider string) ([]string, *emu.Faults, *emu.Counter) {
	t.Helper()
	switch provider {
	case "e2b":
		s := e2btest.NewServer()
		t.Cleanup(s.Close)
		return []string{"E2B_API_URL=" + s.URL, "E2B_SANDBOX_URL=" + s.URL, "E2B_API_KEY=" + s.APIKey()}, s.Faults, s.Requests
	case "sandbase":
		s := sandbasetest.NewServer()
		t.Cleanup(s.Close)
		return []string{"SANDBASE_API_URL=" + s.URL, "SANDBASE_SANDBOX_URL=" + s.URL, "SANDBASE_TEMPLATE=base", "SANDBASE_API_KEY=" + s.APIKey()}, s.Faults, s.Requests
	case "daytona":
		s := daytonatest.NewServer()
		t.Cleanup(s.Close)
		return []string{"DAYTONA_API_URL=" + s.URL, "DAYTONA_API_KEY=" + s.APIKey()}, s.Faults, s.Requests
	}
	t.Fatalf("no emulator for %s", provider)
	return nil, nil, nil
}

// TestEightProcessesAttachOneName runs eight separate processes that attach
// the same name at once against one emulator: every provider that reuses
// by name must give them one sandbox, created once, and the losers of the
// create race must destroy theirs. Sandock is left out: it has no names,
// every Attach without an id creates a new sandbox. (local has its own
// cross-process test.)
func TestEightProcessesAttachOneName(t *testing.T) {
	for _, provider := range []string{"e2b", "sandbase", "daytona"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			env, faults, requests := startEmulator(t, provider)
			// Latency on every request widens the window between lookup
			// and create, so that the processes really race.
			faults.SetLatency(5 * time.Millisecond)
			url := provider + "://race"

			const n = 8
			outs := make([]map[string]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					out, errOut, code := cli(t, env, "", "attach", "--json", "--url", url)
					if code != 0 {
						t.Errorf("process %d: exit %d: %s", i, code, errOut)
						return
					}
					if err := json.Unmarshal([]byte(out), &outs[i]); err != nil {
						t.Errorf("process %d: %v: %q", i, err, out)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			created := 0
			for _, o := range outs {
				require.Equal(t, outs[0]["id"], o["id"], "one sandbox: %v", outs)
				if o["outcome"] == sandagent.Created.String() {
					created++
				}
			}
			require.Equal(t, 1, created, "one creator: %v", outs)

			// The provider's Manager sees one live sandbox by that name.
			creates := 0
			for _, r := range requests.Requests() {
				if r == createRequest[provider] {
					creates++
				}
			}
			t.Logf("%s: %d processes, %d create requests", provider, n, creates)
			out, errOut, code := cli(t, env, "", "ls", "--json", "--url", provider+"://")
			require.Equal(t, 0, code, errOut)
			var live []sandagent.Info
			for line := range strings.Lines(out) {
				var info sandagent.Info
				require.NoError(t, json.Unmarshal([]byte(line), &info))
				if info.Name == "race" && info.State != sandagent.StateDestroyed {
					live = append(live, info)
				}
			}
			require.Len(t, live, 1, "the losers destroyed what they created: %s", out)
			require.Equal(t, outs[0]["id"], live[0].ID)
		})
	}
}
