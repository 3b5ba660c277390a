// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a DER certificate for pub, as Google's CSEK ingress
// certificate carries the wrapping key.
func selfSigned(t testing.TB, priv *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test csek ingress"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseWrappingKey(t *testing.T) {
	priv := wrappingKey(t, 2048)
	spki, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pkcs1 := x509.MarshalPKCS1PublicKey(&priv.PublicKey)
	cert := selfSigned(t, priv)
	b64 := base64.StdEncoding.EncodeToString(spki)
	wrapped := ""
	for s := b64; s != ""; {
		n := min(64, len(s))
		wrapped += s[:n] + "\n"
		s = s[n:]
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	good := []struct {
		name string
		in   []byte
	}{
		{"DER SubjectPublicKeyInfo (AWS PublicKey decoded)", spki},
		{"base64 of DER (AWS and Alibaba JSON)", []byte(b64)},
		{"base64 of DER with a newline", []byte(b64 + "\n")},
		{"base64 of DER in lines", []byte(wrapped)},
		{"PEM PUBLIC KEY (Cloud KMS import job, Azure KEK)", pemOf("PUBLIC KEY", spki)},
		{"PEM PUBLIC KEY with CRLF and blank lines", []byte("\r\n" + strings.ReplaceAll(string(pemOf("PUBLIC KEY", spki)), "\n", "\r\n"))},
		{"PEM RSA PUBLIC KEY", pemOf("RSA PUBLIC KEY", pkcs1)},
		{"PEM CERTIFICATE (CSEK ingress)", pemOf("CERTIFICATE", cert)},
		{"PEM certificate chain: the first one", append(pemOf("CERTIFICATE", cert), pemOf("CERTIFICATE", cert)...)},
		{"DER certificate", cert},
		{"base64 of a DER certificate", []byte(base64.StdEncoding.EncodeToString(cert))},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := ParseWrappingKey(tc.in)
			if err != nil {
				t.Fatalf("ParseWrappingKey = %v", err)
			}
			if !pub.Equal(&priv.PublicKey) {
				t.Fatal("ParseWrappingKey returned another key")
			}
		})
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	spkiOf := func(n *big.Int, e int) []byte {
		der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: e})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	bad := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"spaces", []byte(" \n\t")},
		{"EC public key", ecDER},
		{"EC public key as PEM", pemOf("PUBLIC KEY", ecDER)},
		{"1024-bit RSA", smallDER},
		{"public exponent 1", spkiOf(priv.N, 1)},
		{"even public exponent", spkiOf(priv.N, 65536)},
		{"even modulus", spkiOf(new(big.Int).Add(priv.N, big.NewInt(1)), 65537)},
		{"public exponent 1 as PEM RSA PUBLIC KEY", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa.PublicKey{N: priv.N, E: 1}))},
		{"a private key", pemOf("PRIVATE KEY", privDER)},
		{"an RSA private key", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv))},
		{"PEM of another type", pemOf("CERTIFICATE REQUEST", spki)},
		{"PEM with a broken body", []byte("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n")},
		{"truncated DER", spki[:len(spki)-10]},
		{"base64 of garbage", []byte(base64.StdEncoding.EncodeToString([]byte("not a key at all")))},
		{"text", []byte("hello world")},
		{"too large", bytes.Repeat([]byte("A"), maxWrappingKeyInput+1)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseWrappingKey(tc.in); !errors.Is(err, ErrWrappingKey) {
				t.Fatalf("ParseWrappingKey = %v, want ErrWrappingKey", err)
			}
		})
	}
}

// FuzzParseWrappingKey: any input parses to a usable key that encodes back
// to itself, or fails with ErrWrappingKey; never a panic.
func FuzzParseWrappingKey(f *testing.F) {
	priv := wrappingKey(f, 2048)
	spki, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	f.Add(spki)
	f.Add([]byte(base64.StdEncoding.EncodeToString(spki)))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(f, priv)}))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		pub, err := ParseWrappingKey(in)
		if err != nil {
			if !errors.Is(err, ErrWrappingKey) {
				t.Fatalf("ParseWrappingKey error %v does not wrap ErrWrappingKey", err)
			}
			return
		}
		if bits := pub.N.BitLen(); bits < minWrappingBits || bits > maxWrappingBits {
			t.Fatalf("ParseWrappingKey accepted a %d-bit key", bits)
		}
		if pub.E < 3 || pub.E%2 == 0 || pub.N.Bit(0) == 0 {
			t.Fatalf("ParseWrappingKey accepted exponent %d, modulus parity %d", pub.E, pub.N.Bit(0))
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		again, err := ParseWrappingKey(der)
		if err != nil || !again.Equal(pub) {
			t.Fatalf("accepted key does not round-trip: %v", err)
		}
	})
}
