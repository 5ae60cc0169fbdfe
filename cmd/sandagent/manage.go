package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
