//go:build unix

package e2btest_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/internal/nodetest"
)

// sdkVersions are the official E2B JavaScript SDKs the compatibility test
// runs: 2.50.0, the last to create and connect through the v1 routes, and
// 2.51.0, which uses POST /v2/sandboxes and /v2/sandboxes/{id}/connect.
var sdkVersions = []string{"2.50.0", "2.51.0"}

// sdkScript drives the SDK through the flow the emulator must support. It
// reads the module URL and the server from the environment and prints "OK"
// when every check passed.
const sdkScript = `
const { Sandbox } = await import(process.env.E2B_MODULE_URL);
const check = (ok, what) => { if (!ok) throw new Error('check failed: ' + what); };
const apiKey = process.env.SANDBOX_TEST_KEY;

const md = { owner: 'user 1&2=3', app: 'js-sdk' };
const sbx = await Sandbox.create({ apiKey, metadata: md, timeoutMs: 120_000 });
check(/^i[a-z0-9]{20}$/.test(sbx.sandboxId), 'sandbox id ' + sbx.sandboxId);

const found = [];
const pager = Sandbox.list({ apiKey, query: { metadata: { owner: md.owner } } });
while (pager.hasNext) found.push(...(await pager.nextItems()));
check(found.length === 1 && found[0].sandboxId === sbx.sandboxId, 'list by metadata: ' + JSON.stringify(found));
check(found[0].metadata.owner === md.owner && found[0].state === 'running', 'listed fields');

const again = await Sandbox.connect(sbx.sandboxId, { apiKey });
let live = '';
const res = await again.commands.run('echo hi', { onStdout: (d) => { live += d; } });
check(res.exitCode === 0 && res.stdout === 'hi\n' && live === 'hi\n', 'echo hi: ' + JSON.stringify(res));
try {
  await again.commands.run('echo oops >&2; exit 3');
  check(false, 'exit 3 must throw');
} catch (e) {
  check(e.exitCode === 3 && e.stderr === 'oops\n', 'exit error: ' + e);
}

await again.files.write('/home/user/notes/hello.txt', 'hello from js');
check((await again.files.read('/home/user/notes/hello.txt')) === 'hello from js', 'text round trip');
const bin = new Uint8Array(256).map((_, i) => i);
await again.files.write('/home/user/bin.dat', bin.buffer);
const back = await again.files.read('bin.dat', { format: 'bytes' });
check(back.length === 256 && back.every((b, i) => b === i), 'binary round trip');
const seen = await again.commands.run('cat /home/user/notes/hello.txt; pwd >&2', { cwd: '/tmp' });
check(seen.stdout === 'hello from js' && seen.stderr === '/tmp\n', 'commands see the file, cwd /tmp: ' + JSON.stringify(seen));
check(await again.files.exists('/home/user/notes'), 'exists');
check((await again.files.list('/home/user/notes')).map((e) => e.name).join() === 'hello.txt', 'list dir');

const url = await again.downloadUrl('/home/user/notes/hello.txt', { useSignatureExpiration: 60 });
const signed = await fetch(url, { headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49983' } });
check(signed.status === 200 && (await signed.text()) === 'hello from js', 'signed download ' + signed.status);

check((await again.pause()) === true, 'pause');
check((await Sandbox.getInfo(sbx.sandboxId, { apiKey })).state === 'paused', 'paused state');
check((await again.isRunning()) === false, 'not running while paused');
const resumed = await Sandbox.connect(sbx.sandboxId, { apiKey });
check((await resumed.files.read('/home/user/notes/hello.txt')) === 'hello from js', 'file kept across pause');
check((await resumed.isRunning()) === true, 'running after connect');

check((await resumed.kill()) === true, 'kill');
check((await Sandbox.kill(sbx.sandboxId, { apiKey })) === false, 'kill again');
console.log('OK');
`

// TestOfficialJSSDK runs the official E2B JavaScript SDK, at each of
// sdkVersions, against the emulator. It needs node and npm (see package
// nodetest).
func TestOfficialJSSDK(t *testing.T) {
	for _, version := range sdkVersions {
		t.Run("e2b@"+version, func(t *testing.T) {
			nodetest.Node(t)
			module := nodetest.Entry(nodetest.Install(t, "e2b", version), "e2b", "dist/index.mjs")
			s := e2btest.NewServer() // a running clock: the SDK signs URLs with the real time
			t.Cleanup(s.Close)
			out := nodetest.Run(t, true, sdkScript,
				"E2B_MODULE_URL="+nodetest.FileURL(module),
				"SANDBOX_TEST_KEY="+s.APIKey(),
				"E2B_API_URL="+s.URL,
				"E2B_SANDBOX_URL="+s.URL,
				"E2B_API_KEY=",
				"E2B_DEBUG=false",
			)
			assert.Equal(t, "OK", strings.TrimSpace(out))
			ids := regexp.MustCompile(`/i[a-z0-9]{20}`)
			var reqs []string
			for _, r := range s.Requests.Requests() {
				reqs = append(reqs, ids.ReplaceAllString(r, "/{id}"))
			}
			create, connect := "POST /sandboxes", "POST /sandboxes/{id}/connect"
			if version != "2.50.0" {
				create, connect = "POST /v2/sandboxes", "POST /v2/sandboxes/{id}/connect"
			}
			assert.Equal(t, []string{
				create, "GET /v2/sandboxes", connect,
				"POST /process.Process/Start", "POST /process.Process/Start",
				"POST /files", "GET /files", "POST /files", "GET /files", "POST /process.Process/Start",
				"POST /filesystem.Filesystem/Stat", "POST /filesystem.Filesystem/ListDir", "GET /files",
				"POST /sandboxes/{id}/pause", "GET /sandboxes/{id}", "GET /health",
				connect, "GET /files", "GET /health",
				"DELETE /sandboxes/{id}", "DELETE /sandboxes/{id}",
			}, reqs)
		})
	}
}
