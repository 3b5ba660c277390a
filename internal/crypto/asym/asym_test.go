// SPDX-License-Identifier: Apache-2.0

package asym

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var allTypes = []KeyType{RSA2048, RSA3072, RSA4096, ECP256, ECP384, Ed25519}

type generated struct {
	priv  crypto.Signer
	pkcs8 []byte
}

// keys generates one key of each type, once per test binary: RSA-4096
// generation alone takes seconds.
var keys = sync.OnceValues(func() (map[KeyType]generated, error) {
	m := make(map[KeyType]generated)
	for _, kt := range allTypes {
		priv, der, err := Generate(kt)
		if err != nil {
			return nil, err
		}
		m[kt] = generated{priv, der}
	}
	return m, nil
})

func key(t *testing.T, kt KeyType) generated {
	t.Helper()
	m, err := keys()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return m[kt]
}

type publicKey interface {
	Equal(crypto.PublicKey) bool
}

func TestGenerateRoundTrip(t *testing.T) {
	for _, kt := range allTypes {
		t.Run(kt.String(), func(t *testing.T) {
			k := key(t, kt)
			if err := CheckType(k.priv, kt); err != nil {
				t.Fatalf("CheckType(generated, %v) = %v", kt, err)
			}
			parsed, err := ParsePKCS8(k.pkcs8)
			if err != nil {
				t.Fatalf("ParsePKCS8 = %v", err)
			}
			if !parsed.Public().(publicKey).Equal(k.priv.Public()) {
				t.Fatal("parsed key has a different public key")
			}
			if eq, ok := parsed.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !eq.Equal(k.priv) {
				t.Fatal("parsed private key differs")
			}
			again, err := x509.MarshalPKCS8PrivateKey(parsed)
			if err != nil || !bytes.Equal(again, k.pkcs8) {
				t.Fatalf("re-encoding differs: %v", err)
			}

			p, err := PublicPEM(k.priv.Public())
			if err != nil {
				t.Fatalf("PublicPEM = %v", err)
			}
			block, rest := pem.Decode([]byte(p))
			if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
				t.Fatalf("PublicPEM output is not one PUBLIC KEY block:\n%s", p)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil || !k.priv.Public().(publicKey).Equal(pub) {
				t.Fatalf("PEM public key does not parse back: %v", err)
			}
			if got, err := TypeOf(pub); err != nil || got != kt {
				t.Fatalf("TypeOf = %v, %v, want %v", got, err, kt)
			}
		})
	}
}

func TestCheckTypeMatrix(t *testing.T) {
	for _, have := range allTypes {
		for _, want := range allTypes {
			err := CheckType(key(t, have).priv, want)
			if have == want && err != nil {
				t.Errorf("CheckType(%v key, %v) = %v, want nil", have, want, err)
			}
			if have != want && !errors.Is(err, ErrWrongType) {
				t.Errorf("CheckType(%v key, %v) = %v, want ErrWrongType", have, want, err)
			}
		}
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range allTypes {
		if err := CheckType(p521, want); !errors.Is(err, ErrWrongType) {
			t.Errorf("CheckType(P-521 key, %v) = %v, want ErrWrongType", want, err)
		}
	}
	if err := CheckType(nil, RSA2048); !errors.Is(err, ErrWrongType) {
		t.Errorf("CheckType(nil) = %v, want ErrWrongType", err)
	}
}

func TestGenerateUnsupported(t *testing.T) {
	for _, kt := range []KeyType{0, Ed25519 + 1, -1} {
		if _, _, err := Generate(kt); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Generate(%d) = %v, want ErrUnsupported", kt, err)
		}
	}
}

func TestParsePKCS8Refuses(t *testing.T) {
	good := key(t, ECP256).pkcs8
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xder, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		der  []byte
		err  error
	}{
		{"empty", nil, ErrParse},
		{"garbage", []byte("not DER"), ErrParse},
		{"truncated", good[:len(good)-1], ErrParse},
		{"trailing byte", append(bytes.Clone(good), 0), ErrParse},
		{"SPKI instead of PKCS#8", mustSPKI(t, key(t, ECP256).priv.Public()), ErrParse},
		{"X25519 key", xder, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePKCS8(tc.der); !errors.Is(err, tc.err) {
				t.Errorf("ParsePKCS8 = %v, want %v", err, tc.err)
			}
		})
	}
}

func mustSPKI(t *testing.T, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestPublicPEMUnsupported(t *testing.T) {
	if _, err := PublicPEM("not a key"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PublicPEM(string) = %v, want ErrUnsupported", err)
	}
	if _, err := TypeOf("not a key"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("TypeOf(string) = %v, want ErrUnsupported", err)
	}
}

// TestOpenSSL checks that OpenSSL reads each generated PKCS#8 key and
// derives from it the same public key PEM as PublicPEM.
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl binary not found")
	}
	dir := t.TempDir()
	for _, kt := range allTypes {
		t.Run(kt.String(), func(t *testing.T) {
			k := key(t, kt)
			f := filepath.Join(dir, kt.String()+".der")
			if err := os.WriteFile(f, k.pkcs8, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("openssl", "pkey", "-inform", "DER", "-in", f, "-pubout").Output()
			if err != nil {
				t.Fatalf("openssl pkey refused the PKCS#8 key: %v", err)
			}
			want, err := PublicPEM(k.priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != want {
				t.Errorf("openssl public key:\n%s\nPublicPEM:\n%s", out, want)
			}
			// openssl pkey -check validates the private key itself (RSA
			// primes and CRT values, the EC point).
			if kt != Ed25519 {
				if out, err := exec.Command("openssl", "pkey", "-inform", "DER", "-in", f, "-check", "-noout").CombinedOutput(); err != nil {
					t.Errorf("openssl pkey -check: %v\n%s", err, out)
				}
			}
		})
	}
}
