// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/custos-kms/custos/internal/api/admin"
)

func newBarrierCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "barrier",
		Short: "Rotate the barrier key that seals the key material at rest",
		Long: `The barrier key seals every key version's material, every import job's
wrapping private key (and a dev server's admin token) in the store; it is
itself sealed under the root key. Rotating it adds a new barrier key, which
seals everything from then on, and seals again under it what older ones
sealed. Keys, versions and ciphertexts do not change. Older barrier keys
stay in the store (a backup taken before still opens with the root key).`,
		Example: `  custos barrier rotate
  custos barrier reseal -o json`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newBarrierRunCmd(g, "rotate", "/admin/v1/barrier:rotate",
			"Add a new barrier key and seal everything again under it",
			`Add a barrier key and seal again under it every sealed value that older ones
sealed (the admin only; recorded as RotateBarrierKey). Prints the new
barrier key's number and how many sealed values were moved to it
(--output json: {"barrier","resealed"}). If it fails halfway, everything
stays readable: run "custos barrier reseal" to finish. It has no time limit
unless --timeout is given.`),
		newBarrierRunCmd(g, "reseal", "/admin/v1/barrier:reseal",
			"Seal again under the current barrier key what older ones sealed",
			`Seal again under the current barrier key every sealed value that older ones
sealed, without adding a barrier key: the second half of "custos barrier
rotate", to finish one cut short (the admin only; recorded as
ResealBarrierKey). Prints as rotate does.`),
	)
	return cmd
}

func newBarrierRunCmd(g *globals, use, path, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: "  custos barrier " + use + "\n  custos barrier " + use + " -o json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A pass reads the whole store: the default time limit of a
			// command would cut a large one short.
			if _, fromEnv := g.env("timeout", envTimeout); !g.flags.Changed("timeout") && !fromEnv {
				g.timeout = 0
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, path, nil, nil)
				if err != nil {
					return err
				}
				var b admin.BarrierJSON
				if err := decodeJSON(raw, &b); err != nil {
					return err
				}
				if b.Barrier == 0 {
					return fmt.Errorf("the server's answer names no barrier key")
				}
				if g.json() {
					return printValue(g.stdout, b)
				}
				_, err = fmt.Fprintf(g.stdout, "barrier key %d seals everything now; %d sealed values moved to it\n", b.Barrier, b.Resealed)
				return err
			})
		},
	}
}
