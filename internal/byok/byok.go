// SPDX-License-Identifier: Apache-2.0

// Package byok turns the material of an exportable Custos key version into
// exactly what another key manager imports ("bring your own key"): the
// material encrypted under that key manager's public wrapping key, in its
// documented format. The material never leaves this package unwrapped.
//
// # Targets
//
//   - [AWS]: AWS KMS ImportKeyMaterial's EncryptedKeyMaterial (raw bytes),
//     with RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or
//     RSA_AES_KEY_WRAP_SHA_256 (aws.go).
//   - [GCP]: the wrapped_key of a Google Cloud KMS ImportCryptoKeyVersion
//     request, for each import method of an import job (gcp.go).
//   - [GCPCSEK]: the base64 rsaEncryptedKey of a Compute Engine
//     customer-supplied encryption key (csek.go).
//   - [Azure]: a ".byok" key transfer blob for Azure Key Vault and Managed
//     HSM (azure.go).
//   - [Alibaba]: Alibaba Cloud KMS ImportKeyMaterial's base64
//     EncryptedKeyMaterial (alibaba.go).
//
// Each file cites the provider's documentation it follows.
//
// # Material
//
// Material is what Custos stores for a version: the raw key bytes for AES
// and HMAC algorithms, a PKCS#8 DER private key (RFC 5208) for RSA and EC
// keys. That is also what every provider expects inside the wrapping, so it
// is wrapped as is; each target refuses the key types its provider cannot
// import ([ErrKeyType]).
//
// # Primitives
//
// Two wrappings cover every provider: RSAES-OAEP ([RFC 8017] section 7.1)
// with the same hash for OAEP and MGF1 and an empty label, and
// CKM_RSA_AES_KEY_WRAP ([PKCS #11 v2.40] section 2.1.21): a fresh AES-256
// key encrypted with RSAES-OAEP, followed by the material wrapped under that
// AES key with AES Key Wrap with Padding ([RFC 5649]). The AES key is drawn
// from crypto/rand for every call and cleared after use.
//
// [RFC 8017]: https://www.rfc-editor.org/rfc/rfc8017#section-7.1
// [RFC 5649]: https://www.rfc-editor.org/rfc/rfc5649
// [PKCS #11 v2.40]: http://docs.oasis-open.org/pkcs11/pkcs11-curr/v2.40/cos01/pkcs11-curr-v2.40-cos01.html#_Toc408226908
package byok

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/keywrap"
	"github.com/custos-kms/custos/internal/crypto/oaep"
)

// Target is a key manager that Custos can wrap keys for.
type Target string

// The targets.
const (
	AWS     Target = "aws"
	GCP     Target = "gcp"
	GCPCSEK Target = "gcp-csek"
	Azure   Target = "azure"
	Alibaba Target = "alibaba"
)

// Targets returns every target, in a fixed order.
func Targets() []Target { return []Target{AWS, GCP, GCPCSEK, Azure, Alibaba} }

// Sentinel errors. Every error of this package wraps one of them; the text
// around it says what is wrong and never holds key material.
var (
	// ErrTarget: the target is not one of [Targets].
	ErrTarget = errors.New("byok: unknown target")
	// ErrOption: a wrapping algorithm or key identifier is missing, not
	// allowed for the target, or malformed.
	ErrOption = errors.New("byok: invalid option")
	// ErrWrappingKey: the wrapping key does not parse, is not RSA, or has
	// a size the target or algorithm does not take.
	ErrWrappingKey = errors.New("byok: unusable wrapping key")
	// ErrKeyType: the provider cannot import this kind of key, or not with
	// this algorithm.
	ErrKeyType = errors.New("byok: key type not importable")
)

// Options are the target-specific settings of [Wrap].
type Options struct {
	// Algorithm is the provider's own name of the wrapping algorithm
	// (RSAES_OAEP_SHA_256, RSA_OAEP_3072_SHA256_AES_256, ...). Required
	// for AWS, GCP and Alibaba, which have no default; refused for Azure
	// and GCPCSEK, which have one fixed algorithm each.
	Algorithm string
	// KID is the full key identifier URL of the Azure key exchange key
	// (https://VAULT.vault.azure.net/keys/NAME/VERSION). Required for
	// Azure, refused elsewhere.
	KID string
	// Generator fills the informational "generator" field of an Azure
	// .byok file; default "custos/VERSION".
	Generator string
}

