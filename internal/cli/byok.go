// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gcpkms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	awstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// byokTargets are the targets of byok wrap with their wrapping algorithms
// (nil: the target has one fixed algorithm and takes none). The server
// checks them again; they are here so that a mistake is a usage error
// before any call.
var byokTargets = map[string][]string{
	"aws":      {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"},
	"gcp":      {"RSA_OAEP_3072_SHA1_AES_256", "RSA_OAEP_4096_SHA1_AES_256", "RSA_OAEP_3072_SHA256_AES_256", "RSA_OAEP_4096_SHA256_AES_256", "RSA_OAEP_3072_SHA256", "RSA_OAEP_4096_SHA256"},
	"gcp-csek": nil,
	"azure":    nil,
	"alibaba":  {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"},
}

var byokTargetNames = []string{"aws", "gcp", "gcp-csek", "azure", "alibaba"}

// maxWrappingKeyFile bounds the wrapping key file (a certificate chain is
// the largest honest one).
const maxWrappingKeyFile = 64 << 10

func newBYOKCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "byok",
		Short: "Wrap exportable keys for other key managers (bring your own key)",
		Long: `Wrap the material of an exportable key for import into another key manager:
AWS KMS, Google Cloud KMS, Compute Engine customer-supplied keys, Azure Key
Vault / Managed HSM and Alibaba Cloud KMS. The server does the wrapping, so
the key material never leaves it unwrapped.`,
		Example: `  custos byok wrap --key projects/p/locations/global/keyRings/app/cryptoKeys/db \
      --target gcp --wrapping-key job.pem --wrapping-algorithm RSA_OAEP_3072_SHA256_AES_256 --out wrapped_key.bin
  AWS_REGION=eu-west-1 custos byok push --target aws --key projects/p/locations/global/keyRings/app/cryptoKeys/db`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newBYOKWrapCmd(g), newBYOKPushCmd(g))
	return cmd
}

type byokWrapOpts struct {
	key, version, target            string
	wrappingKey, wrappingKeyVersion string
	wrappingAlgorithm, kid, out     string
}

