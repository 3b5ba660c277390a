// SPDX-License-Identifier: Apache-2.0

package mac

import (
	"crypto"
	"encoding/hex"
	"testing"
)

// TestRFC4231 checks test case 2 of RFC 4231 ("what do ya want for
// nothing?") for each SHA-2 size, and the RFC 2202 case for SHA-1.
func TestRFC4231(t *testing.T) {
	key, data := []byte("Jefe"), []byte("what do ya want for nothing?")
	for _, tc := range []struct {
		name string
		h    crypto.Hash
		tag  string
	}{
		{"SHA-1", crypto.SHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"SHA-224", crypto.SHA224, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"},
		{"SHA-256", crypto.SHA256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"SHA-384", crypto.SHA384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
		{"SHA-512", crypto.SHA512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := Sign(tc.h, key, data)
			if got := hex.EncodeToString(tag); got != tc.tag {
				t.Fatalf("Sign = %s, want %s", got, tc.tag)
			}
			if !Verify(tc.h, key, data, tag) {
				t.Error("Verify(Sign) = false")
			}
			if Verify(tc.h, key, data, tag[:len(tag)-1]) {
				t.Error("Verify accepted a truncated tag")
			}
			if Verify(tc.h, key, append(data, 0), tag) {
				t.Error("Verify accepted other data")
			}
			if Verify(tc.h, []byte("Jeff"), data, tag) {
				t.Error("Verify accepted another key")
			}
		})
	}
}

func TestUnsupportedHash(t *testing.T) {
	for _, h := range []crypto.Hash{0, crypto.MD5, crypto.SHA3_256, crypto.Hash(999)} {
		if tag := Sign(h, []byte("k"), []byte("d")); tag != nil {
			t.Errorf("Sign(%v) = %x, want nil", h, tag)
		}
		if Verify(h, []byte("k"), []byte("d"), nil) {
			t.Errorf("Verify(%v, nil tag) = true", h)
		}
	}
}
