package sandock

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

func init() { sandagent.Register("sandock", open) }

// urlSpec is the shape of this provider's URLs.
var urlSpec = urlopt.Spec{Scheme: "sandock", KeyEnv: "SANDOCK_API_KEY", Named: false, Repeatable: []string{"volume"}}

// open makes a Sandbox from a sandock URL:
//
//	sandock://?id=sdbXXXX&image=sandockai/sandock-code:latest&volume=data:/workspace/data
//
// Sandock sandboxes have no names, so the URL has no host. Each parameter
// may be given once, but volume:
//   - id: reattach by id (WithID);
//   - image, title: WithImage, WithTitle;
//   - volume: name:/mount/path, repeatable (WithVolume);
//   - memory: megabytes, cpu: CPU shares, both integers (WithMemory,
//     WithCPU);
//   - deadline: a Go duration such as 1h (WithActiveDeadline);
//   - restart: true or false (WithRestartStopped);
//   - baseurl: the API's http:// or https:// address (WithBaseURL).
//
// Anything else is ErrInvalid, with a message naming the bad part: an
// unknown or repeated parameter, a bad value, a host, path or fragment,
// credentials (the API key comes from SANDOCK_API_KEY, never from the URL,
// nor from baseurl; errors do not repeat them).
func open(u *url.URL) (sandagent.Sandbox, error) {
	_, q, err := urlopt.Parse(u, urlSpec)
	if err != nil {
		return nil, err
	}
	var opts []Option
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		var o Option
		switch k {
		case "id":
			o = WithID(v)
		case "image":
			o = WithImage(v)
		case "title":
			o = WithTitle(v)
		case "baseurl":
			b, err := url.Parse(v)
			if err != nil || (b.Scheme != "http" && b.Scheme != "https") || b.Host == "" || b.User != nil {
				return nil, urlopt.BadValue(k, "want an http:// or https:// URL without credentials")
			}
			o = WithBaseURL(v)
		case "volume":
			for _, vol := range q[k] {
				name, mount, ok := strings.Cut(vol, ":")
				if !ok {
					return nil, urlopt.BadValue(k, "want name:/mount/path")
				}
				opts = append(opts, urlopt.Part("parameter volume", WithVolume(name, mount)))
			}
			continue
		case "memory", "cpu":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want an integer")
			}
			if k == "memory" {
				o = WithMemory(n)
			} else {
				o = WithCPU(n)
			}
		case "deadline":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want a duration such as 1h")
			}
			o = WithActiveDeadline(d)
		case "restart":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, urlopt.BadValue(k, "want true or false")
			}
			if !on {
				continue
			}
			o = WithRestartStopped()
		default:
			unknown = append(unknown, k)
			continue
		}
		opts = append(opts, urlopt.Part("parameter "+k, o))
	}
	if len(unknown) > 0 {
		return nil, urlopt.Unknown(unknown, "id, image, title, volume, memory, cpu, deadline, restart, baseurl")
	}
	return New(opts...)
}
