//go:build linux

package engine

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
)

func rootedSandbox(t *testing.T, e *Engine, spec Spec) *Sandbox {
	t.Helper()
	if err := e.RootSupport(); err != nil {
		t.Skip(err)
	}
	sb, err := e.Create(spec, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Destroy() })
	require.True(t, sb.Rooted())
	return sb
}

func run(t *testing.T, sb *Sandbox, c Cmd) string {
	t.Helper()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	p, err := sb.Spawn(context.Background(), c)
	require.NoError(t, err)
	code, err := p.Wait()
	require.NoError(t, err)
	require.Equal(t, 0, code, out.String())
	return out.String()
}

func readAll(t *testing.T, sb *Sandbox, p string) (string, error) {
	t.Helper()
	r, err := sb.Open(p)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestRootedPathsAreTheSandboxs(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb := rootedSandbox(t, e, Spec{Home: "/home/daytona"})
	require.Equal(t, "/home/daytona", sb.Workdir())
	require.Equal(t, "/home/daytona\n", run(t, sb, Cmd{Shell: "pwd"}))
	require.Equal(t, "/tmp\n", run(t, sb, Cmd{Shell: "pwd", Dir: "/tmp"}))

	require.NoError(t, sb.Write("/home/daytona/a/b.txt", strings.NewReader("hi")))
	require.Equal(t, "hi", run(t, sb, Cmd{Args: []string{"cat", "/home/daytona/a/b.txt"}}))
	run(t, sb, Cmd{Shell: "echo there > rel.txt"})
	got, err := readAll(t, sb, "rel.txt")
	require.NoError(t, err)
	require.Equal(t, "there\n", got)

	// Writes anywhere stay in the sandbox.
	marker := "sandagent-test-" + sb.ID()
	run(t, sb, Cmd{Shell: "echo x > /usr/local/" + marker + " && echo y > /tmp/" + marker})
	require.NoError(t, sb.Write("/usr/local/"+marker+".2", strings.NewReader("z")))
	for _, p := range []string{"/usr/local/" + marker, "/usr/local/" + marker + ".2", "/tmp/" + marker} {
		_, err := os.Lstat(p)
		require.ErrorIs(t, err, os.ErrNotExist, p)
	}
	got, err = readAll(t, sb, "/usr/local/"+marker)
	require.NoError(t, err)
	require.Equal(t, "x\n", got)

	// /tmp is the sandbox's own.
	other := rootedSandbox(t, e, Spec{})
	_, err = readAll(t, other, "/tmp/"+marker)
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	require.Equal(t, "/home/user\n", run(t, other, Cmd{Shell: "pwd"}))

	// Files and processes survive a pause and a stop.
	require.NoError(t, sb.Pause())
	require.NoError(t, sb.Resume())
	require.Equal(t, "hi", run(t, sb, Cmd{Args: []string{"cat", "a/b.txt"}}))
	require.NoError(t, sb.Stop())
	require.NoError(t, sb.Start())
	require.Equal(t, "hi", run(t, sb, Cmd{Args: []string{"cat", "a/b.txt"}}))
	require.Equal(t, "y\n", run(t, sb, Cmd{Args: []string{"cat", "/tmp/" + marker}}))

	// Destroy leaves nothing: no cgroup, no directory.
	m, err := sb.Meta()
	require.NoError(t, err)
	require.NoError(t, sb.Destroy())
	_, err = os.Stat(m.Cgroup)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(sb.dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A symlink to a host directory leads nowhere, even while a process of the
// sandbox swaps it with a directory during the reads.
func TestRootedSymlinksStayInside(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb := rootedSandbox(t, e, Spec{})
	host := t.TempDir() // under the host's /tmp: not the sandbox's
	require.NoError(t, os.WriteFile(filepath.Join(host, "secret.txt"), []byte("host"), 0o600))

	run(t, sb, Cmd{Shell: "ln -s " + host + " out && mkdir -p in && echo sandbox > in/secret.txt"})
	_, err = readAll(t, sb, "out/secret.txt")
	require.ErrorIs(t, err, sandagent.ErrNotFound)
	// Written inside: the link's target is a path of the sandbox's own /tmp.
	require.NoError(t, sb.Write("out/new.txt", strings.NewReader("x")))
	_, err = os.Stat(filepath.Join(host, "new.txt"))
	require.ErrorIs(t, err, os.ErrNotExist)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	swap, err := sb.Spawn(ctx, Cmd{Shell: "while :; do ln -sfn " + host + " d.tmp && mv -T d.tmp d; rm -f d; cp -r in d.dir && mv -T d.dir d 2>/dev/null; rm -rf d.dir; done"})
	require.NoError(t, err)
	for range 300 {
		got, err := readAll(t, sb, "d/secret.txt")
		require.NotEqual(t, "host", got)
		if err == nil {
			require.Equal(t, "sandbox\n", got)
		}
	}
	cancel()
	_, _ = swap.Wait()
}

func TestRootedForkAndSnapshotCopyTheRootsChanges(t *testing.T) {
	e, err := Open(t.TempDir())
	require.NoError(t, err)
	sb := rootedSandbox(t, e, Spec{})
	// A file in the workdir, one in /tmp, one elsewhere in the root, a host
	// file deleted (a whiteout) and a host directory made anew (opaque).
	run(t, sb, Cmd{Shell: "echo w > note && echo t > /tmp/t && mkdir -p /opt/x && echo o > /opt/x/o && rm /etc/hostname && rm -rf /etc/default && mkdir /etc/default && echo n > /etc/default/new"})
	check := func(kid *Sandbox) {
		t.Helper()
		require.True(t, kid.Rooted())
		require.Equal(t, "w\nt\no\ngone\nnew\n", run(t, kid, Cmd{Shell: "cat note /tmp/t /opt/x/o; test -e /etc/hostname || echo gone; ls /etc/default"}))
	}
	kids, err := sb.Fork(Spec{}, 1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = kids[0].Destroy() })
	check(kids[0])

	snap, err := sb.Snapshot("s")
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.DeleteSnapshot(snap) })
	kid, err := e.CreateFromSnapshot(Spec{}, snap, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = kid.Destroy() })
	check(kid)

	// The host's files are not the sandbox's.
	_, err = os.Stat(filepath.Join(DefaultHome, "note"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat("/etc/hostname")
	require.NoError(t, err)
}
