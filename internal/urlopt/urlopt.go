// Package urlopt is what the providers' URL openers share: the checks of
// everything in a sandbox URL but the meaning of its parameters, and errors
// that name the bad part without repeating what might be a secret.
package urlopt

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/sandagent/sandagent"
)

// Spec describes a provider's URLs.
type Spec struct {
	Scheme     string   // "e2b"
	KeyEnv     string   // the API key's variable; "" when the provider needs none
	Named      bool     // the host is a sandbox name; without names a host is an error
	Repeatable []string // parameters that may be given more than once (e.g. "volume")
}

// Parse checks u and returns the sandbox name (the host, unescaped) and the
// query. Credentials, an opaque URL, a port, a path, a fragment, a malformed
// query, a repeated parameter and a name given with an id are ErrInvalid.
func Parse(u *url.URL, s Spec) (name string, q url.Values, err error) {
	form := s.Scheme + "://name?… or " + s.Scheme + "://?id=…"
	hostIs := "the sandbox name is the host: " + s.Scheme + "://name"
	if !s.Named {
		form = s.Scheme + "://?id=…"
		hostIs = s.Scheme + " sandboxes have no names; reattach by id: " + form
	}
	switch {
	case u.User != nil && s.KeyEnv == "":
		return "", nil, invalid("credentials do not belong in a URL: %s sandboxes need none", s.Scheme)
	case u.User != nil:
		return "", nil, invalid("credentials do not belong in a URL: set %s", s.KeyEnv)
	case u.Opaque != "":
		return "", nil, invalid("malformed URL: want %s", form)
	case !s.Named && u.Host != "":
		return "", nil, invalid("unexpected host in the URL: %s", hostIs)
	case u.Port() != "":
		return "", nil, invalid("unexpected port in the URL (%s)", hostIs)
	case u.Path != "" && u.Path != "/":
		return "", nil, invalid("unexpected path in the URL (%s)", hostIs)
	case u.Fragment != "":
		return "", nil, invalid("unexpected fragment in the URL")
	}
	if name, err = url.PathUnescape(u.Host); err != nil {
		return "", nil, invalid("malformed host (the sandbox name) in the URL")
	}
	if q, err = url.ParseQuery(u.RawQuery); err != nil {
		return "", nil, invalid("malformed URL query: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if vs := q[k]; len(vs) > 1 && !slices.Contains(s.Repeatable, k) {
			return "", nil, invalid("URL parameter %s given %d times", Show(k), len(vs))
		}
	}
	if name != "" && q.Has("id") {
		return "", nil, invalid("URL gives both a name (the host) and an id; choose one")
	}
	return name, q, nil
}

func invalid(format string, args ...any) error {
	return sandagent.Errorf(sandagent.ErrInvalid, format, args...)
}

// BadValue is the error for a parameter whose value does not parse. It
// does not repeat the value.
func BadValue(key, want string) error {
	return invalid("URL parameter %s: %s", key, want)
}

// Unknown is the error for parameters the provider does not know, named if
// they look like parameter names (a key pasted in as one is not repeated).
func Unknown(keys []string, known string) error {
	shown := make([]string, len(keys))
	for i, k := range keys {
		shown[i] = Show(k)
	}
	s := ""
	if len(keys) > 1 {
		s = "s"
	}
	return invalid("unknown URL parameter%s %s (known: %s)", s, strings.Join(shown, ", "), known)
}

// Show returns k if it looks like a parameter name, else a description
// that does not repeat it.
func Show(k string) string {
	const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	if k == "" {
		return `""`
	}
	if len(k) > 32 || strings.Trim(k, nameChars) != "" {
		return fmt.Sprintf("(a %d-byte name, not shown)", len(k))
	}
	return k
}

// Part makes the error of option o, if any, name the part of the URL it
// came from ("parameter timeout", "host (the sandbox name)").
func Part[O ~func(*S) error, S any](part string, o O) O {
	return func(s *S) error {
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
