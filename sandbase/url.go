package sandbase

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/urlopt"
)

func init() { sandagent.Register("sandbase", open) }

// urlSpec is the shape of this provider's URLs.
var urlSpec = urlopt.Spec{Scheme: "sandbase", KeyEnv: "SANDBASE_API_KEY", Named: true}

// open makes a Sandbox from a sandbase URL (see the package documentation):
//
//	sandbase://my-project?template=base&timeout=10m
//	sandbase://?id=i1a2b3c4d5e6f7g8h9i0j
//
// The host is the sandbox name (WithName). Each parameter may be given
// once:
//   - id: reattach by id (WithID), instead of a name;
//   - template: WithTemplate;
//   - timeout: a Go duration such as 10m (WithTimeout);
//   - create: true or false (WithCreateIfMissing);
//   - domain: a host name such as sandbox.sandbase.ai (WithDomain);
//   - meta.<key>=<value>: WithMetadata.
//
// Anything else is ErrInvalid, with a message naming the bad part: an
// unknown or repeated parameter, a bad value, a name and an id together, a
// path, port or fragment, credentials (the API key comes from
// SANDBASE_API_KEY, never from the URL; errors do not repeat them).
func open(u *url.URL) (sandagent.Sandbox, error) {
	name, q, err := urlopt.Parse(u, urlSpec)
	if err != nil {
		return nil, err
	}
	var opts []Option
	if name != "" {
		opts = append(opts, urlopt.Part("host (the sandbox name)", WithName(name)))
	}
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		var o Option
		switch k {
		case "id":
			o = WithID(v)
		case "template":
			o = WithTemplate(v)
		case "create":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want true or false")
			}
			if !on {
				continue
			}
			o = WithCreateIfMissing()
		case "domain":
			if strings.Contains(v, "@") {
				return nil, urlopt.BadValue(k, "want a host name such as sandbox.sandbase.ai")
			}
			o = WithDomain(v)
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want a duration such as 10m")
			}
			o = WithTimeout(d)
		default:
			key, ok := strings.CutPrefix(k, "meta.")
			if !ok {
				unknown = append(unknown, k)
				continue
			}
			o = WithMetadata(map[string]string{key: v})
		}
		opts = append(opts, urlopt.Part("parameter "+k, o))
	}
	if len(unknown) > 0 {
		return nil, urlopt.Unknown(unknown, "id, template, timeout, create, domain, meta.<key>")
	}
	return New(opts...)
}
