package sandock

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
)

func init() { sandagent.Register("sandock", open) }

// open makes a Sandbox from a URL such as
//
//	sandock://?id=sdbXXXX&image=sandockai/sandock-code:latest&volume=data:/workspace/data
//
// Parameters: id, image, title, volume (name:mountPath, repeatable),
// memory (MB), cpu (shares), deadline (a duration), restart (true: restart
// stopped or paused sandboxes), baseurl. The API key comes from
// SANDOCK_API_KEY only: a URL is no place for a secret.
func open(u *url.URL) (sandagent.Sandbox, error) {
	bad := func(format string, args ...any) error {
		return sandagent.Errorf(sandagent.ErrInvalid, "sandock URL: "+format, args...)
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, bad("sandboxes have no names; reattach by id: sandock://?id=…")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query: %v", err)
	}
	var opts []Option
	var unknown []string
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "id":
			opts = append(opts, WithID(v))
		case "image":
			opts = append(opts, WithImage(v))
		case "title":
			opts = append(opts, WithTitle(v))
		case "baseurl":
			opts = append(opts, WithBaseURL(v))
		case "volume":
			for _, vol := range vs {
				name, mount, ok := strings.Cut(vol, ":")
				if !ok {
					return nil, bad("volume %q: want name:/mount/path", vol)
				}
				opts = append(opts, WithVolume(name, mount))
			}
		case "memory", "cpu":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, bad("%s %q: want an integer", k, v)
			}
			if k == "memory" {
				opts = append(opts, WithMemory(n))
			} else {
				opts = append(opts, WithCPU(n))
			}
		case "deadline":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, bad("deadline %q: want a duration such as 1h", v)
			}
			opts = append(opts, WithActiveDeadline(d))
		case "restart":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("restart %q: want true or false", v)
			}
			if on {
				opts = append(opts, WithRestartStopped())
			}
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, bad("unknown parameter %q (known: id, image, title, volume, memory, cpu, deadline, restart, baseurl)", strings.Join(unknown, ", "))
	}
	s, err := New(opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}
