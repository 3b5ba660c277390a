// SPDX-License-Identifier: Apache-2.0

package signature

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

var allSchemes = []Scheme{ECDSAP256SHA256, ECDSAP384SHA384, Ed25519, RSAPSSSHA256, RSAPSSSHA512, RSAPKCS1SHA256, RSAPKCS1SHA512}

type testKey struct {
	name string
	priv crypto.Signer
}

// rsaKeys returns fixed RSA 2048, 3072 and 4096-bit keys: the private keys
// of the Wycheproof RSA-OAEP files, which spares each test run generating
// a 4096-bit key.
func rsaKeys(t *testing.T) []testKey {
	t.Helper()
	var keys []testKey
	for _, file := range []string{
		"rsa_oaep_2048_sha256_mgf1sha256_test.json",
		"rsa_oaep_3072_sha256_mgf1sha256_test.json",
		"rsa_oaep_4096_sha256_mgf1sha256_test.json",
	} {
		var f wycheproof.File[struct {
			KeySize int            `json:"keySize"`
			PKCS8   wycheproof.Hex `json:"privateKeyPkcs8"`
		}]
		wycheproof.Load(t, file, &f)
		g := f.TestGroups[0]
		k, err := x509.ParsePKCS8PrivateKey(g.PKCS8)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		keys = append(keys, testKey{fmt.Sprintf("RSA-%d", g.KeySize), k.(*rsa.PrivateKey)})
	}
	return keys
}

var otherKeys = sync.OnceValues(func() (map[Scheme]crypto.Signer, error) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return map[Scheme]crypto.Signer{ECDSAP256SHA256: p256, ECDSAP384SHA384: p384, Ed25519: ed}, nil
})

// keysFor returns the keys to test s with: every RSA size for an RSA
// scheme, else the one key of the scheme's curve.
func keysFor(t *testing.T, s Scheme) []testKey {
	t.Helper()
	switch s.family() {
	case famPSS, famPKCS1:
		return rsaKeys(t)
	}
	m, err := otherKeys()
	if err != nil {
		t.Fatal(err)
	}
	name := map[Scheme]string{ECDSAP256SHA256: "P-256", ECDSAP384SHA384: "P-384", Ed25519: "Ed25519"}[s]
	return []testKey{{name, m[s]}}
}

// input returns what s signs for msg: its digest, or msg for Ed25519.
func input(s Scheme, msg []byte) []byte {
	if s.Hash() == 0 {
		return msg
	}
	h := s.Hash().New()
	h.Write(msg)
	return h.Sum(nil)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	msg := []byte("custos signature round trip")
	for _, s := range allSchemes {
		for _, k := range keysFor(t, s) {
			t.Run(s.String()+"/"+k.name, func(t *testing.T) {
				d := input(s, msg)
				sig, err := Sign(k.priv, s, d)
				if err != nil {
					t.Fatalf("Sign = %v", err)
				}
				if err := Verify(k.priv.Public(), s, d, sig); err != nil {
					t.Fatalf("Verify(Sign) = %v", err)
				}
				other := input(s, []byte("another message"))
				if err := Verify(k.priv.Public(), s, other, sig); !errors.Is(err, ErrVerify) {
					t.Errorf("Verify(other message) = %v, want ErrVerify", err)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)/2] ^= 0x10
				if err := Verify(k.priv.Public(), s, d, bad); !errors.Is(err, ErrVerify) {
					t.Errorf("Verify(corrupted signature) = %v, want ErrVerify", err)
				}
				checkEncoding(t, k.priv, s, d, sig)
			})
		}
	}
}

// checkEncoding checks the signature format Cloud KMS callers expect.
func checkEncoding(t *testing.T, priv crypto.Signer, s Scheme, digest, sig []byte) {
	t.Helper()
	switch s.family() {
	case famECDSA:
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
			t.Errorf("ECDSA signature is not DER: %v", err)
		}
	case famPSS:
		// The salt is exactly the hash length: verify with that length
		// explicitly, not with auto-detection.
		opts := &rsa.PSSOptions{SaltLength: s.Hash().Size()}
		if err := rsa.VerifyPSS(priv.Public().(*rsa.PublicKey), s.Hash(), digest, sig, opts); err != nil {
			t.Errorf("PSS salt is not %d bytes: %v", s.Hash().Size(), err)
		}
	}
}

