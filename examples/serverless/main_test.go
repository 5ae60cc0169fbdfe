//go:build unix

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sandagent/sandagent"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHandlerReattachesPerRequest(t *testing.T) {
	url := "local://serverless-test?dir=" + t.TempDir()
	srv := httptest.NewServer(handler(url))
	defer srv.Close()
	post := func(script string) Response {
		resp, err := http.Post(srv.URL+"/run", "text/plain", strings.NewReader(script))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out Response
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	first := post("echo 1 > n; cat n")
	require.Equal(t, "created", first.Outcome)
	second := post("echo $(( $(cat n) + 1 ))")
	require.Equal(t, "reused", second.Outcome)
	require.Equal(t, first.Sandbox, second.Sandbox)
	require.Equal(t, "2\n", second.Stdout)
	third := post("exit 5")
	require.Equal(t, 5, third.ExitCode)

	h, err := sandagent.Open(context.Background(), url)
	require.NoError(t, err)
	require.NoError(t, h.Destroy(context.Background()))
}
