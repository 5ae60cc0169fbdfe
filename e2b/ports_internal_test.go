package e2b

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/e2bapi"
)

func TestURLIsThePortsPublicHost(t *testing.T) {
	t.Setenv("E2B_SANDBOX_URL", "")
	t.Setenv("E2B_DOMAIN", "")
	s, err := New(WithAPIKey("e2b_0123456789abcdef0123456789abcdef01234567"))
	require.NoError(t, err)
	domain, token := "e2b.app", "traffic-secret"

	h := s.handle(e2bapi.Sandbox{SandboxID: "iabc", Domain: &domain, TrafficAccessToken: &token}, sandagent.Created)
	ep, err := h.URL(t.Context(), 3000)
	require.NoError(t, err)
	require.Equal(t, "https://3000-iabc.e2b.app", ep.URL, "as getHost")
	require.Equal(t, token, ep.Header.Get("e2b-traffic-access-token"), "public traffic off: the token")
	require.NotContains(t, ep.String(), token)

	h = s.handle(e2bapi.Sandbox{SandboxID: "iabc", Domain: &domain}, sandagent.Created)
	ep, err = h.URL(t.Context(), 3000)
	require.NoError(t, err)
	require.Nil(t, ep.Header, "public traffic: no header")
}
