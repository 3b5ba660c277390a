// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/custos-kms/custos/internal/api/admin"
)

func newAdminTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin-token",
		Short: "Change the admin token",
		Long: `Change the admin token of a running server. The old token is refused at once.
With the server stopped, "custos init --new-admin-token" does the same for
whoever holds the root key.`,
		Example: `  custos admin-token rotate > new-admin-token`,
		Args:    groupArgs,
		RunE:    groupRun,
	}
	cmd.AddCommand(newAdminTokenRotateCmd(g))
	return cmd
}

func newAdminTokenRotateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Replace the admin token with a new one; the old one is refused at once",
		Long: `Ask the server for a new admin token (the admin only). The server keeps it
(in production only its SHA-256), records the change in the audit log
(RotateAdminToken, never the token), and from then on accepts the new token
and refuses the old one, which this command used. The new token is printed
once on standard output, a line of its own (--output json: {"token"}): store
it in your secret manager before anything else. A dev server also rewrites
its token file DATA/admin-token.

If the token is lost, or someone else may have changed it first, stop the
server and run "custos init --data DIR --root-key-file F --new-admin-token"
with the root key.`,
		Example: `  custos admin-token rotate > new-admin-token
  custos admin-token rotate -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, "/admin/v1/adminToken:rotate", nil, nil)
				if err != nil {
					return err
				}
				var a admin.AdminTokenJSON
				if err := decodeJSON(raw, &a); err != nil {
					return err
				}
				if a.Token == "" {
					return fmt.Errorf("the server's answer holds no token")
				}
				if g.json() {
					return printValue(g.stdout, a)
				}
				if _, err := fmt.Fprintln(g.stdout, a.Token); err != nil {
					return err
				}
				notef(g.stderr, "the admin token was changed: the old one is refused from now on")
				return nil
			})
		},
	}
}
