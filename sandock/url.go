package sandock

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

func init() { sandagent.Register("sandock", open) }

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
	q, err := parseURL(u)
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
				return nil, badParam(k, "want an http:// or https:// URL without credentials")
			}
			o = WithBaseURL(v)
		case "volume":
			for _, vol := range q[k] {
				name, mount, ok := strings.Cut(vol, ":")
				if !ok {
					return nil, badParam(k, "want name:/mount/path")
				}
				opts = append(opts, urlPart("parameter volume", WithVolume(name, mount)))
			}
			continue
		case "memory", "cpu":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, badParam(k, "want an integer")
			}
			if k == "memory" {
				o = WithMemory(n)
			} else {
				o = WithCPU(n)
			}
		case "deadline":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, badParam(k, "want a duration such as 1h")
			}
			o = WithActiveDeadline(d)
		case "restart":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, badParam(k, "want true or false")
			}
			if !on {
				continue
			}
			o = WithRestartStopped()
		default:
			unknown = append(unknown, k)
			continue
		}
		opts = append(opts, urlPart("parameter "+k, o))
	}
	if len(unknown) > 0 {
		return nil, unknownParams(unknown, "id, image, title, volume, memory, cpu, deadline, restart, baseurl")
	}
	return New(opts...)
}

// parseURL checks everything in a sandock URL but the meaning of its
// parameters (only volume may be repeated), and returns its query.
func parseURL(u *url.URL) (url.Values, error) {
	switch {
	case u.User != nil:
		return nil, invalidURL("credentials do not belong in a URL: set SANDOCK_API_KEY")
	case u.Opaque != "":
		return nil, invalidURL("malformed URL: want sandock://?id=…")
	case u.Host != "":
		return nil, invalidURL("unexpected host in the URL: sandock sandboxes have no names; reattach by id: sandock://?id=…")
	case u.Path != "" && u.Path != "/":
		return nil, invalidURL("unexpected path in the URL: sandock sandboxes have no names; reattach by id: sandock://?id=…")
	case u.Fragment != "":
		return nil, invalidURL("unexpected fragment in the URL")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, invalidURL("malformed URL query: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if vs := q[k]; len(vs) > 1 && k != "volume" {
			return nil, invalidURL("URL parameter %s given %d times", showParam(k), len(vs))
		}
	}
	return q, nil
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
