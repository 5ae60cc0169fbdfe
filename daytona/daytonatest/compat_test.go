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
  const res = await sb.process.executeCommand('echo "$GREETING"; echo err >&2; pwd; exit 3', '/tmp');
  assert.strictEqual(res.exitCode, 3);
  assert.strictEqual(res.result, 'hi\nerr\n/tmp\n');
  const data = Buffer.from([0, 1, 2, 255, 10, 13]);
  await sb.fs.uploadFile(data, '/home/daytona/dir/blob.bin');
  const back = await sb.fs.downloadFile('/home/daytona/dir/blob.bin');
  assert.ok(Buffer.compare(back, data) === 0, 'download returns the uploaded bytes');
  const wc = await sb.process.executeCommand('wc -c < /home/daytona/dir/blob.bin');
  assert.strictEqual(wc.result.trim(), '6');
  let vol = await daytona.volume.get('ts-work', true);
  while (vol.state !== 'ready') {
    await new Promise((r) => setTimeout(r, 10));
    vol = await daytona.volume.get('ts-work');
  }
  const mounts = [{ volumeId: vol.id, mountPath: '/home/daytona/work' }];
  const v1 = await daytona.create({ name: 'ts-vol', volumes: mounts });
  await v1.fs.uploadFile(Buffer.from('kept'), '/home/daytona/work/keep.txt');
  await v1.stop();
  await v1.start();
  assert.strictEqual((await v1.fs.downloadFile('/home/daytona/work/keep.txt')).toString(), 'kept', 'the volume across stop/start');
  await v1.delete();
  const v2 = await daytona.create({ name: 'ts-vol', volumes: mounts });
  assert.strictEqual((await v2.process.executeCommand('cat /home/daytona/work/keep.txt')).result, 'kept', 'the volume across delete/recreate');
  await v2.delete();
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
