// SPDX-License-Identifier: Apache-2.0

package jwtsign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestSign(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"k1", ""} {
		tok, err := Sign(jose.ES256, key, kid, map[string]any{"email": "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		obj, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("ParseSigned(%q) = %v", tok, err)
		}
		h := obj.Signatures[0].Header
		if h.KeyID != kid || h.ExtraHeaders[jose.HeaderType] != "JWT" {
			t.Errorf("header kid %q typ %v, want kid %q typ JWT", h.KeyID, h.ExtraHeaders[jose.HeaderType], kid)
		}
		payload, err := obj.Verify(&key.PublicKey)
		if err != nil {
			t.Fatalf("Verify = %v", err)
		}
		var c map[string]string
		if err := json.Unmarshal(payload, &c); err != nil || c["email"] != "a@example.com" {
			t.Errorf("claims %s (%v)", payload, err)
		}
	}
	if _, err := Sign(jose.ES256, key, "", func() {}); err == nil {
		t.Error("Sign of claims that do not encode succeeded")
	}
}
