// SPDX-License-Identifier: Apache-2.0

// Package keywrap implements the AES Key Wrap algorithm of [RFC 3394] and
// AES Key Wrap with Padding of [RFC 5649] (also NIST SP 800-38F KW and
// KWP), on the crypto/aes block cipher.
//
// It is the one primitive Custos writes itself, because the standard
// library has none. Cloud KMS uses KWP in its [key import] wrapping method
// RSA_OAEP_*_SHA*_AES_256 (CKM_RSA_AES_KEY_WRAP).
//
// # Algorithms
//
// [Wrap] and [Unwrap] follow RFC 3394 section 2.2.1 and 2.2.2 (the index
// based form), with the default initial value A6A6A6A6A6A6A6A6 of section
// 2.2.3.1. [WrapPad] and [UnwrapPad] follow RFC 5649 section 4.1 and 4.2,
// with the alternative initial value A65959A6 || MLI of section 3.
//
// Unwrapping checks integrity without branching on secret data, and every
// failure (bad length, wrong key, tampering, bad padding) returns the same
// [ErrUnwrap], so that no detail of why an unwrap failed is observable.
//
// [RFC 3394]: https://www.rfc-editor.org/rfc/rfc3394
// [RFC 5649]: https://www.rfc-editor.org/rfc/rfc5649
// [key import]: https://cloud.google.com/kms/docs/key-wrapping
package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

var (
	// ErrKeySize is returned for a key-encryption key that is not 16, 24
	// or 32 bytes.
	ErrKeySize = errors.New("keywrap: key-encryption key must be 16, 24 or 32 bytes")
	// ErrPlaintextSize is returned by Wrap for a plaintext that is not a
	// multiple of 8 bytes or is shorter than 16 bytes, and by WrapPad for
	// an empty plaintext or one longer than 2^32-1 bytes.
	ErrPlaintextSize = errors.New("keywrap: plaintext length not allowed")
	// ErrUnwrap is returned by Unwrap and UnwrapPad for any failure.
	ErrUnwrap = errors.New("keywrap: unwrap failed")
)

// defaultIV is the RFC 3394 section 2.2.3.1 default initial value.
const defaultIV = 0xA6A6A6A6A6A6A6A6

// aivPrefix is the RFC 5649 section 3 constant high half of the
// alternative initial value; the low half is the message length (MLI).
const aivPrefix = 0xA65959A6

// maxPadPlaintext is the largest plaintext RFC 5649 can wrap: the MLI is a
// 32-bit byte count (section 3).
const maxPadPlaintext = 1<<32 - 1

func newBlock(kek []byte) (cipher.Block, error) {
	switch len(kek) {
	case 16, 24, 32:
		return aes.NewCipher(kek)
	}
	return nil, ErrKeySize
}

// Wrap wraps plaintext, whose length must be a multiple of 8 and at least
// 16 bytes (RFC 3394 section 2: n >= 2 64-bit blocks), under the AES key
// kek, and returns the len(plaintext)+8 byte result. It returns ErrKeySize
// or ErrPlaintextSize for bad lengths.
func Wrap(kek, plaintext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext)%8 != 0 || len(plaintext) < 16 {
		return nil, ErrPlaintextSize
	}
	out := make([]byte, 8+len(plaintext))
	copy(out[8:], plaintext)
	wrap(b, defaultIV, out)
	return out, nil
}

// Unwrap reverses Wrap: it unwraps ciphertext under kek and returns the
// plaintext, or ErrUnwrap if ciphertext is not a multiple of 8 bytes and at
// least 24, or fails the RFC 3394 section 2.2.3 integrity check. It returns
// ErrKeySize for a bad kek.
func Unwrap(kek, ciphertext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil {
		return nil, err
	}
	if len(ciphertext)%8 != 0 || len(ciphertext) < 24 {
		return nil, ErrUnwrap
	}
	out := make([]byte, len(ciphertext))
	copy(out, ciphertext)
	a := unwrap(b, out)
	var iv [8]byte
	binary.BigEndian.PutUint64(iv[:], defaultIV)
	if subtle.ConstantTimeCompare(a[:], iv[:]) != 1 {
		clear(out)
		return nil, ErrUnwrap
	}
	return out[8:], nil
}

