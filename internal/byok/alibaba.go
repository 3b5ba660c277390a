// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// Alibaba Cloud KMS: the EncryptedKeyMaterial of ImportKeyMaterial for a
// symmetric key of EXTERNAL origin.
//
// Sources:
//
//   - ImportKeyMaterial,
//     https://www.alibabacloud.com/help/en/kms/key-management-service/developer-reference/api-kms-2016-01-20-importkeymaterial:
//     EncryptedKeyMaterial is "the key material encrypted with the public
//     key returned by GetParametersForImport, and then Base64-encoded"; an
//     Aliyun_AES_256 key takes 256 bits of material (an Aliyun_SM4 key 128,
//     a cipher Custos has no keys of).
//   - GetParametersForImport in the same API reference: WrappingAlgorithm
//     RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 (SM2PKE is not offered here)
//     with WrappingKeySpec RSA_2048; PublicKey is base64 of the DER public
//     key. RSAES-OAEP uses the algorithm's hash for OAEP and for MGF1 (as
//     OpenSSL does when rsa_oaep_md alone is given).
//   - Import key material into a symmetric key,
//     https://www.alibabacloud.com/help/en/kms/key-management-service/user-guide/import-key-material-into-a-symmetric-key.
//
// Alibaba Cloud imports asymmetric keys with another envelope (an
// ephemeral SM4 or AES key), which this target does not produce.
type alibabaTarget struct{}

var alibabaAlgorithms = map[string]crypto.Hash{
	"RSAES_OAEP_SHA_1":   crypto.SHA1,
	"RSAES_OAEP_SHA_256": crypto.SHA256,
}

// AlibabaAlgorithms are the wrapping algorithms of the alibaba target.
var AlibabaAlgorithms = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}

func (alibabaTarget) options(_ *rsa.PublicKey, opts Options) error {
	if err := needAlgorithm(Alibaba, opts, AlibabaAlgorithms); err != nil {
		return err
	}
	return noKID(Alibaba, opts)
}

func (alibabaTarget) keyType(a alg.Algorithm, spec alg.Spec, pub *rsa.PublicKey, opts Options) error {
	if kindOf(spec) != kindAES || spec.Bits != 256 {
		return fmt.Errorf("%w: this target imports 256-bit AES keys (Aliyun_AES_256) into Alibaba Cloud KMS; %s is not one", ErrKeyType, a)
	}
	return fitsOAEP(pub, alibabaAlgorithms[opts.Algorithm], spec.KeyBytes())
}

func (alibabaTarget) wrap(material []byte, _ alg.Algorithm, _ alg.Spec, pub *rsa.PublicKey, opts Options) ([]byte, error) {
	wrapped, err := wrapOAEP(pub, alibabaAlgorithms[opts.Algorithm], material)
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(wrapped)))
	base64.StdEncoding.Encode(out, wrapped)
	return out, nil
}

func (alibabaTarget) describe(_ alg.Algorithm, _ alg.Spec, opts Options) (string, []string) {
	return "alibaba " + opts.Algorithm + " EncryptedKeyMaterial (base64 text)", []string{
		"import into an Alibaba Cloud KMS key of origin EXTERNAL and spec Aliyun_AES_256, with the ImportToken of the same GetParametersForImport call",
		`aliyun kms ImportKeyMaterial --KeyId KEY_ID --EncryptedKeyMaterial "$(cat OUT)" --ImportToken TOKEN`,
	}
}
