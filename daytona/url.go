package daytona

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
)

func init() {
	sandagent.Register("daytona", openURL)
}

// openURL makes a Sandbox from a URL such as
//
//	daytona://my-project?volume=my-project-volume&autostop=15m
//
// The host is the sandbox name (or use ?id= to reattach by id). Query
// parameters: volume=name[:mountPath] (repeatable), autostop, autoarchive,
// autodelete (durations; autodelete=-1 disables), snapshot, image, language,
// target, public, networkblockall (booleans), networkallowlist (comma-
// separated CIDRs), id. Credentials come from the environment.
func openURL(u *url.URL) (sandagent.Sandbox, error) {
	var opts []Option
	if u.Host != "" {
		opts = append(opts, WithName(u.Host))
	}
	q := u.Query()
	var unknown []string
	for key, vals := range q {
		for _, v := range vals {
			o, err := urlOption(key, v)
			if err != nil {
				return nil, err
			}
			if o == nil {
				unknown = append(unknown, key)
				break
			}
			opts = append(opts, o)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, invalid("unknown query parameters %s (known: volume, autostop, autoarchive, autodelete, snapshot, image, language, target, public, networkblockall, networkallowlist, id)", strings.Join(unknown, ", "))
	}
	return New(opts...)
}

func urlOption(key, v string) (Option, error) {
	dur := func(f func(time.Duration) Option) (Option, error) {
		if v == "-1" {
			return f(-1), nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, invalid("%s=%q: want a duration such as 15m", key, v)
		}
		return f(d), nil
	}
	boolean := func(f func(bool) Option) (Option, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, invalid("%s=%q: want true or false", key, v)
		}
		return f(b), nil
	}
	switch key {
	case "volume":
		name, mount, _ := strings.Cut(v, ":")
		return WithVolume(name, mount), nil
	case "autostop":
		return dur(WithAutoStop)
	case "autoarchive":
		return dur(WithAutoArchive)
	case "autodelete":
		return dur(WithAutoDelete)
	case "snapshot":
		return WithSnapshot(v), nil
	case "image":
		return WithImage(v), nil
	case "language":
		return WithLanguage(v), nil
	case "target":
		return WithTarget(v), nil
	case "id":
		return WithID(v), nil
	case "public":
		return boolean(WithPublic)
	case "networkblockall":
		return boolean(WithNetworkBlockAll)
	case "networkallowlist":
		return WithNetworkAllowList(strings.Split(v, ",")...), nil
	}
	return nil, nil
}
