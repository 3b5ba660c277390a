// SPDX-License-Identifier: Apache-2.0

package oaep

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

type oaepGroup struct {
	KeySize int            `json:"keySize"`
	SHA     string         `json:"sha"`
	MGF     string         `json:"mgf"`
	MGFSHA  string         `json:"mgfSha"`
	PKCS8   wycheproof.Hex `json:"privateKeyPkcs8"`
	Tests   []oaepVector   `json:"tests"`
}

type oaepVector struct {
	wycheproof.Vector
	Msg   wycheproof.Hex `json:"msg"`
	CT    wycheproof.Hex `json:"ct"`
	Label wycheproof.Hex `json:"label"`
}

func TestWycheproofOAEP2048SHA1(t *testing.T) {
	runOAEP(t, "rsa_oaep_2048_sha1_mgf1sha1_test.json")
}

func TestWycheproofOAEP2048SHA256(t *testing.T) {
	runOAEP(t, "rsa_oaep_2048_sha256_mgf1sha256_test.json")
}

func TestWycheproofOAEP3072SHA256(t *testing.T) {
	runOAEP(t, "rsa_oaep_3072_sha256_mgf1sha256_test.json")
}

func TestWycheproofOAEP4096SHA256(t *testing.T) {
	runOAEP(t, "rsa_oaep_4096_sha256_mgf1sha256_test.json")
}

// runOAEP decrypts every vector of file with the group's private key, hash
// and label; valid vectors are also re-encrypted and decrypted.
func runOAEP(t *testing.T, file string) {
	var f wycheproof.File[oaepGroup]
	wycheproof.Load(t, file, &f)
	n := 0
	for _, g := range f.TestGroups {
		h, err := wycheproof.Hash(g.SHA)
		if err != nil {
			t.Fatal(err)
		}
		if mgf, err := wycheproof.Hash(g.MGFSHA); g.MGF != "MGF1" || err != nil || mgf != h {
			// This package always uses MGF1 with the OAEP hash.
			t.Fatalf("unsupported group: %s %s with OAEP %s", g.MGF, g.MGFSHA, g.SHA)
		}
		k, err := x509.ParsePKCS8PrivateKey(g.PKCS8)
		if err != nil {
			t.Fatalf("group key: %v", err)
		}
		priv := k.(*rsa.PrivateKey)
		if priv.N.BitLen() != g.KeySize {
			t.Fatalf("group key is %d bits, want %d", priv.N.BitLen(), g.KeySize)
		}
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) {
				pt, err := Decrypt(priv, h, v.CT, v.Label)
				if err != nil && !errors.Is(err, ErrDecrypt) {
					t.Errorf("tcId %d: Decrypt = %v, want nil or ErrDecrypt", v.TcID, err)
				}
				v.Check(t, err == nil && bytes.Equal(pt, v.Msg), "Decrypt")
				if v.Result != wycheproof.Valid {
					return
				}
				ct, err := Encrypt(&priv.PublicKey, h, v.Msg, v.Label)
				if err != nil {
					t.Fatalf("tcId %d: Encrypt = %v", v.TcID, err)
				}
				if pt, err := Decrypt(priv, h, ct, v.Label); err != nil || !bytes.Equal(pt, v.Msg) {
					t.Errorf("tcId %d: Decrypt(Encrypt) = %x, %v", v.TcID, pt, err)
				}
			})
		}
	}
	f.CheckCount(t, n)
}
