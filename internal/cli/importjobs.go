// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/spf13/cobra"

	"github.com/custos-kms/custos/internal/crypto/keywrap"
	"github.com/custos-kms/custos/internal/crypto/oaep"
)

// This file is key import: "custos import-jobs" (Cloud KMS ImportJobs) and
// "custos keys import", which wraps a key on the client machine for an
// import job and sends only the wrapped form.

// addImportCmds adds "import-jobs" to root and "import" to its "keys" command.
func addImportCmds(root *cobra.Command, g *globals) {
	root.AddCommand(newImportJobsCmd(g))
	for _, c := range root.Commands() {
		if c.Name() == "keys" {
			c.AddCommand(newKeysImportCmd(g))
		}
	}
}

// importJobNameRE matches an import job name; the key ring part is checked
// by parseAs.
var importJobNameRE = regexp.MustCompile(`^(.+)/importJobs/([^/]*)$`)

const importJobPattern = "projects/P/locations/L/keyRings/R/importJobs/J"

// parseImportJob parses an import job name into its key ring and id.
func parseImportJob(s string) (resName, string, error) {
	m := importJobNameRE.FindStringSubmatch(s)
	if m == nil {
		return resName{}, "", usageErrorf("%q is not an import job name; want %s", s, importJobPattern)
	}
	ring, err := parseAs(m[1], kindKeyRing)
	if err != nil {
		return resName{}, "", usageErrorf("%q is not an import job name (its key ring part is not valid); want %s", s, importJobPattern)
	}
	if !resourceIDRE.MatchString(m[2]) {
		return resName{}, "", usageErrorf("%q is not a valid import job id in %q; want %s", m[2], s, importJobPattern)
	}
	return ring, m[2], nil
}

func importJobPath(ring resName, id string) string {
	return ring.path("/importJobs/" + id)
}

// cliImportMethod is how an import method wraps, for the client side.
type cliImportMethod struct {
	bits int
	hash crypto.Hash
	aes  bool // CKM_RSA_AES_KEY_WRAP; false: RSA-OAEP of the key itself
}

var cliImportMethods = map[kmspb.ImportJob_ImportMethod]cliImportMethod{
	kmspb.ImportJob_RSA_OAEP_3072_SHA1_AES_256:   {3072, crypto.SHA1, true},
	kmspb.ImportJob_RSA_OAEP_4096_SHA1_AES_256:   {4096, crypto.SHA1, true},
	kmspb.ImportJob_RSA_OAEP_3072_SHA256_AES_256: {3072, crypto.SHA256, true},
	kmspb.ImportJob_RSA_OAEP_4096_SHA256_AES_256: {4096, crypto.SHA256, true},
	kmspb.ImportJob_RSA_OAEP_3072_SHA256:         {3072, crypto.SHA256, false},
	kmspb.ImportJob_RSA_OAEP_4096_SHA256:         {4096, crypto.SHA256, false},
}

func newImportJobsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "import-jobs",
		Aliases: []string{"import-job"},
		Short:   "Create, list and show import jobs",
		Long: `Create, list and show import jobs (Cloud KMS ImportJobs).

An import job holds an RSA key pair that the server generates. Its public key
wraps key material made elsewhere, so that "custos keys import" can send the
material to the server without it ever being readable on the way. A job
expires 3 days after its creation.`,
		Example: `  custos import-jobs create projects/p/locations/global/keyRings/app/importJobs/migration --method RSA_OAEP_3072_SHA256_AES_256
  custos import-jobs get projects/p/locations/global/keyRings/app/importJobs/migration -o json
  custos import-jobs list projects/p/locations/global/keyRings/app`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newImportJobsCreateCmd(g), newImportJobsListCmd(g), newImportJobsGetCmd(g))
	return cmd
}