func TestHash(t *testing.T) {
	for _, tc := range []struct {
		s    Scheme
		want crypto.Hash
	}{
		{ECDSAP256SHA256, crypto.SHA256},
		{ECDSAP384SHA384, crypto.SHA384},
		{Ed25519, 0},
		{RSAPSSSHA256, crypto.SHA256},
		{RSAPSSSHA512, crypto.SHA512},
		{RSAPKCS1SHA256, crypto.SHA256},
		{RSAPKCS1SHA512, crypto.SHA512},
		{0, 0},
	} {
		if got := tc.s.Hash(); got != tc.want {
			t.Errorf("%v.Hash() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	m, err := otherKeys()
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := rsaKeys(t)[0].priv
	d256 := make([]byte, 32)
	for _, tc := range []struct {
		name   string
		priv   crypto.Signer
		s      Scheme
		digest []byte
		err    error
	}{
		{"P-384 key for P-256 scheme", m[ECDSAP384SHA384], ECDSAP256SHA256, d256, ErrKeyMismatch},
		{"P-256 key for P-384 scheme", m[ECDSAP256SHA256], ECDSAP384SHA384, make([]byte, 48), ErrKeyMismatch},
		{"RSA key for ECDSA", rsaKey, ECDSAP256SHA256, d256, ErrKeyMismatch},
		{"EC key for RSA-PSS", m[ECDSAP256SHA256], RSAPSSSHA256, d256, ErrKeyMismatch},
		{"EC key for PKCS#1", m[ECDSAP256SHA256], RSAPKCS1SHA256, d256, ErrKeyMismatch},
		{"RSA key for Ed25519", rsaKey, Ed25519, d256, ErrKeyMismatch},
		{"Ed25519 key for ECDSA", m[Ed25519], ECDSAP256SHA256, d256, ErrKeyMismatch},
		{"nil key", nil, RSAPSSSHA256, d256, ErrKeyMismatch},
		{"short ECDSA digest", m[ECDSAP256SHA256], ECDSAP256SHA256, d256[:31], ErrDigestSize},
		{"SHA-384 digest for P-256", m[ECDSAP256SHA256], ECDSAP256SHA256, make([]byte, 48), ErrDigestSize},
		{"SHA-256 digest for RSA SHA-512", rsaKey, RSAPSSSHA512, d256, ErrDigestSize},
		{"empty PKCS#1 digest", rsaKey, RSAPKCS1SHA256, nil, ErrDigestSize},
		{"invalid scheme", rsaKey, 0, d256, ErrUnsupported},
		{"out of range scheme", rsaKey, RSAPKCS1SHA512 + 1, d256, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign(tc.priv, tc.s, tc.digest); !errors.Is(err, tc.err) {
				t.Errorf("Sign = %v, want %v", err, tc.err)
			}
			if tc.priv == nil {
				return
			}
			if err := Verify(tc.priv.Public(), tc.s, tc.digest, []byte{1}); !errors.Is(err, tc.err) {
				t.Errorf("Verify = %v, want %v", err, tc.err)
			}
		})
	}
	if err := Verify(ed25519.PublicKey{1, 2, 3}, Ed25519, nil, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Verify(short Ed25519 key) = %v, want ErrKeyMismatch", err)
	}
	if err := Verify(nil, RSAPSSSHA256, d256, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Verify(nil key) = %v, want ErrKeyMismatch", err)
	}
	if err := Verify(&rsa.PublicKey{}, RSAPSSSHA256, d256, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Verify(empty RSA key) = %v, want ErrKeyMismatch", err)
	}
}

// failingSigner is a signer whose device fails.
type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hsm unavailable")
}

func TestSignerFailure(t *testing.T) {
	m, err := otherKeys()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Sign(failingSigner{m[ECDSAP256SHA256]}, ECDSAP256SHA256, make([]byte, 32))
	if !errors.Is(err, ErrSign) {
		t.Errorf("Sign(failing signer) = %v, want ErrSign", err)
	}
}

// TestOpenSSL verifies Custos's signatures with the openssl command for
// every scheme and key size, and checks that openssl rejects a corrupted
// one (so the check can fail).
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl binary not found")
	}
	dir := t.TempDir()
	msg := []byte("verified by openssl")
	msgFile := filepath.Join(dir, "msg")
	if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, s := range allSchemes {
		for _, k := range keysFor(t, s) {
			t.Run(s.String()+"/"+k.name, func(t *testing.T) {
				der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
				if err != nil {
					t.Fatal(err)
				}
				pubFile := filepath.Join(dir, s.String()+k.name+".pem")
				if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
					t.Fatal(err)
				}
				sig, err := Sign(k.priv, s, input(s, msg))
				if err != nil {
					t.Fatal(err)
				}
				sigFile := filepath.Join(dir, s.String()+k.name+".sig")
				verify := func(sig []byte) ([]byte, error) {
					if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
						t.Fatal(err)
					}
					return exec.Command("openssl", opensslVerifyArgs(s, pubFile, sigFile, msgFile)...).CombinedOutput()
				}
				if out, err := verify(sig); err != nil {
					t.Errorf("openssl rejected the signature: %v\n%s", err, out)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)-1] ^= 1
				if out, err := verify(bad); err == nil {
					t.Errorf("openssl accepted a corrupted signature:\n%s", out)
				}
			})
		}
	}
}

// opensslVerifyArgs returns the openssl arguments that verify sigFile over
// msgFile with pubFile under s. openssl hashes the message itself, so the
// digest Custos signed is checked too.
func opensslVerifyArgs(s Scheme, pubFile, sigFile, msgFile string) []string {
	if s == Ed25519 {
		return []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", msgFile, "-sigfile", sigFile}
	}
	md := map[crypto.Hash]string{crypto.SHA256: "-sha256", crypto.SHA384: "-sha384", crypto.SHA512: "-sha512"}[s.Hash()]
	args := []string{"dgst", md, "-verify", pubFile, "-signature", sigFile}
	if s.family() == famPSS {
		args = append(args,
			"-sigopt", "rsa_padding_mode:pss",
			"-sigopt", fmt.Sprintf("rsa_pss_saltlen:%d", s.Hash().Size()),
			"-sigopt", "rsa_mgf1_md:"+md[1:])
	}
	return append(args, msgFile)
}
