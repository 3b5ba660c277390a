// SPDX-License-Identifier: Apache-2.0

package salesforce_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/salesforce"
)

func TestSeal(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dek := bytes.Repeat([]byte{0x5a}, 32)
	const kid = "982c375b-f46b-4423-8c2d-4d1a69152a0b"
	for _, nonce := range []string{"", "e5ab58fd2ced013f2a46d5c8144dd439"} {
		out, err := salesforce.Seal(dek, &priv.PublicKey, kid, nonce)
		if err != nil {
			t.Fatalf("Seal(nonce %q) = %v", nonce, err)
		}
		parts := strings.Split(out, ".")
		if len(parts) != 5 {
			t.Fatalf("Seal = %d parts, want the 5 of a compact JWE", len(parts))
		}
		// The content encryption key is RSA-2048 OAEP, the IV 96 bits, the
		// ciphertext 32 bytes, the tag 128 bits.
		for i, want := range []int{0, 256, 12, 32, 16} {
			b, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil {
				t.Fatalf("part %d is not base64url without padding: %v", i, err)
			}
			if i > 0 && len(b) != want {
				t.Errorf("part %d has %d bytes, want %d", i, len(b), want)
			}
		}
		want := map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": kid}
		if nonce != "" {
			want["jti"] = nonce
		}
		h, err := salesforce.ProtectedHeader(out)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, h); diff != "" {
			t.Errorf("protected header (-want +got):\n%s", diff)
		}
		obj, err := jose.ParseEncrypted(out, []jose.KeyAlgorithm{jose.RSA_OAEP}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Fatal(err)
		}
		got, err := obj.Decrypt(priv)
		if err != nil || !bytes.Equal(got, dek) {
			t.Errorf("Decrypt = %x, %v; want the DEK", got, err)
		}
	}

	if _, err := salesforce.Seal(dek[:16], &priv.PublicKey, kid, ""); err == nil {
		t.Error("Seal of a 16-byte key succeeded")
	}
	if _, err := salesforce.Seal(dek, nil, kid, ""); err == nil {
		t.Error("Seal without a public key succeeded")
	}
	if !bytes.Equal(dek, bytes.Repeat([]byte{0x5a}, 32)) {
		t.Error("Seal modified the DEK")
	}
}

func TestNonce(t *testing.T) {
	const n = "e5ab58fd2ced013f2a46d5c8144dd439"
	tests := []struct {
		name, ri, want string
		ok             bool
	}{
		{"the nonce alone", n, n, true},
		{"after the key identifier", "982c375b-f46b-4423-8c2d-4d1a69152a0b" + n, n, true},
		{"after a separator", "982c375b-f46b-4423-8c2d-4d1a69152a0b:" + n, n, true},
		{"two nonces: the last", strings.Repeat("0", 32) + n, n, true},
		{"upper case", strings.ToUpper(n), "", false},
		{"31 hex digits", n[1:], "", false},
		{"not at the end", n + "/", "", false},
		{"empty", "", "", false},
		{"too long", strings.Repeat("a", 513), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := salesforce.Nonce(tc.ri)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("Nonce(%q) = %q, %v; want %q, ok %v", tc.ri, got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzNonce(f *testing.F) {
	f.Add("e5ab58fd2ced013f2a46d5c8144dd439")
	f.Add("982c375b-f46b-4423-8c2d-4d1a69152a0be5ab58fd2ced013f2a46d5c8144dd439")
	f.Add("")
	f.Fuzz(func(t *testing.T, ri string) {
		n, err := salesforce.Nonce(ri)
		if err != nil {
			return
		}
		if len(n) != 32 || !strings.HasSuffix(ri, n) || strings.Trim(n, "0123456789abcdef") != "" {
			t.Errorf("Nonce(%q) = %q, not its last 32 lowercase hex digits", ri, n)
		}
	})
}

func TestValidKID(t *testing.T) {
	for _, s := range []string{"982c375b-f46b-4423-8c2d-4d1a69152a0b", "10", "2018_data_key", "a.b"} {
		if !salesforce.ValidKID(s) {
			t.Errorf("ValidKID(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "..", "a/b", "a b", "é", strings.Repeat("a", 65)} {
		if salesforce.ValidKID(s) {
			t.Errorf("ValidKID(%q) = true", s)
		}
	}
}
