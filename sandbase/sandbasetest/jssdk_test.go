//go:build unix

package sandbasetest_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/internal/nodetest"
	"github.com/sandagent/sandagent/sandbase/sandbasetest"
)

// sdkVersions are the official E2B JavaScript SDKs SandBase's quickstart
// flow runs with: 2.51.0, the one SandBase's quickstart names, and 2.50.0,
// the last to create and connect through E2B's v1 routes.
var sdkVersions = []string{"2.50.0", "2.51.0"}

// quickstart is SandBase's quickstart flow with the E2B SDK (create, a
// command, a file round trip, pause, connect resuming, setTimeout,
// getInfo, kill, kill by id), plus a background counter that must keep
// counting across the pause: memory is kept. It prints OK at the end.
const quickstart = `
const { Sandbox } = await import(process.env.E2B_MODULE_URL);
const check = (ok, what) => { if (!ok) throw new Error('check failed: ' + what); };

const sbx = await Sandbox.create('base', { timeoutMs: 120_000 });
const hello = await sbx.commands.run('echo hello from SandBase');
check(hello.exitCode === 0 && hello.stdout === 'hello from SandBase\n', 'commands.run: ' + JSON.stringify(hello));
await sbx.files.write('hello.txt', 'hello file');
check((await sbx.files.read('hello.txt')) === 'hello file', 'files.read');

await sbx.commands.run("nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i >> count.log; sleep 0.05; done' >/dev/null 2>&1 &");
const count = async (s, n) => Number((await s.commands.run(
  'while [ "$(wc -l < count.log 2>/dev/null || echo 0)" -lt ' + n + ' ]; do sleep 0.05; done; wc -l < count.log')).stdout.trim());
const before = await count(sbx, 3);

await sbx.pause();
check((await Sandbox.getInfo(sbx.sandboxId)).state === 'paused', 'getInfo: paused');
const resumed = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 120_000 });
check((await Sandbox.getInfo(sbx.sandboxId)).state === 'running', 'getInfo: running');
check((await resumed.files.read('hello.txt')) === 'hello file', 'file kept across pause');
const after = await count(resumed, before + 3);
const lines = (await resumed.files.read('count.log')).trim().split('\n');
check(after > before && lines.every((l, i) => l === String(i + 1)), 'the counter went on from memory: ' + before + ' then ' + after);

await resumed.setTimeout(300_000);
check((await resumed.isRunning()) === true, 'running after setTimeout');

const other = await Sandbox.create('base');
check((await Sandbox.kill(other.sandboxId)) === true, 'Sandbox.kill(id)');
await resumed.kill();
check((await Sandbox.kill(sbx.sandboxId)) === false, 'kill twice');
console.log('OK');
`

// TestOfficialE2BSDK runs SandBase's quickstart flow with the official
// E2B JavaScript SDK, at each of sdkVersions, against the emulator, set up
// as the quickstart sets it up (E2B_API_URL, E2B_DOMAIN and the key in
// E2B_API_KEY), with E2B_SANDBOX_URL for envd: the emulator serves envd on
// its own port. It needs node and npm (see package nodetest).
func TestOfficialE2BSDK(t *testing.T) {
	for _, version := range sdkVersions {
		t.Run("e2b@"+version, func(t *testing.T) {
			nodetest.Node(t)
			module := nodetest.Entry(nodetest.Install(t, "e2b", version), "e2b", "dist/index.mjs")
			srv := sandbasetest.NewServer() // a running clock, as the SDK's
			t.Cleanup(srv.Close)
			out := nodetest.Run(t, true, quickstart,
				"E2B_MODULE_URL="+nodetest.FileURL(module),
				"E2B_API_KEY="+srv.APIKey(),
				"E2B_API_URL="+srv.URL,
				"E2B_DOMAIN="+strings.TrimPrefix(srv.URL, "http://"),
				"E2B_SANDBOX_URL="+srv.URL,
				"E2B_DEBUG=false",
			)
			require.Equal(t, "OK", strings.TrimSpace(out))

			ids := regexp.MustCompile(`/i[a-z0-9]{20}`)
			var control []string
			for _, r := range srv.Requests.Requests() {
				if !strings.Contains(r, " /process.") && !strings.Contains(r, " /filesystem.") && !strings.Contains(r, " /files") && !strings.HasSuffix(r, " /health") {
					control = append(control, ids.ReplaceAllString(r, "/{id}"))
				}
			}
			create, connect := "POST /sandboxes", "POST /sandboxes/{id}/connect"
			if version != "2.50.0" {
				create, connect = "POST /v2/sandboxes", "POST /v2/sandboxes/{id}/connect"
			}
			assert.Equal(t, []string{
				create, "POST /sandboxes/{id}/pause", "GET /sandboxes/{id}", connect, "GET /sandboxes/{id}",
				"POST /sandboxes/{id}/timeout", create, "DELETE /sandboxes/{id}", "DELETE /sandboxes/{id}", "DELETE /sandboxes/{id}",
			}, control)
		})
	}
}