func newImportJobsCreateCmd(g *globals) *cobra.Command {
	var method, level string
	cmd := &cobra.Command{
		Use:   "create JOB_NAME",
		Short: "Create an import job",
		Long: `Create the import job JOB_NAME (` + importJobPattern + `).

--method is the wrapping method, named as in Cloud KMS:

  RSA_OAEP_3072_SHA256_AES_256   RSA-OAEP (SHA-256) of an AES-256 key, then AES key wrap
                                 with padding (RFC 5649) of the key: any key (default)
  RSA_OAEP_4096_SHA256_AES_256   the same with a 4096-bit RSA key
  RSA_OAEP_3072_SHA1_AES_256     the same with SHA-1 in RSA-OAEP
  RSA_OAEP_4096_SHA1_AES_256
  RSA_OAEP_3072_SHA256           RSA-OAEP (SHA-256) of the key itself: symmetric, EC and
  RSA_OAEP_4096_SHA256           Ed25519 keys only (an RSA private key does not fit)

The server generates the job's RSA key pair before it answers (4096-bit keys
take a few seconds).`,
		Example: `  custos import-jobs create projects/p/locations/global/keyRings/app/importJobs/migration
  custos import-jobs create projects/p/locations/global/keyRings/app/importJobs/j2 --method RSA_OAEP_4096_SHA256`,
		Args: exactArgs("JOB_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ring, id, err := parseImportJob(args[0])
			if err != nil {
				return err
			}
			m, err := parseEnum("method", method, kmspb.ImportJob_ImportMethod_value)
			if err != nil {
				return err
			}
			pl, err := parseProtectionLevel("protection-level", level)
			if err != nil {
				return err
			}
			body := &kmspb.ImportJob{ImportMethod: kmspb.ImportJob_ImportMethod(m), ProtectionLevel: pl}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.post(ctx, ring.path("/importJobs"), url.Values{"importJobId": {id}}, body)
				if err != nil {
					return err
				}
				return g.printImportJob(raw)
			})
		},
	}
	cmd.Flags().StringVar(&method, "method", "RSA_OAEP_3072_SHA256_AES_256", "wrapping `METHOD`, a Cloud KMS import method (see above)")
	cmd.Flags().StringVar(&level, "protection-level", "SOFTWARE", "protection `LEVEL` of the job and of the keys it imports into")
	return cmd
}

func newImportJobsListCmd(g *globals) *cobra.Command {
	var filter, orderBy string
	cmd := &cobra.Command{
		Use:   "list RING_NAME",
		Short: "List the import jobs in a key ring",
		Long: `List the import jobs in RING_NAME (projects/P/locations/L/keyRings/R), following every page.

--output json prints one array of ImportJob objects.`,
		Example: `  custos import-jobs list projects/p/locations/global/keyRings/app
  custos import-jobs list projects/p/locations/global/keyRings/app --filter state=ACTIVE -o json`,
		Args: exactArgs("RING_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ring, err := parseAs(args[0], kindKeyRing)
			if err != nil {
				return err
			}
			q := listQuery(filter, orderBy)
			return g.do(cmd, func(ctx context.Context, c *client) error {
				return printList(ctx, g, c, ring.path("/importJobs"), "importJobs", q, fmt.Sprintf("no import jobs in %s", ring),
					[]string{"NAME", "METHOD", "STATE", "CREATED", "EXPIRES"}, func(j *kmspb.ImportJob) []string {
						return []string{
							j.GetName(), enumName(j.GetImportMethod()), enumName(j.GetState()),
							formatTime(j.GetCreateTime()), formatTime(j.GetExpireTime()),
						}
					})
			})
		},
	}
	addListFlags(cmd, &filter, &orderBy)
	return cmd
}

func newImportJobsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get JOB_NAME",
		Short: "Show an import job and its public key",
		Long: `Show the import job JOB_NAME (` + importJobPattern + `) and, while it
is ACTIVE, its wrapping public key as PEM.`,
		Example: `  custos import-jobs get projects/p/locations/global/keyRings/app/importJobs/migration
  custos import-jobs get projects/p/locations/global/keyRings/app/importJobs/migration -o json`,
		Args: exactArgs("JOB_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ring, id, err := parseImportJob(args[0])
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.get(ctx, importJobPath(ring, id), nil)
				if err != nil {
					return err
				}
				return g.printImportJob(raw)
			})
		},
	}
}