// WrapPad wraps plaintext, of 1 to 2^32-1 bytes, under the AES key kek as
// RFC 5649 section 4.1 specifies, and returns the result: the plaintext
// zero-padded to a multiple of 8 bytes, plus 8. It returns ErrKeySize or
// ErrPlaintextSize for bad lengths.
func WrapPad(kek, plaintext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || uint64(len(plaintext)) > maxPadPlaintext {
		return nil, ErrPlaintextSize
	}
	padded := (len(plaintext) + 7) &^ 7
	out := make([]byte, 8+padded) // the padding bytes are already zero
	copy(out[8:], plaintext)
	aiv := uint64(aivPrefix)<<32 | uint64(len(plaintext))
	if padded == 8 {
		// Section 4.1: with exactly one 64-bit block of padded plaintext,
		// C = AES(K, AIV | P[1]), encrypted as a single block.
		binary.BigEndian.PutUint64(out[:8], aiv)
		b.Encrypt(out, out)
		return out, nil
	}
	// Otherwise the padded plaintext is wrapped by the RFC 3394 process
	// with AIV as the initial value.
	wrap(b, aiv, out)
	return out, nil
}

// UnwrapPad reverses WrapPad: it unwraps ciphertext under kek and returns
// the plaintext, or ErrUnwrap if ciphertext is not a multiple of 8 bytes
// and at least 16, or fails any RFC 5649 section 3 integrity check (the
// constant half of the AIV, the MLI range, and zero padding). It returns
// ErrKeySize for a bad kek.
func UnwrapPad(kek, ciphertext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil {
		return nil, err
	}
	if len(ciphertext)%8 != 0 || len(ciphertext) < 16 {
		return nil, ErrUnwrap
	}
	out := make([]byte, len(ciphertext))
	copy(out, ciphertext)
	var a [8]byte
	if len(out) == 16 {
		// Section 4.2: a single 128-bit block is decrypted directly.
		b.Decrypt(out, out)
		copy(a[:], out[:8])
	} else {
		a = unwrap(b, out)
	}
	p := out[8:] // the padded plaintext, n 64-bit blocks

	// Section 3 checks, combined without branching on the (secret)
	// message length: the constant half of the AIV, then
	// 8*(n-1) < MLI <= 8*n for the n 64-bit blocks of p, then zero
	// padding after the first MLI bytes.
	ok := subtle.ConstantTimeCompare(a[:4], []byte{0xA6, 0x59, 0x59, 0xA6})
	mli := uint64(binary.BigEndian.Uint32(a[4:]))
	size := uint64(len(p)) // 8*n
	ok &= lessOrEq(size-8+1, mli)
	ok &= lessOrEq(mli, size)
	// Once the MLI range holds, only the last block can hold padding:
	// check every byte of it at or past index MLI.
	var pad byte
	for i := size - 8; i < size; i++ {
		pad |= p[i] & byte(0-lessOrEq(mli, i))
	}
	ok &= subtle.ConstantTimeByteEq(pad, 0)
	if ok != 1 {
		clear(out)
		return nil, ErrUnwrap
	}
	return p[:mli], nil
}

// lessOrEq returns 1 if x <= y and 0 otherwise, in constant time, for
// x and y below 2^63.
func lessOrEq(x, y uint64) int {
	return int(1 ^ (y-x)>>63)
}

// wrap runs the RFC 3394 section 2.2.1 wrapping process, index based, in
// place on buf = A || R[1] || ... || R[n], with A initialized to iv.
//
//	For j = 0 to 5
//	    For i=1 to n
//	        B = AES(K, A | R[i])
//	        A = MSB(64, B) ^ t where t = (n*j)+i
//	        R[i] = LSB(64, B)
func wrap(b cipher.Block, iv uint64, buf []byte) {
	n := uint64(len(buf)/8 - 1)
	var blk [16]byte
	binary.BigEndian.PutUint64(blk[:8], iv)
	for j := range uint64(6) {
		for i := uint64(1); i <= n; i++ {
			r := buf[8*i : 8*i+8]
			copy(blk[8:], r)
			b.Encrypt(blk[:], blk[:])
			t := n*j + i
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(r, blk[8:])
		}
	}
	copy(buf[:8], blk[:8])
}

// unwrap runs the RFC 3394 section 2.2.2 unwrapping process, index based,
// in place on buf = C[0] || C[1] || ... || C[n], leaving the plaintext in
// buf[8:] and returning A for the caller's integrity check.
//
//	For j = 5 to 0
//	    For i = n to 1
//	        B = AES-1(K, (A ^ t) | R[i]) where t = n*j+i
//	        A = MSB(64, B)
//	        R[i] = LSB(64, B)
func unwrap(b cipher.Block, buf []byte) (a [8]byte) {
	n := uint64(len(buf)/8 - 1)
	var blk [16]byte
	copy(blk[:8], buf[:8])
	for j := int64(5); j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := buf[8*i : 8*i+8]
			t := n*uint64(j) + i
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(blk[8:], r)
			b.Decrypt(blk[:], blk[:])
			copy(r, blk[8:])
		}
	}
	copy(a[:], blk[:8])
	clear(blk[:])
	clear(buf[:8])
	return a
}
