// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"

	"github.com/spf13/cobra"
)

// salesforceKey is a Salesforce cache-only key as the admin API shows it.
type salesforceKey struct {
	KID                 string `json:"kid"`
	Name                string `json:"name"`
	CryptoKeyVersion    string `json:"cryptoKeyVersion"`
	CertificateSHA256   string `json:"certificateSha256"`
	CertificateSubject  string `json:"certificateSubject"`
	CertificateNotAfter string `json:"certificateNotAfter"`
	RSABits             int    `json:"rsaBits"`
	CreateTime          string `json:"createTime"`
	Endpoint            string `json:"endpoint"`
}

const salesforceKeysPath = "/admin/v1/salesforce/keys"

// salesforceNameRE is the syntax of cache-only key names (a Cloud KMS key
// id), which also keeps a name from changing the path of a request; key
// identifiers have Salesforce's syntax, a subset of it with '.'.
var (
	salesforceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
	salesforceKIDRE  = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)
)

// maxCertificateFile bounds the BYOK certificate file.
const maxCertificateFile = 64 << 10

func newSalesforceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "salesforce",
		Short: "Serve Salesforce Shield cache-only keys",
		Long: `Serve Salesforce Shield Platform Encryption cache-only keys: Salesforce
fetches a data encryption key from Custos, through a Named Credential, each
time it needs it, and never stores it. Custos answers with the key
encrypted to the BYOK certificate that Salesforce issued, as a JWE.

Set up: in Salesforce, create a BYOK-compatible certificate and download it;
create the cache-only key here with that certificate; create an app with an
API key and grant it roles/custos.exporter on the key; in Salesforce,
create a Named Credential with the URL that "create" prints, password
authentication, the app's name as username and the API key as password;
then bring the key in with "Use a Cache-Only Key", giving the key
identifier that "create" prints as its Unique Key Identifier.

Only the admin may manage cache-only keys.`,
		Example: `  custos salesforce keys create --cert byok.crt --name fle-2026
  custos apps create sfdc
  custos apps keys create sfdc > sfdc.key    # the Named Credential's password
  custos iam add-binding projects/salesforce/locations/global/keyRings/salesforce/cryptoKeys/fle-2026 \
      --member app:sfdc --role roles/custos.exporter`,
		Args: groupArgs,
		RunE: groupRun,
	}
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, show and delete cache-only keys",
		Long: `Manage Salesforce cache-only keys (/admin/v1/salesforce/keys). A cache-only
key ties a key identifier (a UUID, Salesforce's "Unique Key Identifier") to
an ENABLED version of an exportable RAW_ENCRYPT_DECRYPT AES_256_GCM key, its
data encryption key, and to Salesforce's BYOK certificate.`,
		Example: `  custos salesforce keys create --cert byok.crt --name fle-2026
  custos salesforce keys list
  custos salesforce keys get fle-2026 -o json
  custos salesforce keys delete fle-2026`,
		Args: groupArgs,
		RunE: groupRun,
	}
	keys.AddCommand(newSalesforceCreateCmd(g), newSalesforceListCmd(g), newSalesforceGetCmd(g), newSalesforceDeleteCmd(g))
	cmd.AddCommand(keys)
	return cmd
}

