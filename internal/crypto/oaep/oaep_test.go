// SPDX-License-Identifier: Apache-2.0

package oaep

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

var hashes = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512}

// testKeys returns fixed RSA 2048, 3072 and 4096-bit keys: the private keys
// of the Wycheproof RSA-OAEP files, which spares each test run generating
// a 4096-bit key.
func testKeys(t *testing.T) map[int]*rsa.PrivateKey {
	t.Helper()
	keys := make(map[int]*rsa.PrivateKey)
	for _, bits := range []int{2048, 3072, 4096} {
		var f wycheproof.File[oaepGroup]
		wycheproof.Load(t, fmt.Sprintf("rsa_oaep_%d_sha256_mgf1sha256_test.json", bits), &f)
		k, err := x509.ParsePKCS8PrivateKey(f.TestGroups[0].PKCS8)
		if err != nil {
			t.Fatal(err)
		}
		keys[bits] = k.(*rsa.PrivateKey)
	}
	return keys
}

func TestRoundTrip(t *testing.T) {
	for bits, k := range testKeys(t) {
		for _, h := range hashes {
			t.Run(fmt.Sprintf("RSA-%d/%v", bits, h), func(t *testing.T) {
				limit := MaxPlaintext(&k.PublicKey, h)
				if want := bits/8 - 2*h.Size() - 2; limit != want {
					t.Fatalf("MaxPlaintext = %d, want %d", limit, want)
				}
				for _, n := range []int{0, 1, 32, limit} {
					pt := make([]byte, n)
					rand.Read(pt)
					ct, err := Encrypt(&k.PublicKey, h, pt, []byte("label"))
					if err != nil {
						t.Fatalf("Encrypt(%d bytes) = %v", n, err)
					}
					got, err := Decrypt(k, h, ct, []byte("label"))
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("Decrypt(Encrypt(%d bytes)) = %x, %v", n, got, err)
					}
					if _, err := Decrypt(k, h, ct, nil); !errors.Is(err, ErrDecrypt) {
						t.Errorf("Decrypt with wrong label = %v, want ErrDecrypt", err)
					}
					for _, other := range hashes {
						if other == h {
							continue
						}
						if _, err := Decrypt(k, other, ct, []byte("label")); !errors.Is(err, ErrDecrypt) {
							t.Errorf("Decrypt with %v = %v, want ErrDecrypt", other, err)
						}
					}
				}
				if _, err := Encrypt(&k.PublicKey, h, make([]byte, limit+1), nil); !errors.Is(err, ErrMessageTooLong) {
					t.Errorf("Encrypt(max+1 bytes) = %v, want ErrMessageTooLong", err)
				}
			})
		}
	}
}

func TestRefusals(t *testing.T) {
	k := testKeys(t)[2048]
	ct, err := Encrypt(&k.PublicKey, crypto.SHA256, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{0, crypto.MD5, crypto.SHA224, crypto.SHA384, crypto.SHA3_256} {
		if _, err := Encrypt(&k.PublicKey, h, nil, nil); !errors.Is(err, ErrHash) {
			t.Errorf("Encrypt(%v) = %v, want ErrHash", h, err)
		}
		if _, err := Decrypt(k, h, ct, nil); !errors.Is(err, ErrHash) {
			t.Errorf("Decrypt(%v) = %v, want ErrHash", h, err)
		}
	}
	if _, err := Encrypt(nil, crypto.SHA256, nil, nil); !errors.Is(err, ErrKey) {
		t.Errorf("Encrypt(nil key) = %v, want ErrKey", err)
	}
	if _, err := Encrypt(&rsa.PublicKey{}, crypto.SHA256, nil, nil); !errors.Is(err, ErrKey) {
		t.Errorf("Encrypt(empty key) = %v, want ErrKey", err)
	}
	for _, tc := range []struct {
		name string
		priv *rsa.PrivateKey
		ct   []byte
	}{
		{"nil key", nil, ct},
		{"empty key", &rsa.PrivateKey{}, ct},
		{"empty ciphertext", k, nil},
		{"short ciphertext", k, ct[1:]},
		{"long ciphertext", k, append(bytes.Clone(ct), 0)},
		{"ciphertext = modulus", k, k.N.Bytes()},
		{"all ones", k, bytes.Repeat([]byte{0xff}, len(ct))},
		{"wrong key", testKeys(t)[3072], ct},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decrypt(tc.priv, crypto.SHA256, tc.ct, nil); !errors.Is(err, ErrDecrypt) {
				t.Errorf("Decrypt = %v, want ErrDecrypt", err)
			}
		})
	}
}

// TestOpenSSL round-trips through the openssl command in both directions,
// for every key size and hash, including the sets with no Wycheproof file
// (3072 and 4096 bits with SHA-1 and SHA-512, for instance).
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl binary not found")
	}
	dir := t.TempDir()
	label := []byte("custos label")
	for bits, k := range testKeys(t) {
		privDER, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		privFile := filepath.Join(dir, fmt.Sprintf("priv%d.pem", bits))
		pubFile := filepath.Join(dir, fmt.Sprintf("pub%d.pem", bits))
		if err := os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, h := range hashes {
			for _, l := range [][]byte{nil, label} {
				t.Run(fmt.Sprintf("RSA-%d/%v/label=%q", bits, h, l), func(t *testing.T) {
					md := map[crypto.Hash]string{crypto.SHA1: "sha1", crypto.SHA256: "sha256", crypto.SHA512: "sha512"}[h]
					opts := []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md, "-pkeyopt", "rsa_mgf1_md:" + md}
					if l != nil {
						opts = append(opts, "-pkeyopt", "rsa_oaep_label:"+hex.EncodeToString(l))
					}
					pt := make([]byte, 32)
					rand.Read(pt)
					in := filepath.Join(t.TempDir(), "in")

					// Go encrypts, openssl decrypts.
					ct, err := Encrypt(&k.PublicKey, h, pt, l)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(in, ct, 0o600); err != nil {
						t.Fatal(err)
					}
					out, err := exec.Command("openssl", append([]string{"pkeyutl", "-decrypt", "-inkey", privFile, "-in", in}, opts...)...).Output()
					if err != nil || !bytes.Equal(out, pt) {
						t.Errorf("openssl decrypt = %x, %v, want %x", out, err, pt)
					}

					// openssl encrypts, Go decrypts.
					if err := os.WriteFile(in, pt, 0o600); err != nil {
						t.Fatal(err)
					}
					ct, err = exec.Command("openssl", append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", pubFile, "-in", in}, opts...)...).Output()
					if err != nil {
						t.Fatalf("openssl encrypt: %v", err)
					}
					got, err := Decrypt(k, h, ct, l)
					if err != nil || !bytes.Equal(got, pt) {
						t.Errorf("Decrypt(openssl ciphertext) = %x, %v, want %x", got, err, pt)
					}
				})
			}
		}
	}
}
