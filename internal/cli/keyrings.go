// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"net/url"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"
)

func newKeyRingsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keyrings",
		Aliases: []string{"keyring"},
		Short:   "Create, list and show key rings",
		Long: `Create, list and show key rings.

A key ring groups keys in a location. Key rings cannot be deleted.`,
		Example: `  custos keyrings create projects/p/locations/global/keyRings/app
  custos keyrings list projects/p/locations/global
  custos keyrings get projects/p/locations/global/keyRings/app -o json`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newKeyRingsCreateCmd(g), newKeyRingsListCmd(g), newKeyRingsGetCmd(g))
	return cmd
}

func newKeyRingsCreateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "create RING_NAME",
		Short: "Create a key ring",
		Long: `Create the key ring RING_NAME (projects/P/locations/L/keyRings/R).

Sends POST /v1/projects/P/locations/L/keyRings?keyRingId=R and prints the new
key ring.`,
		Example: `  custos keyrings create projects/p/locations/global/keyRings/app`,
		Args:    exactArgs("RING_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ring, err := parseAs(args[0], kindKeyRing)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.post(ctx, ring.parent().path("/keyRings"), url.Values{"keyRingId": {ring.keyRing}}, nil)
				if err != nil {
					return err
				}
				return g.printKeyRing(raw)
			})
		},
	}
}

func newKeyRingsListCmd(g *globals) *cobra.Command {
	var filter, orderBy string
	cmd := &cobra.Command{
		Use:   "list LOCATION",
		Short: "List the key rings in a location",
		Long: `List the key rings in LOCATION (projects/P/locations/L), following every page.

Text output is a table; --output json prints one array of KeyRing objects.`,
		Example: `  custos keyrings list projects/p/locations/global
  custos keyrings list projects/p/locations/global --order-by name -o json`,
		Args: exactArgs("LOCATION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseAs(args[0], kindLocation)
			if err != nil {
				return err
			}
			q := listQuery(filter, orderBy)
			return g.do(cmd, func(ctx context.Context, c *client) error {
				return printList(ctx, g, c, loc.path("/keyRings"), "keyRings", q, fmt.Sprintf("no key rings in %s", loc),
					[]string{"NAME", "CREATED"}, func(kr *kmspb.KeyRing) []string {
						return []string{kr.GetName(), formatTime(kr.GetCreateTime())}
					})
			})
		},
	}
	addListFlags(cmd, &filter, &orderBy)
	return cmd
}

func newKeyRingsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get RING_NAME",
		Short:   "Show a key ring",
		Long:    `Show the key ring RING_NAME (projects/P/locations/L/keyRings/R).`,
		Example: `  custos keyrings get projects/p/locations/global/keyRings/app`,
		Args:    exactArgs("RING_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ring, err := parseAs(args[0], kindKeyRing)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.get(ctx, ring.path(""), nil)
				if err != nil {
					return err
				}
				return g.printKeyRing(raw)
			})
		},
	}
}

// printKeyRing prints a KeyRing response.
func (g *globals) printKeyRing(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	kr := &kmspb.KeyRing{}
	if err := unmarshal(raw, kr); err != nil {
		return err
	}
	fields := []field{
		{"Name", kr.GetName()},
		{"Created", formatTime(kr.GetCreateTime())},
	}
	fields = append(fields, extensionFields(raw, knownFields(kr))...)
	return printFields(g.stdout, fields)
}

// addListFlags adds --filter and --order-by to a list command.
func addListFlags(cmd *cobra.Command, filter, orderBy *string) {
	cmd.Flags().StringVar(filter, "filter", "", "only list resources matching the Cloud KMS `FILTER` expression")
	cmd.Flags().StringVar(orderBy, "order-by", "", "sort by the Cloud KMS `ORDER` expression, e.g. \"name desc\"")
}

// listQuery builds the query of a list request.
func listQuery(filter, orderBy string) url.Values {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	if orderBy != "" {
		q.Set("orderBy", orderBy)
	}
	return q
}
