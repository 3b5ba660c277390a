// SPDX-License-Identifier: Apache-2.0

package envelope

import (
	"bytes"
	"testing"
)

const benchKey = "projects/p/locations/global/keyRings/r/cryptoKeys/k"

// BenchmarkParse is the header read that Decrypt does before it picks the
// version: it should not allocate.
func BenchmarkParse(b *testing.B) {
	ct := Seal(newAEAD(b, 1), KindEncrypt, 300, benchKey, bytes.Repeat([]byte{0x42}, 32), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, v, err := Parse(ct); err != nil || v != 300 {
			b.Fatalf("Parse = %d, %v", v, err)
		}
	}
}

// BenchmarkSeal32 and BenchmarkOpen32 are the envelope around AES-GCM for a
// 32-byte plaintext: the crypto of an Encrypt and a Decrypt.
func BenchmarkSeal32(b *testing.B) {
	a := newAEAD(b, 1)
	pt := bytes.Repeat([]byte{0x42}, 32)
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		Seal(a, KindEncrypt, 1, benchKey, pt, nil)
	}
}

func BenchmarkOpen32(b *testing.B) {
	a := newAEAD(b, 1)
	pt := bytes.Repeat([]byte{0x42}, 32)
	ct := Seal(a, KindEncrypt, 1, benchKey, pt, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := Open(a, KindEncrypt, benchKey, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}
