//go:build unix

package local

import (
	"net/url"
	"strconv"
	"time"

	"github.com/sandagent/sandagent"
)

func init() { sandagent.Register("local", open) }

// open makes a Sandbox from local://name?dir=…&timeout=10m&autopause=true&isolate=true
// or local://?id=….
func open(u *url.URL) (sandagent.Sandbox, error) {
	var opts []Option
	if u.Host != "" {
		opts = append(opts, WithName(u.Host))
	}
	if u.Path != "" && u.Path != "/" {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "local URL: unexpected path %q (the sandbox name is the host part: local://name)", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "local URL: malformed query: %v", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "id":
			opts = append(opts, WithID(v))
		case "dir":
			opts = append(opts, WithDir(v))
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "local URL: timeout %q: want a duration such as 10m", v)
			}
			opts = append(opts, WithTimeout(d))
		case "autopause", "isolate":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "local URL: %s %q: want true or false", k, v)
			}
			if k == "autopause" {
				opts = append(opts, WithAutoPause(on))
			} else if on {
				opts = append(opts, WithIsolation())
			}
		default:
			return nil, sandagent.Errorf(sandagent.ErrInvalid, "local URL: unknown parameter %q (known: id, dir, timeout, autopause, isolate)", k)
		}
	}
	s, err := New(opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}
