// SPDX-License-Identifier: Apache-2.0

// Package aead provides AES-GCM ([NIST SP 800-38D]) with random 96-bit
// nonces, built on crypto/aes and crypto/cipher.
//
// # Formats
//
// [AEAD.Seal] returns nonce (12 bytes) || ciphertext || tag (16 bytes), the
// layout the standard library's [cipher.NewGCMWithRandomNonce] produces,
// so a sealed message is [Overhead] bytes longer than its plaintext.
//
// [AEAD.SealRaw] and [AEAD.OpenRaw] keep the nonce apart from the
// ciphertext, as Cloud KMS [RawEncrypt] and [RawDecrypt] do: the
// initialization_vector is 12 bytes, and the ciphertext carries the 16-byte
// tag at its end (tag_length 16).
//
// # Limits
//
// Nonces are random, so a key must not seal more than 2^32 messages
// (NIST SP 800-38D section 8.3); the caller rotates keys before that.
//
// [NIST SP 800-38D]: https://doi.org/10.6028/NIST.SP.800-38D
// [RawEncrypt]: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/rawEncrypt
// [RawDecrypt]: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/rawDecrypt
package aead

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
)

const (
	// NonceSize is the size in bytes of the random nonce (IV).
	NonceSize = 12
	// TagSize is the size in bytes of the authentication tag.
	TagSize = 16
	// Overhead is how many bytes [AEAD.Seal] adds to a plaintext.
	Overhead = NonceSize + TagSize
)

var (
	// ErrKeySize is returned by [New] for a key that is not 16 or 32 bytes.
	ErrKeySize = errors.New("aead: key must be 16 or 32 bytes")
	// ErrOpen is returned when a message does not authenticate or is too
	// short or malformed to hold a nonce and tag. It says nothing more, so
	// that callers cannot be used as a decryption oracle.
	ErrOpen = errors.New("aead: message authentication failed")
)

// AEAD is AES-GCM under one key. Its methods are safe for concurrent use.
// The key it was made from must be kept secret; AEAD never exposes it.
type AEAD struct {
	random cipher.AEAD // nonce || ct || tag, nonce drawn inside Seal
	raw    cipher.AEAD // caller-supplied 12-byte nonce, for OpenRaw
}

// New returns an AEAD for the AES-128 or AES-256 key key, or ErrKeySize.
// AES-192 is refused: Cloud KMS offers no such algorithm. New does not
// retain key; the caller may zero it afterwards.
func New(key []byte) (*AEAD, error) {
	if len(key) != 16 && len(key) != 32 {
		return nil, ErrKeySize
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKeySize
	}
	random, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		// Unreachable: block came from aes.NewCipher, which is all
		// NewGCMWithRandomNonce requires.
		panic("aead: internal error: " + err.Error())
	}
	raw, err := cipher.NewGCM(block)
	if err != nil {
		// NewGCM fails only in FIPS 140-only mode (GODEBUG=fips140=only),
		// which forbids caller-chosen nonces. Seal, Open and SealRaw still
		// work there; OpenRaw reports ErrOpen.
		raw = nil
	}
	return &AEAD{random: random, raw: raw}, nil
}

// Seal encrypts and authenticates plaintext and authenticates aad, under a
// fresh random nonce from crypto/rand, and appends nonce || ciphertext ||
// tag to dst, returning the updated slice. It allocates only when dst lacks
// room for len(plaintext)+Overhead more bytes. To seal in place, pass
// plaintext[:0] as dst; otherwise dst and plaintext must not overlap, and
// aad must not overlap the output.
func (a *AEAD) Seal(dst, plaintext, aad []byte) []byte {
	return a.random.Seal(dst, nil, plaintext, aad)
}

// Open authenticates and decrypts sealed, the output of [AEAD.Seal] made
// with the same key and aad, and appends the plaintext to dst. It returns
// ErrOpen for any failure: short input, a wrong key, wrong aad, or tampering.
// To open in place, pass sealed[:0] as dst.
func (a *AEAD) Open(dst, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	out, err := a.random.Open(dst, nil, sealed, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// SealRaw encrypts plaintext and authenticates aad under a fresh random
// 12-byte nonce, for Cloud KMS RawEncrypt. It returns the nonce (the
// initialization_vector) and the ciphertext with the 16-byte tag appended.
// Both slices share one newly allocated array and may be kept.
func (a *AEAD) SealRaw(plaintext, aad []byte) (iv, ciphertextAndTag []byte) {
	out := a.random.Seal(nil, nil, plaintext, aad)
	return out[:NonceSize:NonceSize], out[NonceSize:]
}

// OpenRaw authenticates and decrypts ciphertextAndTag, a ciphertext with its
// 16-byte tag appended, under the 12-byte nonce iv, for Cloud KMS
// RawDecrypt. It returns a new plaintext slice, or ErrOpen for any failure:
// an iv that is not 12 bytes, input too short to hold a tag, or a message
// that does not authenticate.
func (a *AEAD) OpenRaw(iv, ciphertextAndTag, aad []byte) ([]byte, error) {
	if a.raw == nil || len(iv) != NonceSize || len(ciphertextAndTag) < TagSize {
		return nil, ErrOpen
	}
	out, err := a.raw.Open(nil, iv, ciphertextAndTag, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
