package shellquote

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuoteRoundTripsThroughSh(t *testing.T) {
	args := []string{"plain", "", "a b", "it's", `"dq"`, "$HOME", "`id`", "*", "a\nb", "back\\slash", "--flag=x", "ünï"}
	// printf prints each argument on a line, as the shell split them.
	out, err := exec.Command("/bin/sh", "-c", "printf '%s|' "+Quote(args)).Output()
	require.NoError(t, err)
	require.Equal(t, strings.Join(args, "|")+"|", string(out))
}

func TestOneLeavesSafeWordsAlone(t *testing.T) {
	require.Equal(t, "ls", One("ls"))
	require.Equal(t, "/usr/bin/env", One("/usr/bin/env"))
	require.Equal(t, "''", One(""))
	require.Equal(t, `'a'\''b'`, One("a'b"))
}
