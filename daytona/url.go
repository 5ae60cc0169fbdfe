package daytona

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

func init() { sandagent.Register("daytona", openURL) }

// urlSpec is the shape of this provider's URLs.
var urlSpec = urlopt.Spec{Scheme: "daytona", KeyEnv: "DAYTONA_API_KEY", Named: true, Repeatable: []string{"volume"}}

// openURL makes a Sandbox from a daytona URL:
//
//	daytona://my-project?volume=my-project-volume&autostop=15m
//	daytona://?id=…
//
// The host is the sandbox name (WithName). Each parameter may be given
// once, but volume:
//   - id: reattach by id (WithID), instead of a name;
//   - volume: name or name:/mount/path, repeatable (WithVolume);
//   - autostop, autoarchive, autodelete: Go durations such as 15m;
//     autodelete=-1 disables auto-delete (WithAutoStop, WithAutoArchive,
//     WithAutoDelete);
//   - snapshot, image, language, target: WithSnapshot, WithImage,
//     WithLanguage, WithTarget;
//   - public, networkblockall: true or false (WithPublic,
//     WithNetworkBlockAll);
//   - networkallowlist: comma-separated IPv4 CIDRs (WithNetworkAllowList).
//
// Anything else is ErrInvalid, with a message naming the bad part: an
// unknown or repeated parameter, a bad value, a name and an id together, a
// path, port or fragment, credentials (the API key comes from
// DAYTONA_API_KEY, never from the URL; errors do not repeat them).
func openURL(u *url.URL) (sandagent.Sandbox, error) {
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
		case "volume":
			for _, vol := range q[k] {
				name, mount, _ := strings.Cut(vol, ":")
				opts = append(opts, urlopt.Part("parameter volume", WithVolume(name, mount)))
			}
			continue
		case "autostop", "autoarchive", "autodelete":
			d, err := time.ParseDuration(v)
			switch {
			case k == "autodelete" && v == "-1":
				o = WithAutoDelete(-1)
			case err != nil:
				return nil, urlopt.BadValue(k, "want a duration such as 15m")
			case k == "autostop":
				o = WithAutoStop(d)
			case k == "autoarchive":
				o = WithAutoArchive(d)
			default:
				o = WithAutoDelete(d)
			}
		case "snapshot":
			o = WithSnapshot(v)
		case "image":
			o = WithImage(v)
		case "language":
			o = WithLanguage(v)
		case "target":
			o = WithTarget(v)
		case "id":
			o = WithID(v)
		case "public", "networkblockall":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want true or false")
			}
			if k == "public" {
				o = WithPublic(on)
			} else {
				o = WithNetworkBlockAll(on)
			}
		case "networkallowlist":
			o = WithNetworkAllowList(strings.Split(v, ",")...)
		default:
			unknown = append(unknown, k)
			continue
		}
		opts = append(opts, urlopt.Part("parameter "+k, o))
	}
	if len(unknown) > 0 {
		return nil, urlopt.Unknown(unknown, "id, volume, autostop, autoarchive, autodelete, snapshot, image, language, target, public, networkblockall, networkallowlist")
	}
	return New(opts...)
}
