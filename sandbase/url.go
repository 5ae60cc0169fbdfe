package sandbase

import (
	"net/url"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
)

func init() { sandagent.Register("sandbase", open) }

// open makes a Sandbox from a sandbase URL (see the package documentation).
func open(u *url.URL) (sandagent.Sandbox, error) {
	var opts []Option
	if u.Host != "" {
		name, err := url.PathUnescape(u.Host)
		if err != nil {
			return nil, sandagent.Errorf(sandagent.ErrInvalid, "sandbase URL: malformed name")
		}
		opts = append(opts, WithName(name))
	}
	if u.Path != "" && u.Path != "/" {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "sandbase URL: unexpected path %q (the sandbox name is the host part: sandbase://name)", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "sandbase URL: malformed query: %v", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "id":
			opts = append(opts, WithID(v))
		case "template":
			opts = append(opts, WithTemplate(v))
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "sandbase URL: timeout %q: want a duration such as 10m", v)
			}
			opts = append(opts, WithTimeout(d))
		default:
			key, ok := strings.CutPrefix(k, "meta.")
			if !ok {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "sandbase URL: unknown parameter %q (known: id, template, timeout, meta.<key>)", k)
			}
			opts = append(opts, WithMetadata(map[string]string{key: v}))
		}
	}
	s, err := New(opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}
