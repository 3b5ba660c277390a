// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// AWS KMS: the EncryptedKeyMaterial blob of ImportKeyMaterial, made with
// the wrapping public key that GetParametersForImport returned.
//
// Sources (AWS KMS Developer Guide and API Reference):
//
//   - "Step 3: Encrypt the key material",
//     https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html:
//     RSAES_OAEP_SHA_1 is `openssl pkeyutl -encrypt -pkeyopt
//     rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1` (MGF1 SHA-1);
//     RSAES_OAEP_SHA_256 adds rsa_oaep_md:sha256 and rsa_mgf1_md:sha256;
//     RSA_AES_KEY_WRAP_SHA_{1,256} wrap the material with a fresh 256-bit
//     AES key and `openssl enc -id-aes256-wrap-pad -iv A65959A6` (RFC
//     5649), encrypt that AES key with RSAES_OAEP_SHA_{1,256}, and import
//     `cat aes-key-wrapped.bin key-material-wrapped.bin`: the RSA part
//     first. The RSAES_OAEP algorithms are not supported for RSA private
//     keys.
//   - "Select a wrapping algorithm" and "Select a wrapping public key
//     spec",
//     https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-get-public-key-and-token.html:
//     wrapping keys are RSA_2048, RSA_3072 or RSA_4096 (SM2 in China
//     Regions only, not supported here); RSAES_PKCS1_V1_5 is no longer
//     accepted (since 2023-10-10), so it is not offered.
//   - "Requirements for imported key material",
//     https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-conceptual.html#importing-keys-material-requirements:
//     a symmetric key is 256 bits of raw bytes (128 in China Regions
//     only), an HMAC key is raw bytes of the key spec's length
//     (HMAC_224/256/384/512), an asymmetric private key is PKCS#8 DER.
//   - GetParametersForImport,
//     https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html:
//     PublicKey is the DER of the RSA public key (base64 in JSON).
type awsTarget struct{}

// awsAlgorithms maps AWS's WrappingAlgorithm names to the OAEP hash and
// whether the material goes through an ephemeral AES key.
var awsAlgorithms = map[string]struct {
	hash crypto.Hash
	aes  bool
}{
	"RSAES_OAEP_SHA_1":         {crypto.SHA1, false},
	"RSAES_OAEP_SHA_256":       {crypto.SHA256, false},
	"RSA_AES_KEY_WRAP_SHA_1":   {crypto.SHA1, true},
	"RSA_AES_KEY_WRAP_SHA_256": {crypto.SHA256, true},
}

// AWSAlgorithms are the wrapping algorithms of the aws target.
var AWSAlgorithms = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"}

// awsKeySpec is the AWS KMS key spec that takes the material of spec, or ""
// if AWS KMS has none.
func awsKeySpec(spec alg.Spec) string {
	switch kindOf(spec) {
	case kindAES:
		if spec.Bits == 256 {
			return "SYMMETRIC_DEFAULT"
		}
	case kindHMAC:
		if spec.Bits >= 224 { // HMAC_224 to HMAC_512; AWS has no HMAC with SHA-1
			return fmt.Sprintf("HMAC_%d", spec.Bits)
		}
	case kindRSA:
		return fmt.Sprintf("RSA_%d", spec.Bits)
	case kindEC:
		return fmt.Sprintf("ECC_NIST_P%d", spec.Bits)
	}
	return ""
}

func (awsTarget) options(pub *rsa.PublicKey, opts Options) error {
	if err := needAlgorithm(AWS, opts, AWSAlgorithms); err != nil {
		return err
	}
	if err := noKID(AWS, opts); err != nil {
		return err
	}
	return checkBits(pub, "an AWS KMS wrapping key (RSA_2048, RSA_3072, RSA_4096)", 2048, 3072, 4096)
}

func (awsTarget) keyType(a alg.Algorithm, spec alg.Spec, pub *rsa.PublicKey, opts Options) error {
	if awsKeySpec(spec) == "" {
		return fmt.Errorf("%w: AWS KMS has no key spec for %s keys (it imports 256-bit symmetric keys, HMAC_224 to HMAC_512, RSA and NIST P-256/P-384 keys)", ErrKeyType, a)
	}
	w := awsAlgorithms[opts.Algorithm]
	if !w.aes {
		if kindOf(spec) == kindRSA {
			return fmt.Errorf("%w: AWS KMS does not accept %s for RSA private keys; use RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1", ErrKeyType, opts.Algorithm)
		}
		// Raw keys have a known length, checked here. PKCS#8 EC keys (about
		// 138 bytes for P-256, 185 for P-384) fit every wrapping key; AWS's
		// one exception, P-521 under RSA_2048, is a curve Custos lacks.
		if n := spec.KeyBytes(); n > 0 {
			return fitsOAEP(pub, w.hash, n)
		}
	}
	return nil
}

func (awsTarget) wrap(material []byte, _ alg.Algorithm, _ alg.Spec, pub *rsa.PublicKey, opts Options) ([]byte, error) {
	w := awsAlgorithms[opts.Algorithm]
	if w.aes {
		return rsaAESKeyWrap(pub, w.hash, material)
	}
	return wrapOAEP(pub, w.hash, material)
}

func (awsTarget) describe(a alg.Algorithm, spec alg.Spec, opts Options) (string, []string) {
	usage := "ENCRYPT_DECRYPT"
	switch {
	case kindOf(spec) == kindHMAC:
		usage = "GENERATE_VERIFY_MAC"
	case spec.Purpose == alg.AsymmetricSign:
		usage = "SIGN_VERIFY"
	}
	return "aws " + opts.Algorithm + " EncryptedKeyMaterial (raw bytes)", []string{
		fmt.Sprintf("import into an AWS KMS key created with --origin EXTERNAL --key-spec %s --key-usage %s, with the import token of the same GetParametersForImport call", awsKeySpec(spec), usage),
		"aws kms import-key-material --key-id KEY_ID --encrypted-key-material fileb://OUT --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE",
	}
}
