//go:build unix

package e2btest_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent/e2b/e2btest"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
)

func TestStallStreams(t *testing.T) {
	s := start(t, e2btest.WithKeepaliveInterval(10*time.Millisecond))
	c := create(t, s, map[string]any{})
	pc := processClient(s, c)
	s.StallStreams(1)

	// Silent after one data event: no keepalive in 20 intervals, no end,
	// and the connection stays open until the client leaves.
	// The client leaves 20 intervals after the first data event, however
	// long the process took to write it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := pc.Start(ctx, connect.NewRequest(&process.StartRequest{Process: bash("echo one; sleep 0.05; echo two; exec sleep 30")}))
	require.NoError(t, err)
	var pid uint32
	for stream.Receive() {
		ev := stream.Msg().GetEvent()
		if st := ev.GetStart(); st != nil {
			pid = st.GetPid()
		}
		if d := ev.GetData(); d != nil {
			assert.Equal(t, "one\n", string(d.GetStdout()))
			break
		}
	}
	defer time.AfterFunc(200*time.Millisecond, cancel).Stop()
	ev := collect[*process.StartResponse](stream)
	ev.pid = pid
	require.NoError(t, stream.Close())
	assert.Equal(t, connect.CodeCanceled, connect.CodeOf(ev.err), "%v", ev.err)
	assert.Zero(t, ev.data, "nothing after the first data event")
	assert.Zero(t, ev.keepalives)
	assert.Nil(t, ev.end)

	// The process runs on.
	list, err := pc.List(context.Background(), connect.NewRequest(&process.ListRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.GetProcesses(), 1)
	assert.Equal(t, ev.pid, list.Msg.GetProcesses()[0].GetPid())
	_, err = pc.SendSignal(context.Background(), connect.NewRequest(&process.SendSignalRequest{
		Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: ev.pid}},
		Signal:  process.Signal_SIGNAL_SIGKILL,
	}))
	require.NoError(t, err)

	ev = run(t, pc, &process.StartRequest{Process: bash("sleep 0.05; echo ok")})
	require.NoError(t, ev.err, "only the next stream stalls")
	assert.Equal(t, "ok\n", ev.stdout)
	assert.Positive(t, ev.keepalives)
}
