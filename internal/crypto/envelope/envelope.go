// SPDX-License-Identifier: Apache-2.0

// Package envelope defines the self-describing ciphertext that Custos's
// Encrypt returns and that Cloud EKM wrapped blobs use.
//
// # Format
//
// A ciphertext is
//
//	kind (1 byte) || uvarint(version) || nonce (12) || ct || tag (16)
//
// where kind is a [Kind], version is the key version number (1 to 2^32) as
// an unsigned LEB128 varint ([encoding/binary.AppendUvarint]) in its
// shortest form, and nonce || ct || tag is AES-GCM output from
// [aead.AEAD.Seal]. The AES-GCM associated data is
//
//	"custos-envelope-v1" || kind || uvarint(version) ||
//	uvarint(len(keyName)) || keyName || userAAD
//
// so the kind (domain separation between Encrypt and EKM blobs), the
// version and the key name are all authenticated, and the length prefix
// keeps keyName and userAAD from sliding into each other. The key name is
// not stored: the caller knows which key it asked for.
//
// # Parsing
//
// [Parse] reads only the header, so a caller can pick the key version
// before decrypting. It refuses, with [ErrMalformed], an unknown kind, a
// truncated or non-minimal varint, a version of 0 or above 2^32, and input
// too short for a nonce and tag. Refusing non-minimal varints keeps the
// format free of malleability: each (kind, version, ct) has one encoding.
package envelope

import (
	"encoding/binary"
	"errors"

	"github.com/custos-kms/custos/internal/crypto/aead"
)

// Kind says what produced a ciphertext; it is authenticated, so a blob of
// one kind never opens as another.
type Kind byte

// The kinds of ciphertext.
const (
	// KindEncrypt marks the output of Custos's Encrypt.
	KindEncrypt Kind = 0x01
	// KindEKM marks a Cloud EKM wrapped blob.
	KindEKM Kind = 0x02
)

// MaxVersion is the largest key version a ciphertext may carry.
const MaxVersion = 1 << 32

// domain is the fixed prefix of the associated data.
const domain = "custos-envelope-v1"

var (
	// ErrMalformed is returned for a ciphertext whose header cannot be read.
	ErrMalformed = errors.New("envelope: malformed ciphertext")
	// ErrWrongKind is returned by Open for a well-formed ciphertext of
	// another kind than the one asked for.
	ErrWrongKind = errors.New("envelope: ciphertext is of the wrong kind")
	// ErrOpen is returned by Open for a ciphertext that does not
	// authenticate: tampered, or sealed under another key, key name or aad.
	ErrOpen = errors.New("envelope: message authentication failed")
)

func (k Kind) valid() bool { return k == KindEncrypt || k == KindEKM }

// String returns the kind's name, such as "encrypt".
func (k Kind) String() string {
	switch k {
	case KindEncrypt:
		return "encrypt"
	case KindEKM:
		return "ekm"
	}
	return "unknown"
}

// Seal encrypts plaintext under a and returns the ciphertext described in
// the package documentation, binding kind, version, keyName and aad to it.
// kind must be KindEncrypt or KindEKM and version in 1..MaxVersion; these
// come from the caller's own records, never from a request, so Seal panics
// if they are out of range rather than produce a ciphertext that Parse
// would refuse.
func Seal(a *aead.AEAD, kind Kind, version uint64, keyName string, plaintext, aad []byte) []byte {
	if !kind.valid() || version == 0 || version > MaxVersion {
		panic("envelope: internal error: Seal called with an invalid kind or version")
	}
	hdr := make([]byte, 0, 1+binary.MaxVarintLen64+len(plaintext)+aead.Overhead)
	hdr = append(hdr, byte(kind))
	hdr = binary.AppendUvarint(hdr, version)
	return a.Seal(hdr, plaintext, additionalData(hdr, keyName, aad))
}

// Parse reads the kind and version from a ciphertext's header without
// decrypting it. It returns ErrMalformed for anything wrong with it (see the
// package documentation).
func Parse(ciphertext []byte) (kind Kind, version uint64, err error) {
	kind, version, _, err = parse(ciphertext)
	return kind, version, err
}

// parse returns the header fields and the header's length.
func parse(c []byte) (Kind, uint64, int, error) {
	if len(c) < 1 {
		return 0, 0, 0, ErrMalformed
	}
	kind := Kind(c[0])
	if !kind.valid() {
		return 0, 0, 0, ErrMalformed
	}
	version, m := binary.Uvarint(c[1:])
	if m <= 0 || m != uvarintLen(version) {
		return 0, 0, 0, ErrMalformed
	}
	if version == 0 || version > MaxVersion {
		return 0, 0, 0, ErrMalformed
	}
	n := 1 + m
	if len(c)-n < aead.Overhead {
		return 0, 0, 0, ErrMalformed
	}
	return kind, version, n, nil
}

// Open authenticates and decrypts a ciphertext made by Seal with the same
// key, kind, key name and aad, and returns the plaintext. It returns
// ErrMalformed if the header cannot be read, ErrWrongKind if the kind is not
// want (checked before any decryption), and ErrOpen if the ciphertext does
// not authenticate.
func Open(a *aead.AEAD, want Kind, keyName string, ciphertext, aad []byte) ([]byte, error) {
	kind, _, n, err := parse(ciphertext)
	if err != nil {
		return nil, err
	}
	if kind != want {
		return nil, ErrWrongKind
	}
	pt, err := a.Open(nil, ciphertext[n:], additionalData(ciphertext[:n], keyName, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// additionalData returns domain || header || uvarint(len(keyName)) ||
// keyName || aad, where header is kind || uvarint(version).
func additionalData(header []byte, keyName string, aad []byte) []byte {
	ad := make([]byte, 0, len(domain)+len(header)+binary.MaxVarintLen64+len(keyName)+len(aad))
	ad = append(ad, domain...)
	ad = append(ad, header...)
	ad = binary.AppendUvarint(ad, uint64(len(keyName)))
	ad = append(ad, keyName...)
	return append(ad, aad...)
}

// uvarintLen returns the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
