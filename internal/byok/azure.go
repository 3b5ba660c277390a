// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// Azure Key Vault and Managed HSM: a ".byok" key transfer blob.
//
// Source: "Bring your own key specification",
// https://learn.microsoft.com/azure/key-vault/keys/byok-specification
// (MicrosoftDocs/azure-security-docs, articles/key-vault/keys/byok-specification.md):
//
//   - the target key is PKCS#8 (RFC 5208) of the RSA (RFC 3447) or EC (RFC
//     5915) private key, or the raw bytes of an octet (AES) key; AES keys
//     are for Managed HSM only;
//   - CKM_RSA_AES_KEY_WRAP: an ephemeral AES key encrypted with the key
//     exchange key (KEK) "using RSA-OAEP with SHA1", the target key
//     encrypted with that AES key "using AES Key Wrap with Padding", the two
//     concatenated into the ciphertext;
//   - the file is JSON {"schema_version": "1.0.0", "header": {"kid": KEK
//     identifier, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"},
//     "ciphertext": BASE64URL(ciphertext), "generator": tool and source};
//     BASE64URL is JOSE's (RFC 7515 section 2), without padding.
//   - the KEK is an RSA-HSM key of 2048, 3072 or 4096 bits with key_ops
//     import only, in the vault the key goes to; kid is its full
//     identifier, e.g. https://contosokeyvaulthsm.vault.azure.net/keys/mykek/eba63d27e4e34e028839b53fac905621.
type azureTarget struct{}

// azureFile is the .byok JSON, fields in the specification's order.
type azureFile struct {
	SchemaVersion string      `json:"schema_version"`
	Header        azureHeader `json:"header"`
	Ciphertext    string      `json:"ciphertext"`
	Generator     string      `json:"generator"`
}

type azureHeader struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Enc string `json:"enc"`
}

func (azureTarget) options(pub *rsa.PublicKey, opts Options) error {
	if err := noAlgorithm(Azure, opts, "CKM_RSA_AES_KEY_WRAP with RSA-OAEP SHA-1"); err != nil {
		return err
	}
	if err := checkKID(opts.KID); err != nil {
		return err
	}
	return checkBits(pub, "an Azure key exchange key", 2048, 3072, 4096)
}

func (azureTarget) keyType(a alg.Algorithm, spec alg.Spec, _ *rsa.PublicKey, _ Options) error {
	switch kindOf(spec) {
	case kindAES, kindRSA, kindEC:
		return nil
	}
	return fmt.Errorf("%w: Azure Key Vault imports RSA, EC (P-256, P-384) and, in Managed HSM, AES keys; not %s", ErrKeyType, a)
}

// checkKID accepts an https URL of the form .../keys/NAME/VERSION.
func checkKID(kid string) error {
	if kid == "" {
		return fmt.Errorf("%w: azure needs the key exchange key's full identifier (kid), e.g. https://VAULT.vault.azure.net/keys/NAME/VERSION", ErrOption)
	}
	u, err := url.Parse(kid)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%w: kid %q is not an https URL", ErrOption, kid)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "keys" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("%w: kid %q is not a full key identifier https://HOST/keys/NAME/VERSION", ErrOption, kid)
	}
	return nil
}

func (azureTarget) wrap(material []byte, _ alg.Algorithm, _ alg.Spec, pub *rsa.PublicKey, opts Options) ([]byte, error) {
	ct, err := rsaAESKeyWrap(pub, crypto.SHA1, material)
	if err != nil {
		return nil, err
	}
	gen := opts.Generator
	if gen == "" {
		gen = "custos/" + buildVersion() + "; source: Custos software keystore"
	}
	f := azureFile{
		SchemaVersion: "1.0.0",
		Header:        azureHeader{KID: opts.KID, Alg: "dir", Enc: "CKM_RSA_AES_KEY_WRAP"},
		Ciphertext:    base64.RawURLEncoding.EncodeToString(ct),
		Generator:     gen,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("byok: encoding the .byok file: %w", err)
	}
	return buf.Bytes(), nil
}

func (azureTarget) describe(a alg.Algorithm, spec alg.Spec, opts Options) (string, []string) {
	const format = "azure .byok key transfer blob (JSON, schema 1.0.0)"
	switch kindOf(spec) {
	case kindAES:
		return format, []string{
			"AES keys import into Azure Key Vault Managed HSM only, not into a key vault",
			fmt.Sprintf("az keyvault key import --hsm-name HSM --name NAME --kty oct-HSM --byok-file OUT (a %d-bit key)", spec.Bits),
		}
	case kindEC:
		return format, []string{
			"imports into a key vault (Premium) or a Managed HSM",
			fmt.Sprintf("az keyvault key import --vault-name VAULT --name NAME --kty EC-HSM --curve-name P-%d --byok-file OUT", spec.Bits),
		}
	}
	return format, []string{
		"imports into a key vault (Premium) or a Managed HSM",
		"az keyvault key import --vault-name VAULT --name NAME --kty RSA-HSM --byok-file OUT",
	}
}