func newSalesforceCreateCmd(g *globals) *cobra.Command {
	var certFile, name, key string
	cmd := &cobra.Command{
		Use:   "create --cert FILE --name NAME [--key KEY]",
		Short: "Create a cache-only key for Salesforce",
		Long: `Create a cache-only key named NAME, encrypted for the Salesforce BYOK
certificate in FILE (PEM or DER, as Salesforce's "Download Certificate"
gives it; an RSA key of 2048 or 4096 bits).

--key uses an existing key, or one of its versions: it must be an exportable
RAW_ENCRYPT_DECRYPT AES_256_GCM key, and a key must have exactly one ENABLED
version. Without --key, the key
projects/salesforce/locations/global/keyRings/salesforce/cryptoKeys/NAME is
created (and its key ring if missing), exportable. The version is fixed for
the life of the cache-only key.

Prints the key identifier on stdout (with --output json, the whole key), and
on stderr the URL to give Salesforce's Named Credential: {server}/salesforce/v1/keys.`,
		Example: `  custos salesforce keys create --cert byok.crt --name fle-2026
  custos salesforce keys create --cert byok.crt --name fle-2026 \
      --key projects/p/locations/global/keyRings/r/cryptoKeys/dek -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case certFile == "":
				return usageErrorf("missing --cert FILE: the BYOK certificate downloaded from Salesforce")
			case name == "":
				return usageErrorf("missing --name NAME")
			case !salesforceNameRE.MatchString(name):
				return usageErrorf("--name %q must be 1 to 63 letters, digits, '_' and '-'", name)
			}
			if key != "" {
				n, err := parseAs(key, kindCryptoKey, kindVersion)
				if err != nil {
					return err
				}
				key = n.String()
			}
			cert, err := readCertificate(certFile)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPost, salesforceKeysPath, nil, map[string]string{
					"name": name, "certificate": cert, "key": key,
				})
				if err != nil {
					return err
				}
				var k salesforceKey
				if err := decodeJSON(raw, &k); err != nil {
					return err
				}
				notef(g.stderr, "created the cache-only key %s on %s", k.Name, k.CryptoKeyVersion)
				notef(g.stderr, "Named Credential URL: %s (Salesforce appends /KEY_IDENTIFIER)", k.Endpoint)
				notef(g.stderr, "Unique Key Identifier: %s", k.KID)
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				_, err = fmt.Fprintln(g.stdout, k.KID)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&certFile, "cert", "", "Salesforce's BYOK certificate, PEM or DER, from `FILE`")
	cmd.Flags().StringVar(&name, "name", "", "`NAME` of the cache-only key")
	cmd.Flags().StringVar(&key, "key", "", "an existing exportable AES_256_GCM `KEY` (or version) to serve")
	return cmd
}

// readCertificate reads a certificate file and returns its certificates
// as PEM: the CERTIFICATE blocks of a PEM file (anything else in it, a
// private key for one, never leaves this machine), or a DER certificate.
// The server checks the rest.
func readCertificate(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--cert: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCertificateFile+1))
	if err != nil {
		return "", fmt.Errorf("--cert: %w", err)
	}
	if len(b) > maxCertificateFile {
		return "", fmt.Errorf("--cert: %s is larger than %d bytes; it is not a certificate", path, maxCertificateFile)
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		var out []byte
		for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
			if block.Type == "CERTIFICATE" {
				out = append(out, pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})...)
			}
		}
		if out == nil {
			return "", fmt.Errorf("--cert: %s holds no PEM CERTIFICATE block", path)
		}
		return string(out), nil
	}
	cert, err := x509.ParseCertificate(b)
	if err != nil {
		return "", fmt.Errorf("--cert: %s is neither PEM nor a DER X.509 certificate", path)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})), nil
}

// checkSalesforceKey checks a key identifier or name given as argument.
func checkSalesforceKey(s string) error {
	if !salesforceKIDRE.MatchString(s) || s == "." || s == ".." {
		return usageErrorf("%q is neither a key identifier nor a cache-only key name", s)
	}
	return nil
}

func newSalesforceListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the cache-only keys",
		Long:  `List every cache-only key. --output json prints one array of keys.`,
		Example: `  custos salesforce keys list
  custos salesforce keys list -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client) error {
				items, err := c.adminList(ctx, salesforceKeysPath, "keys", nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSONArray(g.stdout, items)
				}
				if len(items) == 0 {
					notef(g.stderr, "no cache-only keys")
					return nil
				}
				var rows [][]string
				for _, raw := range items {
					var k salesforceKey
					if err := decodeJSON(raw, &k); err != nil {
						return err
					}
					rows = append(rows, []string{k.KID, k.Name, k.CryptoKeyVersion, formatTimeString(k.CertificateNotAfter)})
				}
				return printTable(g.stdout, []string{"KEY IDENTIFIER", "NAME", "VERSION", "CERTIFICATE EXPIRES"}, rows)
			})
		},
	}
}

func newSalesforceGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get KID|NAME",
		Short: "Show a cache-only key",
		Long:  `Show a cache-only key, by key identifier or by name.`,
		Example: `  custos salesforce keys get fle-2026
  custos salesforce keys get 982c375b-f46b-4423-8c2d-4d1a69152a0b -o json`,
		Args: exactArgs("KID|NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSalesforceKey(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodGet, salesforceKeysPath+"/"+url.PathEscape(args[0]), nil, nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				var k salesforceKey
				if err := decodeJSON(raw, &k); err != nil {
					return err
				}
				return printFields(g.stdout, []field{
					{"Key identifier", k.KID},
					{"Name", k.Name},
					{"Version", k.CryptoKeyVersion},
					{"Named Credential URL", k.Endpoint},
					{"Certificate subject", k.CertificateSubject},
					{"Certificate SHA-256", k.CertificateSHA256},
					{"Certificate expires", formatTimeString(k.CertificateNotAfter)},
					{"RSA bits", strconv.Itoa(k.RSABits)},
					{"Created", formatTimeString(k.CreateTime)},
				})
			})
		},
	}
}

func newSalesforceDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete KID|NAME",
		Short: "Delete a cache-only key",
		Long: `Delete a cache-only key, by key identifier or by name: Salesforce's next
fetch of it fails (404). The Custos key and its material stay; disable or
destroy its version to stop every use of the material. Text output is a
note on stderr; --output json prints the server's answer, {}.`,
		Example: `  custos salesforce keys delete fle-2026`,
		Args:    exactArgs("KID|NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSalesforceKey(args[0]); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodDelete, salesforceKeysPath+"/"+url.PathEscape(args[0]), nil, nil)
				if err != nil {
					return err
				}
				if g.json() {
					return printJSON(g.stdout, raw)
				}
				notef(g.stderr, "deleted the cache-only key %s", args[0])
				return nil
			})
		},
	}
}
