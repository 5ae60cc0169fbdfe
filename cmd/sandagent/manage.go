package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/sandagent/sandagent"
)

// manager returns the Manager a URL's provider offers.
func manager(url string) (sandagent.Manager, error) {
	sb, err := sandagent.FromURL(url)
	if err != nil {
		return nil, err
	}
	m, ok := sb.(sandagent.Manager)
	if !ok {
		return nil, sandagent.Errorf(sandagent.ErrUnsupported, "this provider cannot list its sandboxes")
	}
	return m, nil
}

// lifecycle pauses, stops or kills the sandbox the URL names, found among
// the provider's managed sandboxes by name or id: it never creates one.
func lifecycle(ctx context.Context, op, rawURL string) error {
	m, err := manager(rawURL)
	if err != nil {
		return err
	}
	name, id := target(rawURL)
	if name == "" && id == "" {
		return sandagent.Errorf(sandagent.ErrInvalid, "%s needs a sandbox to look up: give its name (scheme://name) or id (scheme://?id=ID)", op)
	}
	var found *sandagent.Info
	for info, err := range m.Managed(ctx) {
		if err != nil {
			return err
		}
		if info.State != sandagent.StateDestroyed && ((id != "" && info.ID == id) || (id == "" && info.Name == name)) {
			found = &info
			break
		}
	}
	switch {
	case found == nil && id != "":
		return sandagent.Errorf(sandagent.ErrNotFound, "no sandbox with id %s", id)
	case found == nil:
		return sandagent.Errorf(sandagent.ErrNotFound, "no sandbox named %s", name)
	case op == "kill":
		return m.Kill(ctx, found.ID)
	case op == "pause" && found.State == sandagent.StatePaused,
		op == "stop" && (found.State == sandagent.StateStopped || found.State == sandagent.StateArchived):
		return nil // already there
	}
	h, err := sandagent.Open(ctx, byID(rawURL, found.ID))
	if err != nil {
		return err
	}
	defer h.Close()
	if op == "pause" {
		return h.Pause(ctx)
	}
	return h.Stop(ctx)
}

// byID rewrites a sandbox URL to attach by id, keeping its other
// parameters (such as local's dir).
func byID(rawURL, id string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	q.Set("id", id)
	u.Host, u.RawQuery = "", q.Encode()
	return u.String()
}

// reap lists the sandboxes o selects (a dry run) or, with o.Apply,
// destroys them and prints a line for each one destroyed (JSON lines with
// asJSON), even when it stops at an error.
func reap(ctx context.Context, m sandagent.Manager, o sandagent.ReapOptions, asJSON bool, io stdio) error {
	picked, err := sandagent.Reap(ctx, m, o)
	if o.Apply && !asJSON {
		for _, i := range picked {
			fmt.Fprintf(io.out, "destroyed %s\t%s\n", i.ID, dash(i.Name))
		}
		fmt.Fprintf(io.errOut, "%d destroyed\n", len(picked))
		return err
	}
	if perr := printInfos(picked, asJSON, io.out); err == nil {
		err = perr
	}
	if !o.Apply && len(picked) > 0 {
		fmt.Fprintln(io.errOut, "dry run: nothing destroyed; add --apply to destroy these")
	}
	return err
}

// list prints the managed sandboxes, as a table or as JSON lines.
func list(ctx context.Context, m sandagent.Manager, asJSON bool, stdout io.Writer) error {
	var infos []sandagent.Info
	for info, err := range m.Managed(ctx) {
		if err != nil {
			return err
		}
		infos = append(infos, info)
	}
	return printInfos(infos, asJSON, stdout)
}

func printInfos(infos []sandagent.Info, asJSON bool, stdout io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, i := range infos {
			if err := enc.Encode(i); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tAGE")
	for _, i := range infos {
		age := "-"
		if !i.CreatedAt.IsZero() {
			age = time.Since(i.CreatedAt).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.ID, dash(i.Name), dash(string(i.State)), age)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
