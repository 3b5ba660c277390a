// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// group is a group of apps as the admin API shows it.
type group struct {
	Name string   `json:"name"`
	Apps []string `json:"apps"`
}

// groupNameRE is the syntax of group names, as the server defines it.
var groupNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,128}$`)

// checkGroupName returns a usage error unless s is a valid group name.
func checkGroupName(s string) error {
	if !groupNameRE.MatchString(s) {
		return usageErrorf("%q is not a valid group name: letters, digits, '.', '_', '-' or '@'", s)
	}
	return nil
}

func groupPath(name string) string { return "/admin/v1/groups/" + name }

func newGroupsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "groups",
		Aliases: []string{"group"},
		Short:   "Manage groups of apps that policies can name as group:NAME",
		Long: `Manage groups of apps, through the admin API (/admin/v1/groups). A policy
binding that names "group:NAME" grants its role to every app in the group;
a change to a group applies at once. Only the admin may manage groups.`,
		Example: `  custos iam groups set readers --apps billing,reports
  custos iam add-binding projects/p --member group:readers --role roles/cloudkms.viewer
  custos iam groups list
  custos iam groups delete readers`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newGroupsSetCmd(g), newGroupsGetCmd(g), newGroupsListCmd(g), newGroupsDeleteCmd(g))
	return cmd
}

func newGroupsSetCmd(g *globals) *cobra.Command {
	var apps []string
	cmd := &cobra.Command{
		Use:   "set NAME --apps APP,...",
		Short: "Create or replace a group of apps",
		Long: `Create the group NAME, or replace its members, with the apps given by --apps
(app names, with or without "app:", comma-separated or repeated). --apps ''
empties the group. Prints the group.`,
		Example: `  custos iam groups set readers --apps billing,reports
  custos iam groups set readers --apps billing --apps app:reports
  custos iam groups set readers --apps ''`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGroupName(args[0]); err != nil {
				return err
			}
			if !cmd.Flags().Changed("apps") {
				return usageErrorf("missing --apps APP,... (--apps '' for an empty group)")
			}
			members := []string{}
			for _, a := range apps {
				a = strings.TrimSpace(a)
				if a == "" {
					continue
				}
				if err := checkAppName(strings.TrimPrefix(a, "app:")); err != nil {
					return err
				}
				members = append(members, a)
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPut, groupPath(args[0]), nil, map[string][]string{"apps": members})
				if err != nil {
					return err
				}
				return g.printGroup(raw)
			})
		},
	}
	cmd.Flags().StringSliceVar(&apps, "apps", nil, "member `APPS`, comma-separated or repeated")
	return cmd
}

func newGroupsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a group of apps",
		Long:    `Show the group NAME and its apps.`,
		Example: `  custos iam groups get readers -o json`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGroupName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodGet, groupPath(args[0]), nil, nil)
				if err != nil {
					return err
				}
				return g.printGroup(raw)
			})
		},
	}
}

func newGroupsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the groups of apps",
		Long:  `List every group and its apps. --output json prints one array of {"name","apps"} objects.`,
		Example: `  custos iam groups list
  custos iam groups list -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client) error {
				items, err := c.adminList(ctx, "/admin/v1/groups", "groups", nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSONArray(g.stdout, items)
				}
				if len(items) == 0 {
					notef(g.stderr, "no groups")
					return nil
				}
				var rows [][]string
				for _, raw := range items {
					var gr group
					if err := decodeJSON(raw, &gr); err != nil {
						return err
					}
					rows = append(rows, []string{gr.Name, strings.Join(gr.Apps, ",")})
				}
				return printTable(g.stdout, []string{"NAME", "APPS"}, rows)
			})
		},
	}
}

func newGroupsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a group of apps",
		Long: `Delete the group NAME. Bindings that name "group:NAME" stay in their policies
and grant nothing until a group of that name exists again. Text output is a
note on stderr; --output json prints the server's answer, {}.`,
		Example: `  custos iam groups delete readers`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGroupName(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodDelete, groupPath(args[0]), nil, nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				notef(g.stderr, "deleted group %s", args[0])
				return nil
			})
		},
	}
}

// printGroup prints a group answer.
func (g *globals) printGroup(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	var gr group
	if err := decodeJSON(raw, &gr); err != nil {
		return err
	}
	apps := strings.Join(gr.Apps, ",")
	if apps == "" {
		apps = "(none)"
	}
	return printFields(g.stdout, []field{{"Name", gr.Name}, {"Member", "group:" + gr.Name}, {"Apps", apps}})
}
