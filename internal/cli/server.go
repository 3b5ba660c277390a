// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServerCmd builds `custos server`. Placeholder until internal/server lands.
func newServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "server",
		Short: "Run the Custos server",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("server: not built yet")
		},
	}
}
