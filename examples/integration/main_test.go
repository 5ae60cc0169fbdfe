//go:build unix

package integration_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sandagent/sandagent/driver"
)

func TestMain(m *testing.M) {
	// The emulators list a sandbox as soon as it exists, unless a test
	// sets a list lag (and a convergence window of its own).
	os.Setenv(driver.ConvergenceWindowEnv, "0")
	goleak.VerifyTestMain(m)
}
