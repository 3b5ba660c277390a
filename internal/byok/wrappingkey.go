// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/custos-kms/custos/internal/crypto/oaep"
)

// Bounds of a wrapping key. Every provider hands out 2048 to 4096-bit RSA
// keys; the upper bound keeps a hostile key from costing much.
const (
	minWrappingBits = 2048
	maxWrappingBits = 8192
	// maxWrappingKeyInput bounds the text given as a wrapping key (a
	// certificate chain is the largest honest input).
	maxWrappingKeyInput = 64 << 10
)

// ParseWrappingKey reads a provider's public wrapping key in any of the
// forms providers hand it out:
//
//   - DER of a SubjectPublicKeyInfo (what AWS KMS GetParametersForImport
//     returns, once base64-decoded),
//   - base64 of that DER (what the AWS and Alibaba Cloud APIs and CLIs
//     print),
//   - PEM "PUBLIC KEY" (a Cloud KMS import job's public_key.pem, an Azure
//     key exchange key downloaded with az keyvault key download),
//   - PEM "RSA PUBLIC KEY" (PKCS#1),
//   - an X.509 certificate, PEM or DER (Google's CSEK ingress certificate):
//     its public key is used. The certificate is not verified; the caller
//     must get it from the provider over an authenticated channel.
//
// The key must be RSA, of 2048 to 8192 bits. Every error wraps
// ErrWrappingKey.
func ParseWrappingKey(data []byte) (*rsa.PublicKey, error) {
	if len(data) > maxWrappingKeyInput {
		return nil, fmt.Errorf("%w: %d bytes is too large for a public key or certificate", ErrWrappingKey, len(data))
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrWrappingKey)
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		return parsePEM(trimmed)
	}
	if data[0] == 0x30 { // binary DER: a SEQUENCE, never trimmed
		if pub, err := parseDER(data); err == nil {
			return pub, nil
		}
	}
	der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(trimmed), nil)))
	if err != nil {
		return nil, fmt.Errorf("%w: neither PEM, DER nor base64 of DER", ErrWrappingKey)
	}
	return parseDER(der)
}

func parsePEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: malformed PEM", ErrWrappingKey)
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: PEM %q is a private key; give the provider's public wrapping key", ErrWrappingKey, block.Type)
	default:
		return nil, fmt.Errorf("%w: PEM %q is not a public key or certificate", ErrWrappingKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PEM %q: %v", ErrWrappingKey, block.Type, err)
	}
	return checkRSA(pub)
}

// parseDER parses a SubjectPublicKeyInfo, or else a certificate.
func parseDER(der []byte) (*rsa.PublicKey, error) {
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		return checkRSA(pub)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: DER that is neither a SubjectPublicKeyInfo nor a certificate", ErrWrappingKey)
	}
	return checkRSA(cert.PublicKey)
}

func checkRSA(pub any) (*rsa.PublicKey, error) {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not an RSA public key", ErrWrappingKey, pub)
	}
	if bits := k.N.BitLen(); bits < minWrappingBits || bits > maxWrappingBits {
		return nil, fmt.Errorf("%w: a %d-bit RSA key; want %d to %d bits", ErrWrappingKey, bits, minWrappingBits, maxWrappingBits)
	}
	// Refused now rather than once the material is unsealed and its
	// export recorded.
	if !oaep.UsableKey(k) {
		return nil, fmt.Errorf("%w: not a usable RSA public key (public exponent %d; the exponent must be odd and at least 3, the modulus odd)", ErrWrappingKey, k.E)
	}
	return k, nil
}