func newBYOKWrapCmd(g *globals) *cobra.Command {
	var o byokWrapOpts
	cmd := &cobra.Command{
		Use:   "wrap --key KEY --target TARGET --wrapping-key FILE --out FILE",
		Short: "Wrap an exportable key in the import format of another key manager",
		Long: `Wrap a version of an exportable key (created with --exportable) under another
key manager's public wrapping key, in exactly the format it imports, and write
the result to --out (POST /admin/v1/byok:wrap; the wrapping happens on the
server). The caller needs custos.cryptoKeyVersions.export on the key
(roles/custos.exporter). Every wrap, refused or not, is audited.

--version picks the version; without it the key's primary version is used, or
for a key without one (raw and asymmetric keys) its only ENABLED version.

Targets and what --out receives:

  aws       EncryptedKeyMaterial for ImportKeyMaterial (raw bytes).
            --wrapping-algorithm RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256,
            RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256 (RSA keys need
            an RSA_AES one). --wrapping-key is GetParametersForImport's
            PublicKey: DER, or base64 of DER as the API prints it.
  gcp       wrapped_key for a Cloud KMS import job (raw bytes).
            --wrapping-algorithm is the job's import method:
            RSA_OAEP_3072_SHA1_AES_256, RSA_OAEP_4096_SHA1_AES_256,
            RSA_OAEP_3072_SHA256_AES_256, RSA_OAEP_4096_SHA256_AES_256,
            RSA_OAEP_3072_SHA256 or RSA_OAEP_4096_SHA256. --wrapping-key is
            the job's public key PEM.
  gcp-csek  rsaEncryptedKey of a Compute Engine customer-supplied key (base64
            text) for AES-256 keys. --wrapping-key is Google's CSEK ingress
            certificate (X.509 PEM). No --wrapping-algorithm.
  azure     .byok key transfer blob for Azure Key Vault / Managed HSM (JSON).
            --kid is the key exchange key's full identifier; --wrapping-key
            its public key PEM. AES keys go to Managed HSM only. No
            --wrapping-algorithm.
  alibaba   EncryptedKeyMaterial for Alibaba Cloud KMS (base64 text) for
            AES-256 keys. --wrapping-algorithm RSAES_OAEP_SHA_1 or
            RSAES_OAEP_SHA_256.

Instead of --wrapping-key, --wrapping-key-version names an ASYMMETRIC_DECRYPT
key version of this server whose public key wraps.

--out is written only when the wrap succeeds (a temporary file is renamed
into place). With --output json the server's answer (wrapped, format,
version, algorithm, notes) is printed too.`,
		Example: `  custos keys create projects/p/locations/global/keyRings/app/cryptoKeys/db --exportable
  custos byok wrap --key projects/p/locations/global/keyRings/app/cryptoKeys/db \
      --target aws --wrapping-key WrappingPublicKey.bin \
      --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_256 --out EncryptedKeyMaterial.bin
  custos byok wrap --key projects/p/locations/global/keyRings/app/cryptoKeys/db \
      --target azure --wrapping-key KEKforBYOK.publickey.pem \
      --kid https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef --out db.byok`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := o.request()
			if err != nil {
				return err
			}
			if g.json() && o.out == "-" {
				return usageErrorf("--out - and --output json would both write to stdout; give --out a file")
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				return g.byokWrap(ctx, c, body, o.out)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.key, "key", "", "the exportable key (or key version) to wrap, a full resource `NAME`")
	f.StringVar(&o.version, "version", "", "the version `N` of --key to wrap (default: primary, or the only enabled one)")
	f.StringVar(&o.target, "target", "", "the key manager to wrap for: "+strings.Join(byokTargetNames, ", "))
	f.StringVar(&o.wrappingKey, "wrapping-key", "", "the provider's public wrapping key `FILE`: DER, base64 of DER, PEM, or an X.509 certificate PEM")
	f.StringVar(&o.wrappingKeyVersion, "wrapping-key-version", "", "wrap under the public key of this ASYMMETRIC_DECRYPT key version `NAME` of Custos instead")
	f.StringVar(&o.wrappingAlgorithm, "wrapping-algorithm", "", "the provider's wrapping `ALGORITHM` (required for aws, gcp and alibaba)")
	f.StringVar(&o.kid, "kid", "", "the Azure key exchange key's full identifier `URL` (required for azure)")
	f.StringVar(&o.out, "out", "", "write the wrapped key to `FILE` (- for stdout)")
	return cmd
}

// byokWrapRequest is the body of POST /admin/v1/byok:wrap.
type byokWrapRequest struct {
	Key                string `json:"key"`
	Version            string `json:"version,omitempty"`
	Target             string `json:"target"`
	WrappingKey        string `json:"wrappingKey,omitempty"`
	WrappingKeyVersion string `json:"wrappingKeyVersion,omitempty"`
	WrappingAlgorithm  string `json:"wrappingAlgorithm,omitempty"`
	KID                string `json:"kid,omitempty"`
}

// request checks the flags (usage errors) and reads the wrapping key file.
func (o *byokWrapOpts) request() (*byokWrapRequest, error) {
	if o.key == "" {
		return nil, usageErrorf("--key is required")
	}
	k, err := parseAs(o.key, kindCryptoKey, kindVersion)
	if err != nil {
		return nil, err
	}
	if o.version != "" {
		if k.kind == kindVersion {
			return nil, usageErrorf("--version cannot be used with a key version name in --key")
		}
		if !versionIDRE.MatchString(o.version) {
			return nil, usageErrorf("--version must be a version number, not %q", o.version)
		}
	}
	algs, ok := byokTargets[o.target]
	switch {
	case o.target == "":
		return nil, usageErrorf("--target is required: one of %s", strings.Join(byokTargetNames, ", "))
	case !ok:
		return nil, usageErrorf("--target must be one of %s, not %q", strings.Join(byokTargetNames, ", "), o.target)
	case algs != nil && o.wrappingAlgorithm == "":
		return nil, usageErrorf("--wrapping-algorithm is required for %s (it has no default): one of %s", o.target, strings.Join(algs, ", "))
	case algs != nil && !slices.Contains(algs, o.wrappingAlgorithm):
		return nil, usageErrorf("--wrapping-algorithm for %s must be one of %s, not %q", o.target, strings.Join(algs, ", "), o.wrappingAlgorithm)
	case algs == nil && o.wrappingAlgorithm != "":
		return nil, usageErrorf("--wrapping-algorithm is not used for %s: it has one fixed algorithm", o.target)
	case o.target == "azure" && o.kid == "":
		return nil, usageErrorf("--kid is required for azure: the key exchange key's full identifier, e.g. https://VAULT.vault.azure.net/keys/NAME/VERSION")
	case o.target != "azure" && o.kid != "":
		return nil, usageErrorf("--kid is only used for azure")
	case (o.wrappingKey == "") == (o.wrappingKeyVersion == ""):
		return nil, usageErrorf("give exactly one of --wrapping-key FILE and --wrapping-key-version NAME")
	case o.out == "":
		return nil, usageErrorf("--out is required: the file to write the wrapped key to (- for stdout)")
	}
	if o.wrappingKeyVersion != "" {
		if _, err := parseAs(o.wrappingKeyVersion, kindVersion); err != nil {
			return nil, err
		}
	}
	req := &byokWrapRequest{
		Key: k.String(), Version: o.version, Target: o.target,
		WrappingKeyVersion: o.wrappingKeyVersion, WrappingAlgorithm: o.wrappingAlgorithm, KID: o.kid,
	}
	if o.wrappingKey != "" {
		text, err := readWrappingKey(o.wrappingKey)
		if err != nil {
			return nil, err
		}
		req.WrappingKey = text
	}
	return req, nil
}

// readWrappingKey reads a wrapping key file and returns it as the API
// takes it: PEM as is, base64 text as is, anything else (DER) in base64.
// The server parses it.
func readWrappingKey(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--wrapping-key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWrappingKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("--wrapping-key: %w", err)
	}
	if len(b) > maxWrappingKeyFile {
		return "", fmt.Errorf("--wrapping-key: %s is larger than %d bytes; it is not a public key or certificate", path, maxWrappingKeyFile)
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return "", fmt.Errorf("--wrapping-key: %s is empty", path)
	}
	if bytes.HasPrefix(t, []byte("-----BEGIN")) {
		return string(t), nil
	}
	if _, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(t), nil))); err == nil && b[0] != 0x30 {
		return string(t), nil
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// byokWrapResponse is the answer of POST /admin/v1/byok:wrap.
type byokWrapResponse struct {
	Wrapped   string   `json:"wrapped"`
	Format    string   `json:"format"`
	Version   string   `json:"version"`
	Algorithm string   `json:"algorithm"`
	Notes     []string `json:"notes"`
}

func (g *globals) byokWrap(ctx context.Context, c *client, req *byokWrapRequest, out string) error {
	raw, resp, wrapped, err := c.byokWrapCall(ctx, req)
	if err != nil {
		return err
	}
	if out == "-" {
		if _, err := g.stdout.Write(wrapped); err != nil {
			return err
		}
	} else if err := byokWriteFile(out, wrapped); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if g.json() {
		if err := printJSON(g.stdout, raw); err != nil {
			return err
		}
	}
	where := out
	if out == "-" {
		where = "stdout"
	}
	notef(g.stderr, "wrapped %s (%s) for %s: %d bytes to %s", resp.Version, resp.Algorithm, resp.Format, len(wrapped), where)
	for _, n := range resp.Notes {
		notef(g.stderr, "note: %s", n)
	}
	return nil
}

// byokError words the refusals of an export as the CLI promises:
// "export not allowed: <reason>", with a hint.
func byokError(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Status {
	case "PERMISSION_DENIED":
		if !strings.HasPrefix(ae.Message, "export not allowed:") {
			ae.Message = "export not allowed: " + ae.Message
		}
		return withHint(ae, "the caller needs custos.cryptoKeyVersions.export on the key: grant roles/custos.exporter on the key, its key ring or its project")
	case "FAILED_PRECONDITION":
		if strings.Contains(ae.Message, "not exportable") {
			return withHint(ae, "a key is exportable only if created so (custos keys create KEY --exportable); its material cannot be exported otherwise")
		}
	case "INVALID_ARGUMENT":
		if strings.Contains(ae.Message, "name the version") {
			return withHint(ae, "pick the version with --version N (custos versions list KEY shows them)")
		}
	}
	return err
}

// byokWriteFile writes data to path through a temporary file in the same
// folder, renamed into place, so that path is either absent, untouched or
// complete.
func byokWriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// byokPost sends a JSON body to an admin path and returns the JSON answer.
// A non-2xx answer becomes an [*APIError].
func (c *client) byokPost(ctx context.Context, path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + path
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &transportError{addr: c.base.String(), err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &transportError{addr: c.base.String(), err: err}
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("the response to POST %s is larger than %d bytes", path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp.StatusCode, data)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("the server answered POST %s with a body that is not JSON", path)
	}
	return data, nil
}

// byokPushOpts are the flags of byok push.
type byokPushOpts struct {
	key, version, target, endpoint string
	wrappingAlgorithm              string
	// aws
	region, awsKeyID, wrappingKeySpec string
	// gcp
	gcpKey, destTokenFile, protectionLevel string
}

func newBYOKPushCmd(g *globals) *cobra.Command {
	var o byokPushOpts
	cmd := &cobra.Command{
		Use:   "push --key KEY --target aws|gcp [--endpoint URL]",
		Short: "Create a key in another key manager and import an exportable key into it",
		Long: `Move a version of an exportable key into another key manager in one step, so
that nobody handles wrapping keys and wrapped files by hand:

  aws  with the AWS SDK for Go v2, against AWS KMS or an AWS-KMS-compatible
       --endpoint: CreateKey (Origin EXTERNAL, the key spec and usage of the
       Custos algorithm; or --aws-key-id of an existing EXTERNAL key),
       GetParametersForImport, byok wrap on the Custos server, then
       ImportKeyMaterial with the import token (material that does not
       expire). Credentials and region come from the AWS SDK's usual
       sources (AWS_ACCESS_KEY_ID, AWS_REGION, profiles, ...); --region
       overrides. --wrapping-algorithm defaults to RSA_AES_KEY_WRAP_SHA_256
       for RSA keys and RSAES_OAEP_SHA_256 otherwise.
  gcp  with the official Cloud KMS client, against Google Cloud KMS or any
       Cloud KMS v1 API (another Custos): into --gcp-key (created import-only
       with the Custos key's algorithm if it does not exist), through a new
       import job whose method is --wrapping-algorithm (default
       RSA_OAEP_3072_SHA256_AES_256), byok wrap on the Custos server, then
       ImportCryptoKeyVersion. --endpoint is a REST base URL (default:
       Google's API over gRPC); the credentials are Google's Application
       Default Credentials, or the bearer token in --dest-token-file
       (required for an --endpoint outside googleapis.com).

--endpoint must be https, or http on loopback (a local emulator). No
redirect is followed.

The key material is wrapped on the Custos server under the provider's
public key; it never passes through this command unwrapped. The caller
needs custos.cryptoKeyVersions.export on the key, as for byok wrap.`,
		Example: `  AWS_REGION=eu-west-1 custos byok push --target aws \
      --key projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos byok push --target aws --endpoint http://127.0.0.1:4599 --region eu-west-2 \
      --key projects/p/locations/global/keyRings/app/cryptoKeys/db --output json
  custos byok push --target gcp --key projects/p/locations/global/keyRings/app/cryptoKeys/db \
      --gcp-key projects/my-project/locations/europe-west1/keyRings/byok/cryptoKeys/db`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				switch o.target {
				case "aws":
					return g.byokPushAWS(ctx, c, o)
				case "gcp":
					return g.byokPushGCP(ctx, c, o)
				}
				return usageErrorf("--target must be aws or gcp, not %q", o.target)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.key, "key", "", "the exportable key (or key version) to push, a full resource `NAME`")
	f.StringVar(&o.version, "version", "", "the version `N` of --key to push (default: primary, or the only enabled one)")
	f.StringVar(&o.target, "target", "", "the key manager to push to: aws or gcp")
	f.StringVar(&o.endpoint, "endpoint", "", "the provider's API `URL` (default: the provider's own; for aws, an AWS-KMS-compatible endpoint)")
	f.StringVar(&o.wrappingAlgorithm, "wrapping-algorithm", "", "the provider's wrapping `ALGORITHM` (default: see above)")
	f.StringVar(&o.region, "region", "", "aws: the AWS `REGION` (default: the SDK's, e.g. $AWS_REGION)")
	f.StringVar(&o.awsKeyID, "aws-key-id", "", "aws: import into this existing AWS KMS key of origin EXTERNAL (`ID` or ARN) instead of creating one")
	f.StringVar(&o.wrappingKeySpec, "wrapping-key-spec", "RSA_4096", "aws: the `SPEC` of the wrapping key to ask for: RSA_2048, RSA_3072 or RSA_4096")
	f.StringVar(&o.gcpKey, "gcp-key", "", "gcp: the destination Cloud KMS key `NAME` (required)")
	f.StringVar(&o.destTokenFile, "dest-token-file", "", "gcp: send the bearer token in `FILE` to the destination instead of Application Default Credentials")
	f.StringVar(&o.protectionLevel, "protection-level", "SOFTWARE", "gcp: the `LEVEL` of the import job and of a key created for it: SOFTWARE or HSM")
	return cmd
}

func (o *byokPushOpts) check() error {
	if o.key == "" {
		return usageErrorf("--key is required")
	}
	k, err := parseAs(o.key, kindCryptoKey, kindVersion)
	if err != nil {
		return err
	}
	if o.version != "" {
		if k.kind == kindVersion {
			return usageErrorf("--version cannot be used with a key version name in --key")
		}
		if !versionIDRE.MatchString(o.version) {
			return usageErrorf("--version must be a version number, not %q", o.version)
		}
	}
	switch o.target {
	case "":
		return usageErrorf("--target is required: aws or gcp")
	case "gcp":
		if o.wrappingAlgorithm != "" && !slices.Contains(byokTargets["gcp"], o.wrappingAlgorithm) {
			return usageErrorf("--wrapping-algorithm for gcp must be one of %s, not %q", strings.Join(byokTargets["gcp"], ", "), o.wrappingAlgorithm)
		}
		if o.gcpKey == "" {
			return usageErrorf("--gcp-key is required for gcp: the destination key, projects/P/locations/L/keyRings/R/cryptoKeys/K")
		}
		if _, err := parseAs(o.gcpKey, kindCryptoKey); err != nil {
			return err
		}
		if o.protectionLevel != "SOFTWARE" && o.protectionLevel != "HSM" {
			return usageErrorf("--protection-level must be SOFTWARE or HSM, not %q", o.protectionLevel)
		}
	case "aws":
		if o.wrappingAlgorithm != "" && !slices.Contains(byokTargets["aws"], o.wrappingAlgorithm) {
			return usageErrorf("--wrapping-algorithm for aws must be one of %s, not %q", strings.Join(byokTargets["aws"], ", "), o.wrappingAlgorithm)
		}
		if !slices.Contains([]string{"RSA_2048", "RSA_3072", "RSA_4096"}, o.wrappingKeySpec) {
			return usageErrorf("--wrapping-key-spec must be RSA_2048, RSA_3072 or RSA_4096, not %q", o.wrappingKeySpec)
		}
	default:
		return usageErrorf("--target must be aws or gcp, not %q", o.target)
	}
	if o.target != "gcp" && (o.gcpKey != "" || o.destTokenFile != "") {
		return usageErrorf("--gcp-key and --dest-token-file are only used for gcp")
	}
	if o.endpoint != "" {
		u, err := url.Parse(o.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("--endpoint %q is not an http:// or https:// URL", o.endpoint)
		}
		if err := checkCloudEndpoint(u); err != nil {
			return usageErrorf("--endpoint: %v", err)
		}
		if o.target == "gcp" && o.destTokenFile == "" && !isGoogleAPIs(u.Hostname()) {
			return usageErrorf("--endpoint %s is not Google's: give its own bearer token with --dest-token-file (Application Default Credentials are sent to Google only)", u.Host)
		}
	}
	return nil
}

// checkCloudEndpoint refuses a provider endpoint in plain http, except on
// loopback (a local emulator): whoever is on the path would read the
// credentials, and could answer with a wrapping public key of its own,
// which the Custos server would wrap the key material under.
func checkCloudEndpoint(u *url.URL) error {
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%s is plain http to another machine: use https (http is for loopback only)", u.Redacted())
}

// isGoogleAPIs reports whether host is one of Google's API endpoints
// (global, regional, private), where Application Default Credentials may go.
func isGoogleAPIs(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "googleapis.com" || strings.HasSuffix(host, ".googleapis.com")
}

// noRedirects is the CheckRedirect of the Cloud KMS REST client: Cloud KMS
// never redirects, and a redirect followed would carry the bearer token
// (its transport adds it to every request, whatever the host or scheme) to
// wherever it points. (The AWS SDK follows only 307 and 308, and drops the
// session token on another host; its signature is bound to the host.)
func noRedirects(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("the endpoint redirected to %s; custos does not follow redirects (check --endpoint)", req.URL.Redacted())
}

// versionName is the name byok:wrap resolves, as far as the CLI knows it.
func (o *byokPushOpts) request() *byokWrapRequest {
	return &byokWrapRequest{Key: o.key, Version: o.version, Target: o.target, WrappingAlgorithm: o.wrappingAlgorithm}
}

// byokAlgorithm finds the algorithm of what push will export, as the
// server picks the version: the named version's, else the key's
// primary's, else its only ENABLED version's (the version template may
// have changed since that version was made); else, for the server to
// refuse, its version template's.
func byokAlgorithm(ctx context.Context, c *client, key, version string) (string, error) {
	k, err := parseAs(key, kindCryptoKey, kindVersion)
	if err != nil {
		return "", err
	}
	if version != "" {
		k.kind, k.version = kindVersion, version
	}
	if k.kind == kindVersion {
		raw, err := c.get(ctx, k.path(""), nil)
		if err != nil {
			return "", byokError(err)
		}
		v := &kmspb.CryptoKeyVersion{}
		if err := unmarshal(raw, v); err != nil {
			return "", err
		}
		return enumName(v.GetAlgorithm()), nil
	}
	raw, err := c.get(ctx, k.path(""), nil)
	if err != nil {
		return "", byokError(err)
	}
	ck := &kmspb.CryptoKey{}
	if err := unmarshal(raw, ck); err != nil {
		return "", err
	}
	if a := ck.GetPrimary().GetAlgorithm(); a != 0 {
		return enumName(a), nil
	}
	// Best effort: a caller who may not list versions gets the template's.
	list := &kmspb.ListCryptoKeyVersionsResponse{}
	if raw, err := c.get(ctx, k.path("/cryptoKeyVersions"), url.Values{"filter": {"state=ENABLED"}, "pageSize": {"2"}}); err == nil && unmarshal(raw, list) == nil {
		if vs := list.GetCryptoKeyVersions(); len(vs) == 1 && list.GetNextPageToken() == "" && vs[0].GetState() == kmspb.CryptoKeyVersion_ENABLED {
			return enumName(vs[0].GetAlgorithm()), nil
		}
	}
	return enumName(ck.GetVersionTemplate().GetAlgorithm()), nil
}

// awsKeySpecOf maps a Cloud KMS algorithm to the AWS KMS key spec and key
// usage that hold its material (see internal/byok/aws.go for the sources).
func awsKeySpecOf(a string) (spec, usage string, ok bool) {
	switch {
	case a == "GOOGLE_SYMMETRIC_ENCRYPTION" || a == "AES_256_GCM":
		return "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", true
	case a == "HMAC_SHA224" || a == "HMAC_SHA256" || a == "HMAC_SHA384" || a == "HMAC_SHA512":
		return "HMAC_" + strings.TrimPrefix(a, "HMAC_SHA"), "GENERATE_VERIFY_MAC", true
	case a == "EC_SIGN_P256_SHA256":
		return "ECC_NIST_P256", "SIGN_VERIFY", true
	case a == "EC_SIGN_P384_SHA384":
		return "ECC_NIST_P384", "SIGN_VERIFY", true
	case strings.HasPrefix(a, "RSA_SIGN_"), strings.HasPrefix(a, "RSA_DECRYPT_"):
		usage = "SIGN_VERIFY"
		if strings.HasPrefix(a, "RSA_DECRYPT_") {
			usage = "ENCRYPT_DECRYPT"
		}
		for _, bits := range []string{"2048", "3072", "4096"} {
			if strings.Contains(a, "_"+bits+"_") {
				return "RSA_" + bits, usage, true
			}
		}
	}
	return "", "", false
}

// byokPushAWS creates (or takes) an AWS KMS key of origin EXTERNAL and
// imports the Custos key's material into it.
func (g *globals) byokPushAWS(ctx context.Context, c *client, o byokPushOpts) (err error) {
	a, err := byokAlgorithm(ctx, c, o.key, o.version)
	if err != nil {
		return err
	}
	spec, usage, ok := awsKeySpecOf(a)
	if !ok {
		return fmt.Errorf("AWS KMS has no key spec for %s keys", a)
	}
	wrapAlg := o.wrappingAlgorithm
	if wrapAlg == "" {
		wrapAlg = "RSAES_OAEP_SHA_256"
		if strings.HasPrefix(spec, "RSA_") {
			wrapAlg = "RSA_AES_KEY_WRAP_SHA_256"
		}
	}
	var opts []func(*awsconfig.LoadOptions) error
	if o.region != "" {
		opts = append(opts, awsconfig.WithRegion(o.region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("aws: %w", err)
	}
	if cfg.Region == "" {
		return withHint(errors.New("aws: no region"), "set --region or AWS_REGION")
	}
	kc := awskms.NewFromConfig(cfg, func(ko *awskms.Options) {
		if o.endpoint != "" {
			ko.BaseEndpoint = aws.String(o.endpoint)
		}
	})
	// The endpoint may also come from the SDK's settings (AWS_ENDPOINT_URL,
	// AWS_ENDPOINT_URL_KMS, endpoint_url in a profile).
	if ep := aws.ToString(kc.Options().BaseEndpoint); ep != "" {
		u, err := url.Parse(ep)
		if err != nil {
			return fmt.Errorf("aws: the endpoint %q is not a URL", ep)
		}
		if err := checkCloudEndpoint(u); err != nil {
			return fmt.Errorf("aws: endpoint %w", err)
		}
	}

	keyID := o.awsKeyID
	created := false
	defer func() {
		if created && err != nil {
			notef(g.stderr, "note: AWS KMS key %s was created and is left waiting for its key material; import later with --aws-key-id, or delete it with aws kms schedule-key-deletion", keyID)
		}
	}()
	if keyID == "" {
		out, err := kc.CreateKey(ctx, &awskms.CreateKeyInput{
			Origin:      awstypes.OriginTypeExternal,
			KeySpec:     awstypes.KeySpec(spec),
			KeyUsage:    awstypes.KeyUsageType(usage),
			Description: aws.String("imported from Custos " + o.key),
		})
		if err != nil {
			return fmt.Errorf("aws: CreateKey: %w", err)
		}
		keyID = aws.ToString(out.KeyMetadata.Arn)
		if keyID == "" {
			keyID = aws.ToString(out.KeyMetadata.KeyId)
		}
		created = true
		notef(g.stderr, "created AWS KMS key %s (origin EXTERNAL, %s, %s)", keyID, spec, usage)
	}
	params, err := kc.GetParametersForImport(ctx, &awskms.GetParametersForImportInput{
		KeyId:             aws.String(keyID),
		WrappingAlgorithm: awstypes.AlgorithmSpec(wrapAlg),
		WrappingKeySpec:   awstypes.WrappingKeySpec(o.wrappingKeySpec),
	})
	if err != nil {
		return fmt.Errorf("aws: GetParametersForImport: %w", err)
	}
	req := o.request()
	req.Target, req.WrappingAlgorithm = "aws", wrapAlg
	req.WrappingKey = base64.StdEncoding.EncodeToString(params.PublicKey)
	_, resp, wrapped, err := c.byokWrapCall(ctx, req)
	if err != nil {
		return err
	}
	if _, err := kc.ImportKeyMaterial(ctx, &awskms.ImportKeyMaterialInput{
		KeyId:                aws.String(keyID),
		ImportToken:          params.ImportToken,
		EncryptedKeyMaterial: wrapped,
		ExpirationModel:      awstypes.ExpirationModelTypeKeyMaterialDoesNotExpire,
	}); err != nil {
		return fmt.Errorf("aws: ImportKeyMaterial: %w", err)
	}
	if g.json() {
		return printValue(g.stdout, map[string]string{
			"target": "aws", "awsKeyId": keyID, "version": resp.Version, "algorithm": resp.Algorithm,
			"keySpec": spec, "keyUsage": usage, "wrappingAlgorithm": wrapAlg,
		})
	}
	_, err = fmt.Fprintf(g.stdout, "%s\n", keyID)
	notef(g.stderr, "imported %s (%s) into AWS KMS key %s with %s", resp.Version, resp.Algorithm, keyID, wrapAlg)
	return err
}

// gcpPurposeOf is the Cloud KMS purpose of an algorithm's keys.
func gcpPurposeOf(a string) kmspb.CryptoKey_CryptoKeyPurpose {
	switch {
	case a == "GOOGLE_SYMMETRIC_ENCRYPTION":
		return kmspb.CryptoKey_ENCRYPT_DECRYPT
	case strings.HasPrefix(a, "AES_"):
		return kmspb.CryptoKey_RAW_ENCRYPT_DECRYPT
	case strings.HasPrefix(a, "HMAC_"):
		return kmspb.CryptoKey_MAC
	case strings.HasPrefix(a, "RSA_DECRYPT_"):
		return kmspb.CryptoKey_ASYMMETRIC_DECRYPT
	case strings.HasPrefix(a, "EC_SIGN_"), strings.HasPrefix(a, "RSA_SIGN_"):
		return kmspb.CryptoKey_ASYMMETRIC_SIGN
	}
	return kmspb.CryptoKey_CRYPTO_KEY_PURPOSE_UNSPECIFIED
}

// gcpClient is the official Cloud KMS client for --endpoint: REST at that
// URL, or Google's own endpoint over gRPC; with the bearer token of
// --dest-token-file, or Application Default Credentials.
func (g *globals) gcpClient(ctx context.Context, o byokPushOpts) (*gcpkms.KeyManagementClient, error) {
	var opts []option.ClientOption
	if o.destTokenFile != "" {
		b, err := os.ReadFile(o.destTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--dest-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("--dest-token-file: %s is empty", o.destTokenFile)
		}
		opts = append(opts, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})))
	}
	if o.endpoint == "" {
		return gcpkms.NewKeyManagementClient(ctx, opts...)
	}
	// The REST client over an HTTP client of its own, made as the Cloud KMS
	// client would make it, that follows no redirect.
	hc, _, err := htransport.NewClient(ctx, append(opts, option.WithScopes(gcpkms.DefaultAuthScopes()...), option.WithEndpoint(o.endpoint))...)
	if err != nil {
		return nil, err
	}
	noFollow := *hc
	noFollow.CheckRedirect = noRedirects
	return gcpkms.NewKeyManagementRESTClient(ctx, option.WithHTTPClient(&noFollow), option.WithEndpoint(o.endpoint))
}

