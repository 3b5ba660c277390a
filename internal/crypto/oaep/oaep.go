// SPDX-License-Identifier: Apache-2.0

// Package oaep encrypts and decrypts with RSAES-OAEP ([RFC 8017] section
// 7.1) over crypto/rsa, for the Cloud KMS [asymmetric encryption]
// algorithms RSA_DECRYPT_OAEP_{2048,3072,4096}_{SHA1,SHA256,SHA512}.
//
// MGF1 always uses the same hash as OAEP, as in Cloud KMS. The label is
// the OAEP label L; Cloud KMS AsymmetricDecrypt uses an empty one.
//
// # Errors
//
// [Decrypt] returns the single error [ErrDecrypt] for every failure, and
// crypto/rsa decrypts in constant time, so a caller that passes the error
// on does not become a padding oracle ([Manger's attack]).
//
// [RFC 8017]: https://www.rfc-editor.org/rfc/rfc8017#section-7.1
// [asymmetric encryption]: https://cloud.google.com/kms/docs/algorithms#asymmetric_encryption_algorithms
// [Manger's attack]: https://doi.org/10.1007/3-540-44647-8_14
package oaep

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1"   // register SHA-1 for crypto.SHA1
	_ "crypto/sha256" // register SHA-256
	_ "crypto/sha512" // register SHA-512
	"errors"
)

var (
	// ErrHash is returned for a hash other than SHA-1, SHA-256 or SHA-512.
	ErrHash = errors.New("oaep: unsupported hash")
	// ErrKey is returned for a nil or unusable key (such as one under
	// 1024 bits, which crypto/rsa refuses).
	ErrKey = errors.New("oaep: unusable RSA key")
	// ErrMessageTooLong is returned by Encrypt for a plaintext longer than
	// k - 2*hLen - 2 bytes, k being the modulus size in bytes.
	ErrMessageTooLong = errors.New("oaep: plaintext too long for the key and hash")
	// ErrDecrypt is returned by Decrypt for any failure; see the package
	// documentation.
	ErrDecrypt = errors.New("oaep: decryption failed")
)

func supported(h crypto.Hash) bool {
	return h == crypto.SHA1 || h == crypto.SHA256 || h == crypto.SHA512
}

// UsableKey reports whether Encrypt can use pub: x509 parses a public
// exponent of 1 or an even one, and an even modulus, which RSA encryption
// refuses. Callers that take a wrapping key from outside check it before
// they unseal what they will wrap.
func UsableKey(pub *rsa.PublicKey) bool {
	return pub != nil && pub.N != nil && pub.E >= 3 && pub.E%2 == 1 && pub.N.Bit(0) == 1
}

// MaxPlaintext returns the longest plaintext Encrypt accepts for pub and
// h: k - 2*hLen - 2 bytes (RFC 8017 section 7.1.1), or 0 if there is none
// or h is not supported.
func MaxPlaintext(pub *rsa.PublicKey, h crypto.Hash) int {
	if pub == nil || pub.N == nil || !supported(h) {
		return 0
	}
	return max(0, pub.Size()-2*h.Size()-2)
}

// Encrypt encrypts plaintext for pub with RSAES-OAEP, hash h for both OAEP
// and MGF1, and label, drawing the seed from crypto/rand. It returns
// ErrHash, ErrKey or ErrMessageTooLong for bad arguments.
func Encrypt(pub *rsa.PublicKey, h crypto.Hash, plaintext, label []byte) ([]byte, error) {
	if !supported(h) {
		return nil, ErrHash
	}
	if pub == nil || pub.N == nil {
		return nil, ErrKey
	}
	if len(plaintext) > MaxPlaintext(pub, h) {
		return nil, ErrMessageTooLong
	}
	ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub, plaintext, label)
	if err != nil {
		return nil, ErrKey
	}
	return ct, nil
}

// Decrypt decrypts ciphertext with priv under RSAES-OAEP with hash h for
// both OAEP and MGF1 and the given label, and returns the plaintext. It
// returns ErrHash for an unsupported h and ErrDecrypt for any other
// failure: wrong length, wrong key, wrong label, or bad padding. priv must
// be kept secret, as must the plaintext.
func Decrypt(priv *rsa.PrivateKey, h crypto.Hash, ciphertext, label []byte) ([]byte, error) {
	if !supported(h) {
		return nil, ErrHash
	}
	if priv == nil || priv.N == nil {
		return nil, ErrDecrypt
	}
	pt, err := rsa.DecryptOAEP(h.New(), nil, priv, ciphertext, label)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