// printImportJob prints an ImportJob response: its fields, then its public
// key PEM.
func (g *globals) printImportJob(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	j := &kmspb.ImportJob{}
	if err := unmarshal(raw, j); err != nil {
		return err
	}
	fields := []field{
		{"Name", j.GetName()},
		{"State", enumName(j.GetState())},
		{"Import method", enumName(j.GetImportMethod())},
		{"Protection level", enumName(j.GetProtectionLevel())},
		{"Created", formatTime(j.GetCreateTime())},
		{"Generated", formatTime(j.GetGenerateTime())},
		{"Expires", formatTime(j.GetExpireTime())},
		{"Expired", formatTime(j.GetExpireEventTime())},
	}
	fields = append(fields, extensionFields(raw, knownFields(j))...)
	if err := printFields(g.stdout, fields); err != nil {
		return err
	}
	if pem := j.GetPublicKey().GetPem(); pem != "" {
		_, err := fmt.Fprintf(g.stdout, "\n%s", pem)
		return err
	}
	return nil
}

// symmetricKeyBytes is the length of the raw key Cloud KMS imports for each
// symmetric algorithm (an HMAC key as long as the hash output).
var symmetricKeyBytes = map[kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm]int{
	kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION: 32,
	kmspb.CryptoKeyVersion_AES_128_GCM:                 16,
	kmspb.CryptoKeyVersion_AES_256_GCM:                 32,
	kmspb.CryptoKeyVersion_AES_128_CBC:                 16,
	kmspb.CryptoKeyVersion_AES_256_CBC:                 32,
	kmspb.CryptoKeyVersion_AES_128_CTR:                 16,
	kmspb.CryptoKeyVersion_AES_256_CTR:                 32,
	kmspb.CryptoKeyVersion_AES_256_KWP:                 32,
	kmspb.CryptoKeyVersion_HMAC_SHA1:                   20,
	kmspb.CryptoKeyVersion_HMAC_SHA224:                 28,
	kmspb.CryptoKeyVersion_HMAC_SHA256:                 32,
	kmspb.CryptoKeyVersion_HMAC_SHA384:                 48,
	kmspb.CryptoKeyVersion_HMAC_SHA512:                 64,
}

// importMaterial formats the contents of a key file for an import of
// algorithm a: raw bytes of the right length for a symmetric key, PKCS#8
// DER for a private key (read from DER or PEM; PKCS#1 and SEC 1 PEM are
// converted). The result is secret.
func importMaterial(a kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm, data []byte) ([]byte, error) {
	if n, ok := symmetricKeyBytes[a]; ok {
		if len(data) != n {
			hint := ""
			if isText(data) {
				hint = "; it looks like text: the key must be raw bytes, not hex or base64 (decode it first)"
			}
			return nil, fmt.Errorf("--key-file: the key is %d bytes, but %s takes a %d-byte raw key%s", len(data), a, n, hint)
		}
		return append([]byte(nil), data...), nil
	}
	p, ok := purposeOf(a)
	if !ok || (p != kmspb.CryptoKey_ASYMMETRIC_SIGN && p != kmspb.CryptoKey_ASYMMETRIC_DECRYPT) {
		return nil, usageErrorf("--algorithm: %s cannot be imported", a)
	}
	return privateKeyDER(data)
}

// privateKeyDER returns a private key file as PKCS#8 DER.
func privateKeyDER(data []byte) ([]byte, error) {
	block, rest := pem.Decode(data)
	for block != nil && block.Type == "EC PARAMETERS" {
		// openssl ecparam -genkey writes the curve before the key.
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		if _, err := x509.ParsePKCS8PrivateKey(data); err != nil {
			return nil, errors.New("--key-file: not a PKCS#8 private key (DER, or PEM \"PRIVATE KEY\")")
		}
		return append([]byte(nil), data...), nil
	}
	defer clear(block.Bytes)
	if block.Headers["Proc-Type"] != "" || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, withHint(errors.New("--key-file: the private key is encrypted"),
			"decrypt it first, e.g. openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pem")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			return nil, errors.New("--key-file: the PEM \"PRIVATE KEY\" block is not a valid PKCS#8 private key")
		}
		return append([]byte(nil), block.Bytes...), nil
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("--key-file: a PEM %q block is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--key-file: the PEM %q block is not a valid private key", block.Type)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("--key-file: cannot convert the key to PKCS#8: %v", err)
	}
	return der, nil
}

