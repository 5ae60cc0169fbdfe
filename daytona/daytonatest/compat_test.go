//go:build unix

package daytonatest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/daytona/daytonatest"
	"github.com/sandagent/sandagent/internal/nodetest"
)

// sdkVersions are the official TypeScript SDKs the emulator is checked
// against: the API generation of the Go clients, and the newest.
var sdkVersions = []string{"0.190.1", "0.218.0"}

// compatScript drives the official SDK through create, get by name,
// stop/start, a command, a file round trip and a list filtered by labels,
// one sandbox per page, printing OK at the end.
const compatScript = `
const { Daytona } = require('@daytonaio/sdk');
const assert = require('assert');
(async () => {
  const daytona = new Daytona({ apiKey: process.env.DAYTONA_API_KEY, apiUrl: process.env.DAYTONA_API_URL, target: 'us' });
  const sb = await daytona.create({ name: 'ts-compat', language: 'python', envVars: { GREETING: 'hi' } });
  assert.strictEqual(sb.state, 'started');
  const again = await daytona.get('ts-compat');
  assert.strictEqual(again.id, sb.id);
  await sb.stop();
  assert.strictEqual(sb.state, 'stopped');
  await sb.start();
  assert.strictEqual(sb.state, 'started');
  const res = await sb.process.executeCommand('echo "$GREETING"; echo err >&2; exit 3');
  assert.strictEqual(res.exitCode, 3);
  assert.strictEqual(res.result, 'hi\nerr\n');
  await sb.process.createSession('s1');
  await sb.process.executeSessionCommand('s1', { command: 'cd /tmp && export X=1' });
  const r1 = await sb.process.executeSessionCommand('s1', { command: 'echo "$X $(pwd)"; echo e >&2' });
  assert.strictEqual(r1.exitCode, 0);
  assert.strictEqual(r1.stdout, '1 /tmp\n', 'a session keeps cd and exports');
  assert.strictEqual(r1.stderr, 'e\n');
  const asyncCmd = await sb.process.executeSessionCommand('s1', { command: 'read l; echo "got $l"', runAsync: true });
  await sb.process.sendSessionCommandInput('s1', asyncCmd.cmdId, 'hi');
  let live = '';
  await sb.process.getSessionCommandLogs('s1', asyncCmd.cmdId, (s) => { live += s; }, () => {});
  assert.ok(live.includes('got hi'), live);
  assert.strictEqual((await sb.process.getSessionCommand('s1', asyncCmd.cmdId)).exitCode, 0);
  await sb.process.deleteSession('s1');
  const data = Buffer.from([0, 1, 2, 255, 10, 13]);
  await sb.fs.uploadFile(data, 'dir/blob.bin');
  const back = await sb.fs.downloadFile('dir/blob.bin');
  assert.ok(Buffer.compare(back, data) === 0, 'download returns the uploaded bytes');
  const wc = await sb.process.executeCommand('wc -c < dir/blob.bin');
  assert.strictEqual(wc.result.trim(), '6');
  const a = await daytona.create({ labels: { team: 'x' } });
  const b = await daytona.create({ labels: { team: 'x' } });
  const listed = [];
  for await (const s of daytona.list({ labels: { team: 'x' }, limit: 1 })) listed.push(s.id);
  assert.deepStrictEqual(listed.sort(), [a.id, b.id].sort(), 'the label filter, page by page');
  await a.delete();
  await b.delete();
  await sb.delete();
  console.log('OK');
})().catch((e) => { console.error(e); process.exit(1); });
`

// TestOfficialTypeScriptSDK runs Daytona's TypeScript SDK, at each of
// sdkVersions, against the emulator. It needs node and npm (see package
// nodetest).
func TestOfficialTypeScriptSDK(t *testing.T) {
	for _, version := range sdkVersions {
		t.Run("sdk@"+version, func(t *testing.T) {
			nodetest.Node(t)
			runSDK(t, nodetest.Install(t, "@daytonaio/sdk", version))
		})
	}
}

func runSDK(t *testing.T, sdk string) {
	srv := daytonatest.NewServer(daytonatest.WithPolls(1))
	defer srv.Close()
	out := nodetest.Run(t, false, compatScript, "NODE_PATH="+nodetest.NodePath(sdk), "DAYTONA_API_KEY="+srv.APIKey(), "DAYTONA_API_URL="+srv.URL, "DAYTONA_TARGET=", "DAYTONA_ORGANIZATION_ID=",
		// Newer SDKs follow sandbox states over an event socket (socket.io)
		// the emulator does not serve, retrying it for minutes, which keeps
		// node from exiting; this makes them poll the API, as older ones do.
		"DAYTONA_USE_DEPRECATED_POLLING=true")
	require.Contains(t, out, "OK")
	for _, r := range []string{"POST /api/sandbox", "GET /api/sandbox/ts-compat", "/stop", "/start", "/process/execute", "/files/bulk-upload", "/files/bulk-download"} {
		found := false
		for _, got := range srv.Requests.Requests() {
			found = found || strings.Contains(got, r)
		}
		require.True(t, found, "the SDK used %s: %v", r, srv.Requests.Requests())
	}
}
