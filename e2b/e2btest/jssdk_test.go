//go:build unix

package e2btest_test

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sandagent/sandagent/e2b/e2btest"
)

// sdkVersion is the official E2B JavaScript SDK the compatibility test
// runs: the newest whose wire protocol is the emulator's (later versions
// create sandboxes with POST /v2/sandboxes).
const sdkVersion = "2.50.0"

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

// TestOfficialJSSDK runs the official E2B JavaScript SDK against the
// emulator. It needs node and npm; the package is installed once into the
// user cache directory.
func TestOfficialJSSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the official E2B JS SDK cannot run")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not on PATH: the official E2B JS SDK cannot be installed")
	}
	module := installSDK(t)

	s := e2btest.NewServer() // a running clock: the SDK signs URLs with the real time
	t.Cleanup(s.Close)
	dir := t.TempDir()
	script := filepath.Join(dir, "sdk.mjs")
	if err := os.WriteFile(script, []byte(sdkScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"E2B_MODULE_URL="+(&url.URL{Scheme: "file", Path: module}).String(),
		"SANDBOX_TEST_KEY="+s.APIKey(),
		"E2B_API_URL="+s.URL,
		"E2B_SANDBOX_URL="+s.URL,
		"E2B_API_KEY=",
		"E2B_DEBUG=false",
	)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("SDK script: %v\n%s", err, out)
	}
	ids := regexp.MustCompile(`/i[a-z0-9]{20}`)
	var reqs []string
	for _, r := range s.Requests.Requests() {
		reqs = append(reqs, ids.ReplaceAllString(r, "/{id}"))
	}
	assert.Equal(t, []string{
		"POST /sandboxes", "GET /v2/sandboxes", "POST /sandboxes/{id}/connect",
		"POST /process.Process/Start", "POST /process.Process/Start",
		"POST /files", "GET /files", "POST /files", "GET /files", "POST /process.Process/Start",
		"POST /filesystem.Filesystem/Stat", "POST /filesystem.Filesystem/ListDir", "GET /files",
		"POST /sandboxes/{id}/pause", "GET /sandboxes/{id}", "GET /health",
		"POST /sandboxes/{id}/connect", "GET /files", "GET /health",
		"DELETE /sandboxes/{id}", "DELETE /sandboxes/{id}",
	}, reqs)
}

// installSDK installs the pinned SDK under the user cache directory, once,
// and returns the path of its ESM entry point.
func installSDK(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no user cache directory for the SDK install: %v", err)
	}
	root := filepath.Join(cache, "sandagent-test", "npm")
	dir := filepath.Join(root, "e2b-"+sdkVersion)
	entry := filepath.Join(dir, "node_modules", "e2b", "dist", "index.mjs")
	if _, err := os.Stat(entry); err == nil {
		return entry
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(root, ".install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(`{"private":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "e2b@"+sdkVersion)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install e2b@%s: %v\n%s", sdkVersion, err, out)
	}
	// Another test process may have finished first: keep theirs.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := os.Stat(entry); statErr != nil {
			t.Fatal(err)
		}
	}
	return entry
}