// isText reports whether b looks like printable text (hex, base64, PEM).
func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c > 0x7e {
			return false
		}
	}
	return len(b) > 0
}

// wrapForImport wraps material under the job's public key as method m says:
// RSA-OAEP (m.hash, MGF1 the same, empty label) of a fresh AES-256 key
// followed by its RFC 5649 wrap of the material, or RSA-OAEP of the
// material itself. See the wrapped_key field of ImportCryptoKeyVersion.
func wrapForImport(pub *rsa.PublicKey, m cliImportMethod, name kmspb.ImportJob_ImportMethod, material []byte) ([]byte, error) {
	if !m.aes {
		ct, err := oaep.Encrypt(pub, m.hash, material, nil)
		if errors.Is(err, oaep.ErrMessageTooLong) {
			return nil, withHint(fmt.Errorf("the key is %d bytes; %s wraps at most %d bytes", len(material), name, oaep.MaxPlaintext(pub, m.hash)),
				"use an import job with an *_AES_256 method, which wraps keys of any size")
		}
		return ct, err
	}
	kek := make([]byte, 32)
	defer clear(kek)
	if _, err := rand.Read(kek); err != nil {
		return nil, err
	}
	head, err := oaep.Encrypt(pub, m.hash, kek, nil)
	if err != nil {
		return nil, err
	}
	tail, err := keywrap.WrapPad(kek, material)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}

// jobWrappingKey fetches an import job and returns its method and RSA
// public key, refusing a job that cannot be used.
func jobWrappingKey(ctx context.Context, c *client, ring resName, id string) (*kmspb.ImportJob, cliImportMethod, *rsa.PublicKey, error) {
	raw, err := c.get(ctx, importJobPath(ring, id), nil)
	if err != nil {
		return nil, cliImportMethod{}, nil, err
	}
	j := &kmspb.ImportJob{}
	if err := unmarshal(raw, j); err != nil {
		return nil, cliImportMethod{}, nil, err
	}
	if j.GetState() != kmspb.ImportJob_ACTIVE {
		return nil, cliImportMethod{}, nil, withHint(fmt.Errorf("import job %s is %s, not ACTIVE", j.GetName(), enumName(j.GetState())),
			"create a new one with 'custos import-jobs create'")
	}
	m, ok := cliImportMethods[j.GetImportMethod()]
	if !ok {
		return nil, cliImportMethod{}, nil, fmt.Errorf("import job %s uses %s, which this client cannot wrap for", j.GetName(), enumName(j.GetImportMethod()))
	}
	block, _ := pem.Decode([]byte(j.GetPublicKey().GetPem()))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, cliImportMethod{}, nil, fmt.Errorf("import job %s has no PEM public key", j.GetName())
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	pub, ok := pk.(*rsa.PublicKey)
	if err != nil || !ok || pub.N.BitLen() != m.bits {
		return nil, cliImportMethod{}, nil, fmt.Errorf("the public key of import job %s is not the %d-bit RSA key that %s needs", j.GetName(), m.bits, enumName(j.GetImportMethod()))
	}
	return j, m, pub, nil
}

