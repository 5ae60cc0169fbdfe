//go:build unix

package local_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
	"github.com/sandagent/sandagent/sandboxtest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	lacks := map[sandboxtest.Capability]string{}
	if err := local.RootSupport(dir); err != nil {
		lacks[sandboxtest.Root] = err.Error()
	}
	sandboxtest.Run(t, sandboxtest.Factory{
		Lacks: lacks,
		New: func(t *testing.T, o sandboxtest.Options) sandagent.Sandbox {
			opts := []local.Option{local.WithDir(dir)}
			if o.Name != "" {
				opts = append(opts, local.WithName(o.Name))
			}
			if o.ID != "" {
				opts = append(opts, local.WithID(o.ID))
			}
			if o.Env != nil {
				opts = append(opts, local.WithEnv(o.Env))
			}
			if o.Snapshot != "" {
				opts = append(opts, local.WithSnapshot(o.Snapshot))
			}
			sb, err := local.New(opts...)
			require.NoError(t, err)
			return sb
		},
	})
}