// byokPushGCP imports the Custos key's material into a Cloud KMS key
// through a new import job.
func (g *globals) byokPushGCP(ctx context.Context, c *client, o byokPushOpts) error {
	a, err := byokAlgorithm(ctx, c, o.key, o.version)
	if err != nil {
		return err
	}
	algEnum, ok := kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm_value[a]
	if !ok || gcpPurposeOf(a) == kmspb.CryptoKey_CRYPTO_KEY_PURPOSE_UNSPECIFIED {
		return fmt.Errorf("cannot import %s keys into Cloud KMS", a)
	}
	method := o.wrappingAlgorithm
	if method == "" {
		method = "RSA_OAEP_3072_SHA256_AES_256"
	}
	level := kmspb.ProtectionLevel(kmspb.ProtectionLevel_value[o.protectionLevel])
	gc, err := g.gcpClient(ctx, o)
	if err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	defer gc.Close()
	dest, _ := parseAs(o.gcpKey, kindCryptoKey)

	// The destination key: as it is, or created import-only.
	if _, err := gc.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: o.gcpKey}); err != nil {
		if status.Code(err) != codes.NotFound {
			return fmt.Errorf("gcp: GetCryptoKey %s: %w", o.gcpKey, err)
		}
		if _, err := gc.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
			Parent:                     dest.parent().String(),
			CryptoKeyId:                dest.cryptoKey,
			SkipInitialVersionCreation: true,
			CryptoKey: &kmspb.CryptoKey{
				Purpose:         gcpPurposeOf(a),
				ImportOnly:      true,
				VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(algEnum), ProtectionLevel: level},
			},
		}); err != nil {
			return fmt.Errorf("gcp: CreateCryptoKey %s: %w", o.gcpKey, err)
		}
		notef(g.stderr, "created Cloud KMS key %s (import-only, %s)", o.gcpKey, a)
	}

	// A fresh import job in the key's ring, once ACTIVE.
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	job, err := gc.CreateImportJob(ctx, &kmspb.CreateImportJobRequest{
		Parent:      dest.parent().String(),
		ImportJobId: "custos-" + hex.EncodeToString(id),
		ImportJob: &kmspb.ImportJob{
			ImportMethod:    kmspb.ImportJob_ImportMethod(kmspb.ImportJob_ImportMethod_value[method]),
			ProtectionLevel: level,
		},
	})
	if err != nil {
		return fmt.Errorf("gcp: CreateImportJob: %w", err)
	}
	for job.GetState() != kmspb.ImportJob_ACTIVE {
		if job.GetState() == kmspb.ImportJob_EXPIRED {
			return fmt.Errorf("gcp: import job %s expired", job.GetName())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gcp: import job %s is still %s: %w", job.GetName(), job.GetState(), ctx.Err())
		case <-time.After(time.Second):
		}
		if job, err = gc.GetImportJob(ctx, &kmspb.GetImportJobRequest{Name: job.GetName()}); err != nil {
			return fmt.Errorf("gcp: GetImportJob: %w", err)
		}
	}
	req := o.request()
	req.Target, req.WrappingAlgorithm = "gcp", method
	req.WrappingKey = job.GetPublicKey().GetPem()
	_, resp, wrapped, err := c.byokWrapCall(ctx, req)
	if err != nil {
		return err
	}
	v, err := gc.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{
		Parent:     o.gcpKey,
		Algorithm:  kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(algEnum),
		ImportJob:  job.GetName(),
		WrappedKey: wrapped,
	})
	if err != nil {
		return fmt.Errorf("gcp: ImportCryptoKeyVersion: %w", err)
	}
	for v.GetState() == kmspb.CryptoKeyVersion_PENDING_IMPORT {
		select {
		case <-ctx.Done():
			return fmt.Errorf("gcp: %s is still PENDING_IMPORT: %w", v.GetName(), ctx.Err())
		case <-time.After(time.Second):
		}
		if v, err = gc.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v.GetName()}); err != nil {
			return fmt.Errorf("gcp: GetCryptoKeyVersion: %w", err)
		}
	}
	if v.GetState() != kmspb.CryptoKeyVersion_ENABLED {
		return fmt.Errorf("gcp: %s is %s: %s", v.GetName(), v.GetState(), v.GetImportFailureReason())
	}
	if g.json() {
		return printValue(g.stdout, map[string]string{
			"target": "gcp", "gcpVersion": v.GetName(), "importJob": job.GetName(),
			"version": resp.Version, "algorithm": resp.Algorithm, "wrappingAlgorithm": method,
		})
	}
	_, err = fmt.Fprintf(g.stdout, "%s\n", v.GetName())
	notef(g.stderr, "imported %s (%s) into %s through %s", resp.Version, resp.Algorithm, v.GetName(), job.GetName())
	return err
}

// byokWrapCall asks the server to wrap (POST /admin/v1/byok:wrap) and
// returns its raw answer, the decoded answer and the wrapped bytes.
func (c *client) byokWrapCall(ctx context.Context, req *byokWrapRequest) ([]byte, *byokWrapResponse, []byte, error) {
	raw, err := c.byokPost(ctx, "/admin/v1/byok:wrap", req)
	if err != nil {
		return nil, nil, nil, byokError(err)
	}
	resp := new(byokWrapResponse)
	if err := json.Unmarshal(raw, resp); err != nil {
		return nil, nil, nil, fmt.Errorf("decoding the server's answer: %w", err)
	}
	wrapped, err := base64.StdEncoding.DecodeString(resp.Wrapped)
	if err != nil || len(wrapped) == 0 {
		return nil, nil, nil, errors.New("the server's answer holds no wrapped key")
	}
	return raw, resp, wrapped, nil
}
