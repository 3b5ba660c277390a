// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// quota is a request quota as the admin API shows it.
type quota struct {
	Target string `json:"target"`
	RPM    int    `json:"rpm"`
}

// maxRPM is the largest quota the server accepts.
const maxRPM = 100_000_000

// parseQuotaTarget checks a quota target: app:NAME or projects/P.
func parseQuotaTarget(s string) (string, error) {
	if name, ok := strings.CutPrefix(s, "app:"); ok {
		if err := checkAppName(name); err != nil {
			return "", err
		}
		return s, nil
	}
	if p := projectName(s); p != "" {
		return p, nil
	}
	return "", usageErrorf("%q is not a quota target: want app:NAME or projects/P", s)
}

func quotaPath(target string) string { return "/admin/v1/quotas/" + target }

// formatRPM formats a quota for a person.
func formatRPM(rpm int) string {
	if rpm == 0 {
		return "none"
	}
	return strconv.Itoa(rpm)
}

func newQuotasCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "quotas",
		Aliases: []string{"quota"},
		Short:   "Limit the request rate of apps and projects",
		Long: `Limit the request rate of an app (app:NAME) or of a project (projects/P), in
requests per minute, through the admin API (/admin/v1/quotas). Nothing is
limited unless a quota is set; the built-in admin is never limited. Each
request takes a token from its app's bucket and from its project's; a
request over quota fails with RESOURCE_EXHAUSTED (HTTP 429) and a
Retry-After. Only the admin may manage quotas.`,
		Example: `  custos quotas set app:billing --rpm 600
  custos quotas set projects/payments --rpm 6000
  custos quotas list
  custos quotas delete app:billing`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newQuotasSetCmd(g), newQuotasListCmd(g), newQuotasGetCmd(g), newQuotasDeleteCmd(g))
	return cmd
}

func newQuotasSetCmd(g *globals) *cobra.Command {
	var rpm int
	cmd := &cobra.Command{
		Use:   "set TARGET --rpm N",
		Short: "Set the request quota of an app or a project",
		Long: `Set the quota of TARGET (app:NAME or projects/P) to N requests per minute,
replacing any quota it had. --rpm 0 removes the quota. The app or project
may burst up to N requests at once, then gets N per minute. Prints the quota.`,
		Example: `  custos quotas set app:billing --rpm 600
  custos quotas set projects/payments --rpm 6000 -o json
  custos quotas set app:billing --rpm 0`,
		Args: exactArgs("TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseQuotaTarget(args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("rpm") {
				return usageErrorf("missing --rpm N (0 removes the quota)")
			}
			if rpm < 0 || rpm > maxRPM {
				return usageErrorf("--rpm must be between 0 and %d, not %d", maxRPM, rpm)
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPut, quotaPath(target), nil, map[string]int{"rpm": rpm})
				if err != nil {
					return err
				}
				return g.printQuota(raw)
			})
		},
	}
	cmd.Flags().IntVar(&rpm, "rpm", 0, "requests per minute, `N`; 0 removes the quota")
	return cmd
}

func newQuotasListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the request quotas",
		Long:  `List every quota set. --output json prints one array of {"target","rpm"} objects.`,
		Example: `  custos quotas list
  custos quotas list -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client) error {
				items, err := c.adminList(ctx, "/admin/v1/quotas", "quotas", nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSONArray(g.stdout, items)
				}
				if len(items) == 0 {
					notef(g.stderr, "no quotas")
					return nil
				}
				var rows [][]string
				for _, raw := range items {
					var q quota
					if err := decodeJSON(raw, &q); err != nil {
						return err
					}
					rows = append(rows, []string{q.Target, formatRPM(q.RPM)})
				}
				return printTable(g.stdout, []string{"TARGET", "RPM"}, rows)
			})
		},
	}
}

func newQuotasGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get TARGET",
		Short: "Show the request quota of an app or a project",
		Long: `Show the quota of TARGET (app:NAME or projects/P). A target without quota is
NOT_FOUND (exit status 1).`,
		Example: `  custos quotas get app:billing
  custos quotas get projects/payments -o json`,
		Args: exactArgs("TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseQuotaTarget(args[0])
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodGet, quotaPath(target), nil, nil)
				if err != nil {
					return err
				}
				return g.printQuota(raw)
			})
		},
	}
}

func newQuotasDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete TARGET",
		Short: "Remove the request quota of an app or a project",
		Long: `Remove the quota of TARGET (app:NAME or projects/P), as "set TARGET --rpm 0"
does. Removing a quota that is not there is not an error. Text output is a
note on stderr; --output json prints the server's answer, {}.`,
		Example: `  custos quotas delete app:billing`,
		Args:    exactArgs("TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseQuotaTarget(args[0])
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodDelete, quotaPath(target), nil, nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				notef(g.stderr, "removed the quota of %s", target)
				return nil
			})
		},
	}
}

// printQuota prints a quota answer.
func (g *globals) printQuota(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	var q quota
	if err := decodeJSON(raw, &q); err != nil {
		return err
	}
	return printFields(g.stdout, []field{{"Target", q.Target}, {"Requests per minute", formatRPM(q.RPM)}})
}
