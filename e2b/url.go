package e2b

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
)

func init() { sandagent.Register("e2b", open) }

// open makes a Sandbox from an e2b URL (see the package documentation).
func open(u *url.URL) (sandagent.Sandbox, error) {
	var opts []Option
	if u.Host != "" {
		name, err := url.PathUnescape(u.Host)
		if err != nil {
			return nil, sandagent.Errorf(sandagent.ErrInvalid, "e2b URL: malformed name")
		}
		opts = append(opts, WithName(name))
	}
	if u.Path != "" && u.Path != "/" {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "e2b URL: unexpected path %q (the sandbox name is the host part: e2b://name)", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, sandagent.Errorf(sandagent.ErrInvalid, "e2b URL: malformed query: %v", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "id":
			opts = append(opts, WithID(v))
		case "template":
			opts = append(opts, WithTemplate(v))
		case "domain":
			opts = append(opts, WithDomain(v))
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "e2b URL: timeout %q: want a duration such as 10m", v)
			}
			opts = append(opts, WithTimeout(d))
		case "autopause", "autoresume", "secure", "create":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "e2b URL: %s %q: want true or false", k, v)
			}
			switch {
			case k == "secure":
				opts = append(opts, WithSecure(on))
			case !on:
			case k == "autopause":
				opts = append(opts, WithAutoPause())
			case k == "autoresume":
				opts = append(opts, WithAutoResume())
			default:
				opts = append(opts, WithCreateIfMissing())
			}
		default:
			key, ok := strings.CutPrefix(k, "meta.")
			if !ok {
				return nil, sandagent.Errorf(sandagent.ErrInvalid, "e2b URL: unknown parameter %q (known: id, template, timeout, autopause, autoresume, secure, create, domain, meta.<key>)", k)
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
