// SPDX-License-Identifier: Apache-2.0

// Package signature signs and verifies digests with the schemes of the
// Cloud KMS [asymmetric signing] algorithms, over any [crypto.Signer]
// (an in-memory key from the standard library, or a hardware one).
//
// # Schemes
//
// A [Scheme] fixes the key family, padding and hash:
//
//   - ECDSA on P-256 with SHA-256 and on P-384 with SHA-384 ([FIPS 186-5]).
//     Signatures are ASN.1 DER ECDSA-Sig-Value, as Cloud KMS
//     AsymmetricSign returns them.
//   - Ed25519 ([RFC 8032]), pure, over the whole message.
//   - RSASSA-PSS ([RFC 8017] section 8.1) with SHA-256 or SHA-512, MGF1
//     with the same hash, and a salt as long as the hash (Cloud KMS's
//     choice). Verification insists on that salt length.
//   - RSASSA-PKCS1-v1_5 ([RFC 8017] section 8.2) with SHA-256 or SHA-512.
//
// # Digests
//
// [Sign] and [Verify] take the digest of the message, as Cloud KMS
// AsymmetricSign takes a Digest, except for Ed25519, which signs the
// message itself. A digest of the wrong length is refused with
// [ErrDigestSize] rather than signed.
//
// # Key sizes
//
// A Scheme does not fix the RSA modulus size: the caller checks it when the
// key is created or imported (see package asym). The standard library
// refuses RSA keys under 1024 bits.
//
// [asymmetric signing]: https://cloud.google.com/kms/docs/algorithms#asymmetric_signing_algorithms
// [FIPS 186-5]: https://doi.org/10.6028/NIST.FIPS.186-5
// [RFC 8032]: https://www.rfc-editor.org/rfc/rfc8032
// [RFC 8017]: https://www.rfc-editor.org/rfc/rfc8017
package signature

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // register SHA-256 for crypto.SHA256
	_ "crypto/sha512" // register SHA-384 and SHA-512
	"errors"
	"fmt"
)

// Scheme is a signature algorithm: key family, padding and hash. The zero
// value is not a valid Scheme.
type Scheme int

// The supported schemes.
const (
	ECDSAP256SHA256 Scheme = iota + 1
	ECDSAP384SHA384
	Ed25519
	RSAPSSSHA256
	RSAPSSSHA512
	RSAPKCS1SHA256
	RSAPKCS1SHA512
)

var (
	// ErrUnsupported is returned for an invalid Scheme.
	ErrUnsupported = errors.New("signature: unsupported scheme")
	// ErrDigestSize is returned when a digest is not as long as the
	// scheme's hash.
	ErrDigestSize = errors.New("signature: digest has the wrong length for the scheme")
	// ErrKeyMismatch is returned when a key's type (or curve) does not fit
	// the scheme.
	ErrKeyMismatch = errors.New("signature: key does not fit the scheme")
	// ErrSign wraps a failure of the crypto.Signer itself.
	ErrSign = errors.New("signature: signing failed")
	// ErrVerify is returned for a signature that does not verify.
	ErrVerify = errors.New("signature: verification failed")
)

// String returns the scheme's name, such as "ECDSAP256SHA256".
func (s Scheme) String() string {
	switch s {
	case ECDSAP256SHA256:
		return "ECDSAP256SHA256"
	case ECDSAP384SHA384:
		return "ECDSAP384SHA384"
	case Ed25519:
		return "Ed25519"
	case RSAPSSSHA256:
		return "RSAPSSSHA256"
	case RSAPSSSHA512:
		return "RSAPSSSHA512"
	case RSAPKCS1SHA256:
		return "RSAPKCS1SHA256"
	case RSAPKCS1SHA512:
		return "RSAPKCS1SHA512"
	}
	return "Scheme(invalid)"
}

