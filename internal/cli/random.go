// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/base64"
	"fmt"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"
)

// Bounds of GenerateRandomBytesRequest.length_bytes in Cloud KMS.
const (
	minRandomBytes = 8
	maxRandomBytes = 1024
)

func newRandomCmd(g *globals) *cobra.Command {
	var (
		length          int
		protectionLevel string
		out             string
	)
	cmd := &cobra.Command{
		Use:   "random LOCATION --length N",
		Short: "Generate random bytes on the server",
		Long: fmt.Sprintf(`Ask the server for N random bytes (%d to %d) with
POST /v1/LOCATION:generateRandomBytes, LOCATION being projects/P/locations/L.

Prints the bytes in base64 on one line, or writes them raw to --out FILE
(created with mode 0600). --protection-level picks the source, e.g. HSM
(default: the server's). With --output json the GenerateRandomBytesResponse
object is printed.`, minRandomBytes, maxRandomBytes),
		Example: `  custos random projects/p/locations/global --length 32
  custos random projects/p/locations/global --length 64 --protection-level HSM --out seed.bin`,
		Args: exactArgs("LOCATION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseAs(args[0], kindLocation)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("length") {
				return usageErrorf("--length N is required")
			}
			if length < minRandomBytes || length > maxRandomBytes {
				return usageErrorf("--length must be between %d and %d, not %d", minRandomBytes, maxRandomBytes, length)
			}
			req := &kmspb.GenerateRandomBytesRequest{LengthBytes: int32(length)}
			if cmd.Flags().Changed("protection-level") {
				if req.ProtectionLevel, err = parseProtectionLevel("protection-level", protectionLevel); err != nil {
					return err
				}
			}
			if g.json() && cmd.Flags().Changed("out") {
				return usageErrorf("--out writes raw bytes; with --output json the response object goes to stdout")
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				resp := &kmspb.GenerateRandomBytesResponse{}
				body, err := c.call(ctx, loc.path(":generateRandomBytes"), req, resp)
				if err != nil {
					return err
				}
				if err := checkCRC("random data", resp.GetData(), resp.GetDataCrc32C()); err != nil {
					return err
				}
				if len(resp.GetData()) != length {
					return fmt.Errorf("the server sent %d random bytes, not %d", len(resp.GetData()), length)
				}
				switch {
				case g.json():
					return printJSON(g.stdout, body)
				case out != "":
					return g.writeOutput("out", out, resp.GetData())
				}
				_, err = fmt.Fprintln(g.stdout, base64.StdEncoding.EncodeToString(resp.GetData()))
				return err
			})
		},
	}
	cmd.Flags().IntVar(&length, "length", 0, "number of `BYTES` to generate (required)")
	cmd.Flags().StringVar(&protectionLevel, "protection-level", "", "`LEVEL` of the source, e.g. HSM")
	cmd.Flags().StringVar(&out, "out", "", "write the raw bytes to `FILE` instead of printing base64")
	return cmd
}
