// SPDX-License-Identifier: Apache-2.0

// Package asym generates, parses and checks the asymmetric private keys
// behind Custos's signing and decryption key versions, and encodes public
// keys as Cloud KMS [GetPublicKey] returns them.
//
// # Key types
//
// A [KeyType] names a key family and size: RSA with a 2048, 3072 or 4096
// bit modulus, ECDSA on NIST P-256 or P-384, and Ed25519. Private keys are
// held as the standard library's [crypto.Signer] implementations
// (*rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey) and stored as
// PKCS#8 ([RFC 5208]) DER, which is also what Cloud KMS [key import]
// takes.
//
// Private keys and their PKCS#8 encodings must be kept secret; errors from
// this package never contain key bytes.
//
// [GetPublicKey]: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/getPublicKey
// [RFC 5208]: https://www.rfc-editor.org/rfc/rfc5208
// [key import]: https://cloud.google.com/kms/docs/importing-a-key
package asym

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
)

// KeyType is an asymmetric key family and size. The zero value is not a
// valid KeyType.
type KeyType int

// The supported key types.
const (
	RSA2048 KeyType = iota + 1
	RSA3072
	RSA4096
	ECP256
	ECP384
	Ed25519
)

var (
	// ErrUnsupported is returned for a KeyType or key this package does
	// not handle.
	ErrUnsupported = errors.New("asym: unsupported key type")
	// ErrParse is returned by ParsePKCS8 for DER that is not a valid
	// PKCS#8 private key.
	ErrParse = errors.New("asym: malformed PKCS#8 private key")
	// ErrWrongType is returned by CheckType for a key that is not of the
	// expected type, such as an RSA key of another modulus size or an EC
	// key on another curve.
	ErrWrongType = errors.New("asym: key does not match the key type")
)

// String returns the type's name, such as "RSA2048" or "ECP256".
func (t KeyType) String() string {
	switch t {
	case RSA2048:
		return "RSA2048"
	case RSA3072:
		return "RSA3072"
	case RSA4096:
		return "RSA4096"
	case ECP256:
		return "ECP256"
	case ECP384:
		return "ECP384"
	case Ed25519:
		return "Ed25519"
	}
	return "KeyType(invalid)"
}

// rsaBits returns the modulus size of an RSA type, or 0.
func (t KeyType) rsaBits() int {
	switch t {
	case RSA2048:
		return 2048
	case RSA3072:
		return 3072
	case RSA4096:
		return 4096
	}
	return 0
}

// curve returns the curve of an EC type, or nil.
func (t KeyType) curve() elliptic.Curve {
	switch t {
	case ECP256:
		return elliptic.P256()
	case ECP384:
		return elliptic.P384()
	}
	return nil
}

// Generate creates a new private key of type t from crypto/rand and returns
// it with its PKCS#8 DER encoding. Both must be kept secret. It returns
// ErrUnsupported for an invalid t. RSA-4096 generation takes seconds.
func Generate(t KeyType) (priv crypto.Signer, pkcs8 []byte, err error) {
	switch {
	case t.rsaBits() != 0:
		priv, err = rsa.GenerateKey(rand.Reader, t.rsaBits())
	case t.curve() != nil:
		priv, err = ecdsa.GenerateKey(t.curve(), rand.Reader)
	case t == Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, ErrUnsupported
	}
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err = x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return priv, pkcs8, nil
}

// ParsePKCS8 parses a PKCS#8 DER private key. It returns *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey, after the standard library's
// consistency checks; ErrParse for malformed DER; and ErrUnsupported for
// any other kind of key (such as X25519). Trailing bytes after the DER
// structure are refused. It does not check sizes or curves: call
// [CheckType] for that.
func ParsePKCS8(der []byte) (crypto.Signer, error) {
	// x509 ignores bytes after the outer SEQUENCE; an import must not.
	var outer asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) != 0 {
		return nil, ErrParse
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// x509's message is not returned: the caller's input is secret
		// key material, and the sentinel is all a caller can act on.
		return nil, ErrParse
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, ErrUnsupported
}

// TypeOf returns the KeyType of the public key pub (*rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey), or ErrUnsupported for any other
// key, size or curve.
func TypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 2048:
			return RSA2048, nil
		case 3072:
			return RSA3072, nil
		case 4096:
			return RSA4096, nil
		}
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return ECP256, nil
		case elliptic.P384():
			return ECP384, nil
		}
	case ed25519.PublicKey:
		if len(pub) == ed25519.PublicKeySize {
			return Ed25519, nil
		}
	}
	return 0, ErrUnsupported
}

// CheckType returns nil if priv is a key of type t (RSA modulus size, EC
// curve, or Ed25519), and ErrWrongType otherwise, as key import needs.
func CheckType(priv crypto.Signer, t KeyType) error {
	if priv == nil {
		return ErrWrongType
	}
	got, err := TypeOf(priv.Public())
	if err != nil || got != t {
		return ErrWrongType
	}
	return nil
}

// PublicPEM returns pub as a "PUBLIC KEY" PEM block holding its DER
// SubjectPublicKeyInfo ([RFC 5280] section 4.1), the format of the pem
// field of Cloud KMS GetPublicKey. It returns ErrUnsupported for a key
// type x509 cannot encode.
//
// [RFC 5280]: https://www.rfc-editor.org/rfc/rfc5280#section-4.1
func PublicPEM(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", ErrUnsupported
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