// target is what each provider file implements.
type target interface {
	// options validates the options and the wrapping key (pub may be nil).
	options(pub *rsa.PublicKey, opts Options) error
	// keyType validates the key type; options has passed.
	keyType(a alg.Algorithm, spec alg.Spec, pub *rsa.PublicKey, opts Options) error
	// wrap produces the output; check has passed.
	wrap(material []byte, a alg.Algorithm, spec alg.Spec, pub *rsa.PublicKey, opts Options) ([]byte, error)
	// describe names the format and gives notes for the operator.
	describe(a alg.Algorithm, spec alg.Spec, opts Options) (format string, notes []string)
}

func lookup(t Target) (target, error) {
	switch t {
	case AWS:
		return awsTarget{}, nil
	case GCP:
		return gcpTarget{}, nil
	case GCPCSEK:
		return csekTarget{}, nil
	case Azure:
		return azureTarget{}, nil
	case Alibaba:
		return alibabaTarget{}, nil
	}
	return nil, fmt.Errorf("%w %q; want one of %v", ErrTarget, t, Targets())
}

// CheckOptions reports whether the options and the wrapping key suit
// target t, whatever the key. pub may be nil to check only the options.
func CheckOptions(t Target, pub *rsa.PublicKey, opts Options) error {
	tg, err := lookup(t)
	if err != nil {
		return err
	}
	return tg.options(pub, opts)
}

// Check reports whether [Wrap] would accept a key of algorithm a for
// target t with these options and wrapping key, without the material. A
// caller checks before it unseals any material. pub may be nil to check
// only the options and the key type.
func Check(t Target, a alg.Algorithm, pub *rsa.PublicKey, opts Options) error {
	tg, err := lookup(t)
	if err != nil {
		return err
	}
	spec, ok := alg.Lookup(a)
	if !ok {
		return fmt.Errorf("%w: unknown algorithm %s", ErrKeyType, a)
	}
	if err := tg.options(pub, opts); err != nil {
		return err
	}
	return tg.keyType(a, spec, pub, opts)
}

// Wrap wraps material, the material of a version of algorithm a, for
// target t under the provider's public wrapping key pub, and returns the
// exact bytes to hand the provider: raw bytes for AWS and GCP, base64 text
// (no newline) for GCPCSEK and Alibaba, the .byok JSON for Azure. It
// returns an error wrapping ErrTarget, ErrOption, ErrWrappingKey or
// ErrKeyType. material is not modified; the output is safe to store or
// send.
func Wrap(t Target, material []byte, a alg.Algorithm, pub *rsa.PublicKey, opts Options) ([]byte, error) {
	tg, err := lookup(t)
	if err != nil {
		return nil, err
	}
	spec, ok := alg.Lookup(a)
	if !ok {
		return nil, fmt.Errorf("%w: unknown algorithm %s", ErrKeyType, a)
	}
	if pub == nil {
		return nil, fmt.Errorf("%w: none given", ErrWrappingKey)
	}
	if err := tg.options(pub, opts); err != nil {
		return nil, err
	}
	if err := tg.keyType(a, spec, pub, opts); err != nil {
		return nil, err
	}
	if err := checkMaterial(spec, material); err != nil {
		return nil, err
	}
	return tg.wrap(material, a, spec, pub, opts)
}

// Describe returns the name of the format [Wrap] produces for t and the
// algorithm's keys, and notes for the operator (how to import it, and any
// limit of the provider).
func Describe(t Target, a alg.Algorithm, opts Options) (format string, notes []string) {
	tg, err := lookup(t)
	if err != nil {
		return "", nil
	}
	spec, _ := alg.Lookup(a)
	return tg.describe(a, spec, opts)
}

// kind is what sort of key a version holds, as the providers tell them apart.
type kind int

const (
	kindAES kind = iota + 1
	kindHMAC
	kindRSA
	kindEC
	kindEd25519
)

func kindOf(spec alg.Spec) kind {
	switch spec.Family {
	case alg.FamilyAESGCM:
		return kindAES
	case alg.FamilyHMAC:
		return kindHMAC
	case alg.FamilyECDSA:
		return kindEC
	case alg.FamilyEd25519:
		return kindEd25519
	}
	return kindRSA
}

