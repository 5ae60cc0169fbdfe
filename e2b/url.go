package e2b

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
)

func init() { sandagent.Register("e2b", open) }

// open makes a Sandbox from an e2b URL (see the package documentation):
//
//	e2b://my-project?template=base&timeout=10m&autopause=true
//	e2b://?id=i1a2b3c4d5e6f7g8h9i0j&create=true
//
// The host is the sandbox name (WithName). Each parameter may be given
// once:
//   - id: reattach by id (WithID), instead of a name;
//   - template: WithTemplate;
//   - timeout: a Go duration such as 10m (WithTimeout);
//   - autopause, autoresume, create, secure: true or false (WithAutoPause,
//     WithAutoResume, WithCreateIfMissing, WithSecure);
//   - domain: a host name such as e2b.app (WithDomain);
//   - meta.<key>=<value>: WithMetadata.
//
// Anything else is ErrInvalid, with a message naming the bad part: an
// unknown or repeated parameter, a bad value, a name and an id together, a
// path, port or fragment, credentials (the API key comes from E2B_API_KEY,
// never from the URL; errors do not repeat them).
func open(u *url.URL) (sandagent.Sandbox, error) {
	name, q, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	var opts []Option
	if name != "" {
		opts = append(opts, urlPart("host (the sandbox name)", WithName(name)))
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
		case "domain":
			if strings.Contains(v, "@") {
				return nil, badParam(k, "want a host name such as e2b.app")
			}
			o = WithDomain(v)
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, badParam(k, "want a duration such as 10m")
			}
			o = WithTimeout(d)
		case "autopause", "autoresume", "secure", "create":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, badParam(k, "want true or false")
			}
			switch {
			case k == "secure":
				o = WithSecure(on)
			case !on:
				continue
			case k == "autopause":
				o = WithAutoPause()
			case k == "autoresume":
				o = WithAutoResume()
			default:
				o = WithCreateIfMissing()
			}
		default:
			key, ok := strings.CutPrefix(k, "meta.")
			if !ok {
				unknown = append(unknown, k)
				continue
			}
			o = WithMetadata(map[string]string{key: v})
		}
		opts = append(opts, urlPart("parameter "+k, o))
	}
	if len(unknown) > 0 {
		return nil, unknownParams(unknown, "id, template, timeout, autopause, autoresume, secure, create, domain, meta.<key>")
	}
	return New(opts...)
}

// parseURL checks everything in an e2b URL but the meaning of its
// parameters, and returns the name (the host, unescaped) and the query.
func parseURL(u *url.URL) (name string, q url.Values, err error) {
	switch {
	case u.User != nil:
		return "", nil, invalidURL("credentials do not belong in a URL: set E2B_API_KEY")
	case u.Opaque != "":
		return "", nil, invalidURL("malformed URL: want e2b://name?… or e2b://?id=…")
	case u.Port() != "":
		return "", nil, invalidURL("unexpected port in the URL (the sandbox name is the host: e2b://name)")
	case u.Path != "" && u.Path != "/":
		return "", nil, invalidURL("unexpected path in the URL (the sandbox name is the host: e2b://name)")
	case u.Fragment != "":
		return "", nil, invalidURL("unexpected fragment in the URL")
	}
	name, err = url.PathUnescape(u.Host)
	if err != nil {
		return "", nil, invalidURL("malformed host (the sandbox name) in the URL")
	}
	q, err = url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, invalidURL("malformed URL query: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if vs := q[k]; len(vs) > 1 {
			return "", nil, invalidURL("URL parameter %s given %d times", showParam(k), len(vs))
		}
	}
	if name != "" && q.Has("id") {
		return "", nil, invalidURL("URL gives both a name (the host) and an id; choose one")
	}
	return name, q, nil
}

// invalidURL returns an ErrInvalid error about the URL.
func invalidURL(format string, args ...any) error {
	return sandagent.Errorf(sandagent.ErrInvalid, format, args...)
}

// badParam returns the error for a parameter whose value does not parse.
// It does not repeat the value.
func badParam(key, want string) error {
	return invalidURL("URL parameter %s: %s", key, want)
}

// unknownParams returns the error for parameters the provider does not
// know, named if they look like parameter names (a key pasted in as a
// parameter is not repeated).
func unknownParams(keys []string, known string) error {
	for i, k := range keys {
		keys[i] = showParam(k)
	}
	s := ""
	if len(keys) > 1 {
		s = "s"
	}
	return invalidURL("unknown URL parameter%s %s (known: %s)", s, strings.Join(keys, ", "), known)
}

// showParam returns k if it looks like a parameter name, else a
// description that does not repeat it.
func showParam(k string) string {
	const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	if k == "" {
		return `""`
	}
	if len(k) > 32 || strings.Trim(k, nameChars) != "" {
		return fmt.Sprintf("(a %d-byte name, not shown)", len(k))
	}
	return k
}

// urlPart makes o's error, if any, name the part of the URL it came from.
func urlPart(part string, o Option) Option {
	return func(s *Sandbox) error {
		err := o(s)
		var e *sandagent.Error
		if errors.As(err, &e) {
			c := *e
			c.Message = "URL " + part + ": " + e.Message
			return &c
		}
		return err
	}
}