func newKeysImportCmd(g *globals) *cobra.Command {
	var job, keyFile, algorithm string
	var version string
	cmd := &cobra.Command{
		Use:   "import KEY_NAME --job JOB_NAME --key-file FILE --algorithm ALGORITHM",
		Short: "Import a key made elsewhere as a new version",
		Long: `Import the key in FILE into the key KEY_NAME
(projects/P/locations/L/keyRings/R/cryptoKeys/K) through the import job
JOB_NAME (` + importJobPattern + `).

The key is wrapped here, on this machine, with the import job's public key
and method (see "custos import-jobs create"); only the wrapped form is sent.
FILE ("-" for stdin) holds:

  - for a symmetric algorithm (GOOGLE_SYMMETRIC_ENCRYPTION, AES_*, HMAC_*), the
    raw key bytes: 32 for AES-256, 16 for AES-128, the hash length for HMAC
    (not hex or base64);
  - for an asymmetric algorithm, the private key as PKCS#8, DER or PEM
    ("PRIVATE KEY"; "RSA PRIVATE KEY" and "EC PRIVATE KEY" PEM are converted).

--algorithm is the Cloud KMS algorithm of the imported version; it must fit
the key's purpose. --version N imports into the existing version N instead
of a new one: a version that was imported and then destroyed takes back
only the very same key. An import the server cannot complete leaves a
version in state IMPORT_FAILED with the reason; the command then fails.`,
		Example: `  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/byok --import-only
  custos import-jobs create projects/p/locations/global/keyRings/app/importJobs/j
  custos keys import projects/p/locations/global/keyRings/app/cryptoKeys/byok \
      --job projects/p/locations/global/keyRings/app/importJobs/j \
      --key-file aes.key --algorithm GOOGLE_SYMMETRIC_ENCRYPTION
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem
  custos keys import projects/p/locations/global/keyRings/app/cryptoKeys/signer \
      --job projects/p/locations/global/keyRings/app/importJobs/j \
      --key-file ec.pem --algorithm EC_SIGN_P256_SHA256`,
		Args: exactArgs("KEY_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseAs(args[0], kindCryptoKey)
			if err != nil {
				return err
			}
			for _, f := range []string{"job", "key-file", "algorithm"} {
				if !cmd.Flags().Changed(f) {
					return usageErrorf("--%s is required", f)
				}
			}
			ring, id, err := parseImportJob(job)
			if err != nil {
				return err
			}
			a, err := parseAlgorithm("algorithm", algorithm)
			if err != nil {
				return err
			}
			body := &kmspb.ImportCryptoKeyVersionRequest{Algorithm: a, ImportJob: ring.String() + "/importJobs/" + id}
			if cmd.Flags().Changed("version") {
				if !versionIDRE.MatchString(version) || strings.HasPrefix(version, "0") {
					return usageErrorf("--version: %q is not a version number", version)
				}
				body.CryptoKeyVersion = key.String() + "/cryptoKeyVersions/" + version
			}
			data, err := g.readInput("key-file", keyFile)
			if err != nil {
				return err
			}
			defer clear(data)
			material, err := importMaterial(a, data)
			if err != nil {
				return err
			}
			defer clear(material)
			return g.do(cmd, func(ctx context.Context, c *client) error {
				j, m, pub, err := jobWrappingKey(ctx, c, ring, id)
				if err != nil {
					return err
				}
				if body.WrappedKey, err = wrapForImport(pub, m, j.GetImportMethod(), material); err != nil {
					return err
				}
				raw, err := c.post(ctx, key.path("/cryptoKeyVersions:import"), nil, body)
				if err != nil {
					return err
				}
				v := &kmspb.CryptoKeyVersion{}
				if err := unmarshal(raw, v); err != nil {
					return err
				}
				if err := g.printVersion(raw); err != nil {
					return err
				}
				if v.GetState() == kmspb.CryptoKeyVersion_IMPORT_FAILED {
					return withHint(fmt.Errorf("import failed: %s", v.GetImportFailureReason()),
						"check that --algorithm matches the key in --key-file")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&job, "job", "", "the import job `JOB_NAME` to wrap for (required)")
	f.StringVar(&keyFile, "key-file", "", "read the key to import from `FILE`, - for stdin (required)")
	f.StringVar(&algorithm, "algorithm", "", "Cloud KMS `ALGORITHM` of the imported version (required)")
	f.StringVar(&version, "version", "", "re-import into the existing version `N` of the key")
	return cmd
}
