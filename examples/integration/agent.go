// Package integration shows how to test your own agent code in go test,
// offline, against the local provider and the emulators of every hosted
// provider (e2btest, sandbasetest, sandocktest, daytonatest): each runs a
// loopback server that speaks the provider's real API and runs commands for
// real on this machine, with fault injection.
//
// RunTask stands for your agent code: it takes a *sandagent.Handle and
// does not know which provider is behind it. agent_test.go runs one
// table-driven test against every provider. Run it with:
//
//	go test ./examples/integration
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/sandagent/sandagent"
)

// RunTask is a tiny agent step: it writes task, a shell script, into the
// sandbox as task.sh, runs it with sh in the sandbox's workdir and returns
// its standard output. A script that exits non-zero is an error that
// carries its exit code and standard error (and unwraps to the
// *sandagent.ExitError).
func RunTask(ctx context.Context, h *sandagent.Handle, task string) (string, error) {
	if err := h.WriteFile(ctx, "task.sh", []byte(task)); err != nil {
		return "", fmt.Errorf("write task: %w", err)
	}
	res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"sh", "task.sh"}})
	var exit *sandagent.ExitError
	switch {
	case errors.As(err, &exit):
		return "", fmt.Errorf("task exited with status %d: %s: %w", res.ExitCode, bytes.TrimSpace(res.Stderr), err)
	case err != nil:
		return "", fmt.Errorf("run task: %w", err)
	}
	return string(res.Stdout), nil
}
