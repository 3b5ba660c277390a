// SPDX-License-Identifier: Apache-2.0

// Package kdf derives sub-keys of a root key with HKDF-SHA256 ([RFC 5869])
// from the standard library's crypto/hkdf.
//
// # Why no salt
//
// RFC 5869 section 3.1 makes the salt optional and section 3.3 says the
// extract step may be skipped when the input keying material is already a
// cryptographically strong, uniformly random key. Custos's root key is
// exactly that (32 bytes from crypto/rand), so [Derive] uses no salt
// (HKDF then uses a string of zeros, section 2.2) and separates sub-keys
// by their info string alone. Do not pass passwords or Diffie-Hellman
// outputs as the secret.
//
// [RFC 5869]: https://www.rfc-editor.org/rfc/rfc5869
package kdf

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// MaxSize is the most bytes Derive can produce: 255 SHA-256 blocks
// (RFC 5869 section 2.3).
const MaxSize = 255 * sha256.Size

// Derive returns n bytes derived from secret for the purpose named by info,
// with HKDF-SHA256 and no salt. secret must be a uniformly random key of
// at least 32 bytes and must be kept secret, as must the result. Distinct
// info strings give independent keys. n is a length fixed by the caller's
// code, not by input, so Derive panics if n is not in 1..MaxSize.
func Derive(secret []byte, info string, n int) []byte {
	if n < 1 || n > MaxSize {
		panic("kdf: internal error: Derive called with an output length outside 1..MaxSize")
	}
	out, err := hkdf.Key(sha256.New, secret, nil, info, n)
	if err != nil {
		// hkdf.Key fails only for a length out of range, checked above,
		// or in FIPS 140-only mode for a secret shorter than 112 bits,
		// which the contract forbids.
		panic("kdf: internal error: " + err.Error())
	}
	return out
}
