// SPDX-License-Identifier: Apache-2.0

// Package mac provides HMAC ([RFC 2104], FIPS 198-1) over the standard
// library's crypto/hmac, for the Cloud KMS MAC algorithms HMAC_SHA1,
// HMAC_SHA224, HMAC_SHA256, HMAC_SHA384 and HMAC_SHA512 ([MacSign],
// [MacVerify]).
//
// Tags are always full length: [Verify] refuses a truncated tag, as Cloud
// KMS MacVerify does.
//
// [RFC 2104]: https://www.rfc-editor.org/rfc/rfc2104
// [MacSign]: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/macSign
// [MacVerify]: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/macVerify
package mac

import (
	"crypto"
	"crypto/hmac"
	_ "crypto/sha1"   // register SHA-1 for crypto.SHA1.New
	_ "crypto/sha256" // register SHA-224 and SHA-256
	_ "crypto/sha512" // register SHA-384 and SHA-512
)

// Supported reports whether h is a hash Sign and Verify accept: SHA-1,
// SHA-224, SHA-256, SHA-384 or SHA-512.
func Supported(h crypto.Hash) bool {
	switch h {
	case crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return true
	}
	return false
}

// Sign returns the full-length HMAC of data under key with hash h, or nil
// if h is not [Supported]. key must be kept secret.
func Sign(h crypto.Hash, key, data []byte) []byte {
	if !Supported(h) {
		return nil
	}
	m := hmac.New(h.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// Verify reports whether tag is the full-length HMAC of data under key with
// hash h. It compares in constant time, and returns false for an
// unsupported h or a tag of the wrong length (truncated tags are refused).
func Verify(h crypto.Hash, key, data, tag []byte) bool {
	want := Sign(h, key, data)
	if want == nil || len(tag) != len(want) {
		return false
	}
	return hmac.Equal(want, tag)
}
