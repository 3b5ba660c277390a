// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// Compute Engine customer-supplied encryption keys (CSEK): the
// rsaEncryptedKey of a CustomerEncryptionKey.
//
// Sources:
//
//   - CustomerEncryptionKey in the Compute Engine API reference,
//     https://cloud.google.com/compute/docs/reference/rest/v1/CustomerEncryptionKey:
//     "an RFC 4648 base64 encoded, RSA-wrapped 2048-bit customer-supplied
//     encryption key"; "the key is wrapped using a RSA public key
//     certificate provided by Google", found at
//     https://cloud-certs.storage.googleapis.com/google-cloud-csek-ingress.pem.
//     The same reference now marks CSEK deprecated in favour of CMEK.
//   - Encrypt disks with customer-supplied encryption keys, "RSA key
//     wrapping",
//     https://cloud.google.com/compute/docs/disks/customer-supplied-encryption#rsa-encryption:
//     the raw 256-bit key is wrapped with `openssl rsautl -oaep -encrypt
//     -pubin -inkey pubkey.pem` (the public key of the certificate), which
//     is RSAES-OAEP with SHA-1 and MGF1 SHA-1 and an empty label, then
//     base64-encoded.
//
// Cloud Storage takes a CSEK as the raw key instead (no RSA wrapping),
// which Custos never hands out.
type csekTarget struct{}

func (csekTarget) options(_ *rsa.PublicKey, opts Options) error {
	if err := noAlgorithm(GCPCSEK, opts, "RSAES-OAEP with SHA-1"); err != nil {
		return err
	}
	return noKID(GCPCSEK, opts)
}

func (csekTarget) keyType(a alg.Algorithm, spec alg.Spec, _ *rsa.PublicKey, _ Options) error {
	if kindOf(spec) != kindAES || spec.Bits != 256 {
		return fmt.Errorf("%w: a customer-supplied encryption key is a 256-bit AES key; %s is not one", ErrKeyType, a)
	}
	return nil
}

func (csekTarget) wrap(material []byte, _ alg.Algorithm, _ alg.Spec, pub *rsa.PublicKey, _ Options) ([]byte, error) {
	wrapped, err := wrapOAEP(pub, crypto.SHA1, material)
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(wrapped)))
	base64.StdEncoding.Encode(out, wrapped)
	return out, nil
}

func (csekTarget) describe(alg.Algorithm, alg.Spec, Options) (string, []string) {
	return "gcp-csek rsaEncryptedKey (base64 text)", []string{
		`use it as "rsaEncryptedKey" of a Compute Engine diskEncryptionKey, or as "key" with "key-type": "rsa-encrypted" in a gcloud --csek-key-file`,
		"wrap only under Google's ingress certificate, fetched from https://cloud-certs.storage.googleapis.com/google-cloud-csek-ingress.pem over HTTPS",
		"Compute Engine marks customer-supplied encryption keys deprecated; prefer customer-managed keys (CMEK)",
	}
}
