// SPDX-License-Identifier: Apache-2.0

package kdf

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestRFC5869 checks RFC 5869 appendix A.3, the case with no salt and no
// info, which is the salt-less form Derive uses.
func TestRFC5869(t *testing.T) {
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	want := "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
	if got := hex.EncodeToString(Derive(ikm, "", 42)); got != want {
		t.Fatalf("Derive = %s, want %s", got, want)
	}
}

func TestDistinctInfo(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, 32)
	a := Derive(secret, "custos/keystore", 32)
	b := Derive(secret, "custos/audit", 32)
	if bytes.Equal(a, b) {
		t.Fatal("different info strings derived the same key")
	}
	if !bytes.Equal(a, Derive(secret, "custos/keystore", 32)) {
		t.Fatal("Derive is not deterministic")
	}
	if len(Derive(secret, "x", MaxSize)) != MaxSize {
		t.Fatal("Derive(MaxSize) has the wrong length")
	}
}

func TestDerivePanicsOnBadLength(t *testing.T) {
	for _, n := range []int{-1, 0, MaxSize + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Derive(n = %d) did not panic", n)
				}
			}()
			Derive([]byte("secret"), "info", n)
		}()
	}
}
