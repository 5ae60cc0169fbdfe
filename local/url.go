//go:build unix

package local

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/internal/urlopt"
)

func init() { sandagent.Register("local", open) }

// urlSpec is the shape of this provider's URLs.
var urlSpec = urlopt.Spec{Scheme: "local", KeyEnv: "", Named: true}

// open makes a Sandbox from a local URL:
//
//	local://my-project?dir=/var/lib/sandboxes&timeout=10m&autopause=true
//	local://?id=…
//
// The host is the sandbox name (WithName). Each parameter may be given
// once:
//   - id: reattach by id (WithID), instead of a name;
//   - snapshot: create from a snapshot (WithSnapshot);
//   - dir: the directory that holds the sandboxes (WithDir);
//   - timeout: a Go duration such as 10m (WithTimeout);
//   - autopause, isolate: true or false (WithAutoPause, WithIsolation).
//
// Anything else is ErrInvalid, with a message naming the bad part: an
// unknown or repeated parameter, a bad value, a name and an id together, a
// path, port or fragment, credentials (local sandboxes need none; errors do
// not repeat them).
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
		case "dir":
			o = WithDir(v)
		case "snapshot":
			o = WithSnapshot(v)
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want a duration such as 10m")
			}
			o = WithTimeout(d)
		case "autopause", "isolate":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want true or false")
			}
			switch {
			case k == "autopause":
				o = WithAutoPause(on)
			case !on:
				continue
			default:
				o = WithIsolation()
			}
		default:
			unknown = append(unknown, k)
			continue
		}
		opts = append(opts, urlopt.Part("parameter "+k, o))
	}
	if len(unknown) > 0 {
		return nil, urlopt.Unknown(unknown, "id, dir, snapshot, timeout, autopause, isolate")
	}
	return New(opts...)
}
