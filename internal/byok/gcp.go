// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// Google Cloud KMS: the wrapped_key of ImportCryptoKeyVersionRequest, made
// with the public key of an import job.
//
// Sources:
//
//   - The wrapped_key field of google.cloud.kms.v1.ImportCryptoKeyVersionRequest
//     (cloud.google.com/go/kms/apiv1/kmspb, service.pb.go;
//     https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/import):
//     for RSA_OAEP_{3072,4096}_{SHA1,SHA256}_AES_256 the concatenation of
//     an ephemeral AES-256 key wrapped with the job's public_key using
//     RSAES-OAEP with SHA-1/SHA-256, MGF1 with SHA-1/SHA-256 and an empty
//     label, and the key wrapped with that AES key using AES-KWP (RFC
//     5649), "the same as the format produced by PKCS#11 mechanism
//     CKM_RSA_AES_KEY_WRAP"; for RSA_OAEP_{3072,4096}_SHA256 the key
//     wrapped directly with RSAES-OAEP, SHA-256, MGF1 SHA-256, empty label.
//     Symmetric keys are plain bytes, asymmetric keys PKCS#8 DER.
//   - ImportJob.ImportMethod (resources.pb.go): the number in the method
//     name is the size of the job's RSA key, and the direct RSA_OAEP
//     methods "cannot be used to wrap RSA keys for import".
//   - Key wrapping, https://cloud.google.com/kms/docs/key-wrapping, and
//     Wrapping a key using OpenSSL on Linux,
//     https://cloud.google.com/kms/docs/wrapping-a-key.
type gcpTarget struct{}

// gcpMethods maps the import methods to the job key's size, the OAEP hash
// and whether the material goes through an ephemeral AES key.
var gcpMethods = map[string]struct {
	bits int
	hash crypto.Hash
	aes  bool
}{
	"RSA_OAEP_3072_SHA1_AES_256":   {3072, crypto.SHA1, true},
	"RSA_OAEP_4096_SHA1_AES_256":   {4096, crypto.SHA1, true},
	"RSA_OAEP_3072_SHA256_AES_256": {3072, crypto.SHA256, true},
	"RSA_OAEP_4096_SHA256_AES_256": {4096, crypto.SHA256, true},
	"RSA_OAEP_3072_SHA256":         {3072, crypto.SHA256, false},
	"RSA_OAEP_4096_SHA256":         {4096, crypto.SHA256, false},
}

// GCPMethods are the import methods of the gcp target.
var GCPMethods = []string{
	"RSA_OAEP_3072_SHA1_AES_256", "RSA_OAEP_4096_SHA1_AES_256",
	"RSA_OAEP_3072_SHA256_AES_256", "RSA_OAEP_4096_SHA256_AES_256",
	"RSA_OAEP_3072_SHA256", "RSA_OAEP_4096_SHA256",
}

func (gcpTarget) options(pub *rsa.PublicKey, opts Options) error {
	if err := needAlgorithm(GCP, opts, GCPMethods); err != nil {
		return err
	}
	if err := noKID(GCP, opts); err != nil {
		return err
	}
	return checkBits(pub, "import method "+opts.Algorithm, gcpMethods[opts.Algorithm].bits)
}

func (gcpTarget) keyType(_ alg.Algorithm, spec alg.Spec, pub *rsa.PublicKey, opts Options) error {
	m := gcpMethods[opts.Algorithm]
	if !m.aes {
		if kindOf(spec) == kindRSA {
			return fmt.Errorf("%w: import method %s cannot wrap RSA keys; use an RSA_OAEP_*_AES_256 method", ErrKeyType, opts.Algorithm)
		}
		if n := spec.KeyBytes(); n > 0 {
			return fitsOAEP(pub, m.hash, n)
		}
	}
	return nil
}

func (gcpTarget) wrap(material []byte, _ alg.Algorithm, _ alg.Spec, pub *rsa.PublicKey, opts Options) ([]byte, error) {
	m := gcpMethods[opts.Algorithm]
	if m.aes {
		return rsaAESKeyWrap(pub, m.hash, material)
	}
	return wrapOAEP(pub, m.hash, material)
}

func (gcpTarget) describe(a alg.Algorithm, spec alg.Spec, opts Options) (string, []string) {
	return "gcp " + opts.Algorithm + " wrapped_key (raw bytes)", []string{
		fmt.Sprintf("import with algorithm %s through an ACTIVE import job whose import method is %s", a, opts.Algorithm),
		fmt.Sprintf("gcloud kms keys versions import --import-job JOB --location LOC --keyring RING --key KEY --algorithm %s --wrapped-key-file OUT", toGcloud(a)),
	}
}

// toGcloud spells an algorithm as gcloud's --algorithm flag does.
func toGcloud(a alg.Algorithm) string {
	out := []byte(a)
	for i, c := range out {
		switch {
		case c == '_':
			out[i] = '-'
		case c >= 'A' && c <= 'Z':
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}