// Hash returns the hash whose digest the scheme signs, or 0 for Ed25519
// (which signs the message) and for an invalid Scheme.
func (s Scheme) Hash() crypto.Hash {
	switch s {
	case ECDSAP256SHA256, RSAPSSSHA256, RSAPKCS1SHA256:
		return crypto.SHA256
	case ECDSAP384SHA384:
		return crypto.SHA384
	case RSAPSSSHA512, RSAPKCS1SHA512:
		return crypto.SHA512
	}
	return 0
}

// family is a scheme's key family and padding.
type family int

const (
	famInvalid family = iota
	famECDSA
	famEd25519
	famPSS
	famPKCS1
)

func (s Scheme) family() family {
	switch s {
	case ECDSAP256SHA256, ECDSAP384SHA384:
		return famECDSA
	case Ed25519:
		return famEd25519
	case RSAPSSSHA256, RSAPSSSHA512:
		return famPSS
	case RSAPKCS1SHA256, RSAPKCS1SHA512:
		return famPKCS1
	}
	return famInvalid
}

// check validates s, the public key's fit with s, and the digest length.
func (s Scheme) check(pub crypto.PublicKey, digest []byte) error {
	f := s.family()
	switch f {
	case famInvalid:
		return ErrUnsupported
	case famECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		want := elliptic.P256()
		if s == ECDSAP384SHA384 {
			want = elliptic.P384()
		}
		if !ok || k.Curve != want {
			return ErrKeyMismatch
		}
	case famEd25519:
		if k, ok := pub.(ed25519.PublicKey); !ok || len(k) != ed25519.PublicKeySize {
			return ErrKeyMismatch
		}
	case famPSS, famPKCS1:
		if k, ok := pub.(*rsa.PublicKey); !ok || k.N == nil {
			return ErrKeyMismatch
		}
	}
	if h := s.Hash(); h != 0 && len(digest) != h.Size() {
		return ErrDigestSize
	}
	return nil
}

// Sign signs digest, the hash of the message under s.Hash() (for Ed25519,
// the message itself), with priv under scheme s, drawing randomness from
// crypto/rand. ECDSA signatures are ASN.1 DER; RSA-PSS uses a salt as long
// as the hash. It returns ErrUnsupported for an invalid s, ErrKeyMismatch
// if priv's key type or curve does not fit s, ErrDigestSize for a digest
// of the wrong length, and an error wrapping ErrSign if priv fails.
func Sign(priv crypto.Signer, s Scheme, digest []byte) ([]byte, error) {
	if priv == nil {
		return nil, ErrKeyMismatch
	}
	if err := s.check(priv.Public(), digest); err != nil {
		return nil, err
	}
	var opts crypto.SignerOpts = s.Hash()
	if s.family() == famPSS {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: s.Hash()}
	}
	sig, err := priv.Sign(rand.Reader, digest, opts)
	if err != nil {
		// %v, not %w: the signer's error is a cause to log, not API.
		return nil, fmt.Errorf("%w: %v", ErrSign, err)
	}
	return sig, nil
}

// Verify checks that sig is a valid signature under scheme s by the public
// key pub of digest, the hash of the message (for Ed25519, the message
// itself). ECDSA signatures must be ASN.1 DER. It returns nil on success,
// ErrVerify for a signature that does not verify, ErrUnsupported for an
// invalid s, ErrKeyMismatch if pub does not fit s, and ErrDigestSize for a
// digest of the wrong length.
func Verify(pub crypto.PublicKey, s Scheme, digest, sig []byte) error {
	if err := s.check(pub, digest); err != nil {
		return err
	}
	var ok bool
	switch s.family() {
	case famECDSA:
		ok = ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig)
	case famEd25519:
		ok = ed25519.Verify(pub.(ed25519.PublicKey), digest, sig)
	case famPSS:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: s.Hash()}
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), s.Hash(), digest, sig, opts) == nil
	case famPKCS1:
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), s.Hash(), digest, sig) == nil
	}
	if !ok {
		return ErrVerify
	}
	return nil
}
