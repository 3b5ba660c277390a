// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"
)

func newPublicKeyCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "public-key VERSION_NAME",
		Short: "Print the public key of an asymmetric key version",
		Long: `Print the public key of the ASYMMETRIC_SIGN or ASYMMETRIC_DECRYPT version
VERSION_NAME (GET /v1/VERSION_NAME/publicKey) as PEM (a PKIX
SubjectPublicKeyInfo), to stdout or to --out.

With --output json the PublicKey object is printed (pem, algorithm,
pemCrc32c, name, protectionLevel).`,
		Example: `  custos public-key projects/p/locations/global/keyRings/app/cryptoKeys/signer/cryptoKeyVersions/1
  custos public-key projects/p/locations/global/keyRings/app/cryptoKeys/signer/cryptoKeyVersions/1 --out signer.pem
  custos public-key projects/p/locations/global/keyRings/app/cryptoKeys/signer/cryptoKeyVersions/1 -o json`,
		Args: exactArgs("VERSION_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseAs(args[0], kindVersion)
			if err != nil {
				return err
			}
			if err := g.noOutFileWithJSON(out); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				pk, raw, err := fetchPublicKey(ctx, c, v)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				p := pk.GetPem()
				if !strings.HasSuffix(p, "\n") {
					p += "\n"
				}
				return g.writeOutput("out", out, []byte(p))
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "-", "write the PEM to `FILE` (- for stdout)")
	return cmd
}

// fetchPublicKey gets the public key of version v and checks its checksum.
// It returns the decoded key and the raw response.
func fetchPublicKey(ctx context.Context, c *client, v resName) (*kmspb.PublicKey, []byte, error) {
	raw, err := c.get(ctx, v.path("/publicKey"), nil)
	if err != nil {
		return nil, nil, err
	}
	pk := &kmspb.PublicKey{}
	if err := unmarshal(raw, pk); err != nil {
		return nil, nil, err
	}
	if err := checkCRC("public key", []byte(pk.GetPem()), pk.GetPemCrc32C()); err != nil {
		return nil, nil, err
	}
	return pk, raw, nil
}

// parsePublicKey decodes the PEM of pk (a PKIX public key).
func parsePublicKey(pk *kmspb.PublicKey) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(pk.GetPem()))
	if block == nil {
		return nil, errors.New("the server's public key is not PEM")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("the server's public key is a PEM %q block, not \"PUBLIC KEY\"", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the public key of %s: %w", enumName(pk.GetAlgorithm()), err)
	}
	return pub, nil
}
