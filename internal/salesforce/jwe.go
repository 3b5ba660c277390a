// SPDX-License-Identifier: Apache-2.0

package salesforce

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// DEKSize is the size of a data encryption key: Salesforce takes 256-bit
// AES keys only.
const DEKSize = 32

// NonceLen is the length of a replay-detection nonce: 32 hex digits
// (Salesforce's example: e5ab58fd2ced013f2a46d5c8144dd439).
const NonceLen = 32

// Seal returns the compact JWE that carries dek to Salesforce: protected
// header {"alg":"RSA-OAEP","enc":"A256GCM","kid":kid} with "jti":nonce
// added when nonce is not empty, the content encryption key encrypted with
// RSAES-OAEP (SHA-1, MGF1 SHA-1) to pub, and dek encrypted with AES-256-GCM
// under it. dek must be 32 bytes and is not modified or kept; the result
// is safe to send. The header is checked after go-jose made it, so that a
// parameter Salesforce would refuse never goes out.
func Seal(dek []byte, pub *rsa.PublicKey, kid, nonce string) (string, error) {
	if len(dek) != DEKSize {
		return "", fmt.Errorf("salesforce: the data encryption key has %d bytes, want %d", len(dek), DEKSize)
	}
	if pub == nil {
		return "", errors.New("salesforce: no public key")
	}
	opts := &jose.EncrypterOptions{}
	if nonce != "" {
		opts = opts.WithHeader("jti", nonce)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP, Key: pub, KeyID: kid}, opts)
	if err != nil {
		return "", fmt.Errorf("salesforce: %v", err)
	}
	obj, err := enc.Encrypt(dek)
	if err != nil {
		return "", fmt.Errorf("salesforce: %v", err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("salesforce: %v", err)
	}
	if err := checkHeader(out, kid, nonce); err != nil {
		return "", err
	}
	return out, nil
}

// checkHeader verifies that the protected header of a compact JWE is
// exactly what Salesforce takes.
func checkHeader(compact, kid, nonce string) error {
	want := map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": kid}
	if nonce != "" {
		want["jti"] = nonce
	}
	h, err := ProtectedHeader(compact)
	if err != nil {
		return err
	}
	if !maps.Equal(h, want) {
		return fmt.Errorf("salesforce: internal error: the JWE header has %v, want exactly %v", slices.Sorted(maps.Keys(h)), slices.Sorted(maps.Keys(want)))
	}
	return nil
}

// ProtectedHeader decodes the protected header of a compact JWE whose
// members are all strings.
func ProtectedHeader(compact string) (map[string]string, error) {
	first, _, ok := strings.Cut(compact, ".")
	if !ok || strings.Count(compact, ".") != 4 {
		return nil, errors.New("salesforce: not a compact JWE")
	}
	raw, err := base64.RawURLEncoding.DecodeString(first)
	if err != nil {
		return nil, fmt.Errorf("salesforce: JWE header: %v", err)
	}
	h := map[string]string{}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("salesforce: JWE header: %v", err)
	}
	return h, nil
}

// maxRequestIdentifier bounds a RequestIdentifier; Salesforce's are a key
// identifier and nonces, far shorter.
const maxRequestIdentifier = 512

// errNoNonce: a RequestIdentifier that does not end with a nonce.
var errNoNonce = errors.New("salesforce: the RequestIdentifier does not end with a nonce of 32 lowercase hex digits")

// Nonce extracts the replay-detection nonce of a RequestIdentifier: its
// last 32 characters, which must be lowercase hex digits. That the nonce
// ends the RequestIdentifier is an assumption (see the package
// documentation): Salesforce documents that it "includes the key
// identifier" and the nonce, and what the nonce looks like, not the
// layout.
func Nonce(requestIdentifier string) (string, error) {
	ri := requestIdentifier
	if len(ri) > maxRequestIdentifier {
		return "", fmt.Errorf("salesforce: the RequestIdentifier is longer than %d characters", maxRequestIdentifier)
	}
	if len(ri) < NonceLen {
		return "", errNoNonce
	}
	n := ri[len(ri)-NonceLen:]
	for i := 0; i < len(n); i++ {
		if c := n[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", errNoNonce
		}
	}
	return n, nil
}
