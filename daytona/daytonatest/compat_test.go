//go:build unix

package daytonatest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/daytona/daytonatest"
)

// sdkVersion is the official TypeScript SDK the emulator is checked
// against: the same API generation as the Go clients.
const sdkVersion = "0.190.1"

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

// TestOfficialTypeScriptSDK runs Daytona's TypeScript SDK against the
// emulator. It needs node and npm; the package is installed once into the
// user's cache directory, so later runs work offline.
func TestOfficialTypeScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: cannot run the official TypeScript SDK")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not on PATH: cannot install the official TypeScript SDK")
	}
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	dir := filepath.Join(cache, "sandagent-test", "npm", "daytona-sdk-"+sdkVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@daytonaio", "sdk", "package.json")); err != nil {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true}`), 0o644))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "@daytonaio/sdk@"+sdkVersion)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("cannot install @daytonaio/sdk@%s (offline?): %v\n%s", sdkVersion, err, out)
		}
	}
	script := filepath.Join(dir, "compat.js")
	require.NoError(t, os.WriteFile(script, []byte(compatScript), 0o644))

	srv := daytonatest.NewServer(daytonatest.WithPolls(1))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DAYTONA_API_KEY="+srv.APIKey(), "DAYTONA_API_URL="+srv.URL, "DAYTONA_TARGET=", "DAYTONA_ORGANIZATION_ID=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "OK")
	for _, r := range []string{"POST /api/sandbox", "GET /api/sandbox/ts-compat", "/stop", "/start", "/process/execute", "/files/bulk-upload", "/files/bulk-download"} {
		found := false
		for _, got := range srv.Requests.Requests() {
			found = found || strings.Contains(got, r)
		}
		require.True(t, found, "the SDK used %s: %v", r, srv.Requests.Requests())
	}
}
