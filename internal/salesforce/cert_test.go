// SPDX-License-Identifier: Apache-2.0

package salesforce_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/salesforce"
)

// TestParseCertificateUnusableKey: a BYOK certificate whose RSA key parses
// but that RSA-OAEP cannot encrypt to (public exponent 1 or even, even
// modulus) is refused when the cache-only key is made, rather than at
// every callout, after the material was unsealed and its export recorded.
func TestParseCertificateUnusableKey(t *testing.T) {
	good, priv := selfSigned(t, 2048)
	if _, err := salesforce.ParseCertificate(good); err != nil {
		t.Fatalf("ParseCertificate(good) = %v", err)
	}
	evenN := new(big.Int).Add(priv.N, big.NewInt(1))
	for _, pub := range []*rsa.PublicKey{{N: priv.N, E: 1}, {N: priv.N, E: 65536}, {N: evenN, E: 65537}} {
		cert := certFor(t, priv, pub)
		if _, err := salesforce.ParseCertificate(cert); err == nil {
			t.Errorf("ParseCertificate accepted a certificate with exponent %d and modulus parity %d", pub.E, pub.N.Bit(0))
		}
	}
}

// FuzzParseCertificate feeds arbitrary text, as an admin may upload it, to
// the BYOK certificate parser: it must never panic, and what it accepts
// must hold one RSA key that Seal can encrypt to.
func FuzzParseCertificate(f *testing.F) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		f.Fatal(err)
	}
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	f.Add(good)
	f.Add(append(append([]byte("text\n"), good...), good...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Add(der)
	dek := bytes.Repeat([]byte{7}, salesforce.DEKSize)
	f.Fuzz(func(t *testing.T, in []byte) {
		cert, err := salesforce.ParseCertificate(in)
		if err != nil {
			return
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			t.Fatalf("accepted a %T certificate", cert.PublicKey)
		}
		if _, err := salesforce.Seal(dek, pub, "kid", ""); err != nil {
			t.Fatalf("accepted a certificate Seal cannot use: %v", err)
		}
	})
}