// checkMaterial makes sure material has the shape its algorithm promises,
// so that a provider never receives a malformed key: the exact length for
// raw keys, a non-empty DER SEQUENCE for PKCS#8.
func checkMaterial(spec alg.Spec, material []byte) error {
	if n := spec.KeyBytes(); n > 0 {
		if len(material) != n {
			return fmt.Errorf("%w: material is %d bytes, the algorithm needs %d", ErrKeyType, len(material), n)
		}
		return nil
	}
	if len(material) < 2 || material[0] != 0x30 {
		return fmt.Errorf("%w: material is not a PKCS#8 private key", ErrKeyType)
	}
	return nil
}

// checkBits refuses a wrapping key whose size is not one of sizes.
func checkBits(pub *rsa.PublicKey, what string, sizes ...int) error {
	if pub == nil {
		return nil
	}
	bits := pub.N.BitLen()
	if !slices.Contains(sizes, bits) {
		return fmt.Errorf("%w: a %d-bit RSA key; %s takes %v-bit keys", ErrWrappingKey, bits, what, sizes)
	}
	return nil
}

// wrapOAEP is RSAES-OAEP with hash h for OAEP and MGF1 and an empty label.
func wrapOAEP(pub *rsa.PublicKey, h crypto.Hash, material []byte) ([]byte, error) {
	out, err := oaep.Encrypt(pub, h, material, nil)
	switch {
	case errors.Is(err, oaep.ErrMessageTooLong):
		return nil, fmt.Errorf("%w: the key material (%d bytes) is longer than RSAES-OAEP with %v and a %d-bit wrapping key can carry (%d bytes); use an RSA-AES algorithm",
			ErrKeyType, len(material), h, pub.N.BitLen(), oaep.MaxPlaintext(pub, h))
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrWrappingKey, err)
	}
	return out, nil
}

// fitsOAEP is the length check of wrapOAEP, made before any material is
// unsealed.
func fitsOAEP(pub *rsa.PublicKey, h crypto.Hash, n int) error {
	if pub == nil || n <= oaep.MaxPlaintext(pub, h) {
		return nil
	}
	return fmt.Errorf("%w: the key material (%d bytes) is longer than RSAES-OAEP with %v and a %d-bit wrapping key can carry (%d bytes); use an RSA-AES algorithm",
		ErrKeyType, n, h, pub.N.BitLen(), oaep.MaxPlaintext(pub, h))
}

// rsaAESKeyWrap is CKM_RSA_AES_KEY_WRAP: RSAES-OAEP(h, MGF1 h, empty
// label) of a fresh AES-256 key, followed by the RFC 5649 wrap of material
// under that key. The output is k + len(padded material) + 8 bytes, k being
// the modulus size in bytes.
func rsaAESKeyWrap(pub *rsa.PublicKey, h crypto.Hash, material []byte) ([]byte, error) {
	kek := make([]byte, 32)
	defer clear(kek)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("byok: cannot generate the ephemeral AES key: %w", err)
	}
	wrappedKEK, err := wrapOAEP(pub, h, kek)
	if err != nil {
		return nil, err
	}
	wrapped, err := keywrap.WrapPad(kek, material)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyType, err)
	}
	return append(wrappedKEK, wrapped...), nil
}

// noAlgorithm refuses an algorithm for a target that has a fixed one.
func noAlgorithm(t Target, opts Options, fixed string) error {
	if opts.Algorithm != "" {
		return fmt.Errorf("%w: %s has one wrapping algorithm (%s); give no wrapping algorithm", ErrOption, t, fixed)
	}
	return nil
}

// noKID refuses a key identifier for a target that has none.
func noKID(t Target, opts Options) error {
	if opts.KID != "" {
		return fmt.Errorf("%w: a key identifier (kid) is only used for azure, not %s", ErrOption, t)
	}
	return nil
}

// needAlgorithm asks for one of names.
func needAlgorithm(t Target, opts Options, names []string) error {
	if opts.Algorithm == "" {
		return fmt.Errorf("%w: %s needs a wrapping algorithm, one of %v (it has no default)", ErrOption, t, names)
	}
	if !slices.Contains(names, opts.Algorithm) {
		return fmt.Errorf("%w: %s has no wrapping algorithm %q; want one of %v", ErrOption, t, opts.Algorithm, names)
	}
	return nil
}

// buildVersion is the module version of this binary, for the generator.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
