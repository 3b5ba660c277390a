// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"

	"github.com/custos-kms/custos/internal/kmserr"
)

// ServiceAccountKey is a service-account key file in Google's JSON format,
// as the official client libraries read it
// (https://cloud.google.com/iam/docs/keys-create-delete). PrivateKey is
// secret: a file holding it must be kept like a password.
//
// The file has no universe_domain, so the clients take googleapis.com and
// accept a Custos endpoint given as a custom endpoint; they then either sign
// their own JWT (see [Apps] for what is accepted) or exchange one at
// TokenURI.
type ServiceAccountKey struct {
	Type         string `json:"type"` // "service_account"
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	// PrivateKey is an RSA-2048 key, PKCS #8, PEM "PRIVATE KEY".
	PrivateKey  string `json:"private_key"`
	ClientEmail string `json:"client_email"`
	ClientID    string `json:"client_id"`
	// TokenURI is the server's public URL + "/oauth2/token".
	TokenURI string `json:"token_uri"`
	// UniverseDomain is absent from the files Custos writes.
	UniverseDomain string `json:"universe_domain,omitempty"`
}

// ServiceAccountType is the "type" of a service-account key file.
const ServiceAccountType = "service_account"

// newServiceAccountKey generates an RSA-2048 key and returns the key file
// (secret) and the PKIX DER public key (to store).
func newServiceAccountKey(app *App, keyID, tokenURL string) (Secret, []byte, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, kmserr.Internal(err, "cannot generate a key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, kmserr.Internal(err, "cannot encode a key")
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, kmserr.Internal(err, "cannot encode a key")
	}
	f := ServiceAccountKey{
		Type:         ServiceAccountType,
		ProjectID:    app.Project,
		PrivateKeyID: keyID,
		PrivateKey:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:  ClientEmail(app.Name),
		ClientID:     app.UID,
		TokenURI:     tokenURL,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, nil, kmserr.Internal(err, "cannot encode a key file")
	}
	return Secret(buf.Bytes()), pub, nil
}

// ParseServiceAccountKey parses and checks a service-account key file as
// Custos writes it: type service_account, every field set, an RSA-2048
// PKCS #8 private key, an http(s) token_uri, no universe_domain other than
// googleapis.com. It returns the file and its private key, which must be
// kept secret. Errors never quote the private key.
func ParseServiceAccountKey(b []byte) (*ServiceAccountKey, *rsa.PrivateKey, error) {
	var f ServiceAccountKey
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, nil, errors.New("auth: service-account key file: not a JSON object of the expected shape")
	}
	var errs []error
	if f.Type != ServiceAccountType {
		errs = append(errs, fmt.Errorf("type is %q, want %q", f.Type, ServiceAccountType))
	}
	if !validKeyID(f.PrivateKeyID) {
		errs = append(errs, errors.New("private_key_id is not a Custos key id"))
	}
	if !validEmail(f.ClientEmail) {
		errs = append(errs, errors.New("client_email is not an email address"))
	}
	if f.ClientID == "" {
		errs = append(errs, errors.New("client_id is missing"))
	}
	if u, err := url.Parse(f.TokenURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("token_uri is not an http(s) URL"))
	}
	if f.UniverseDomain != "" && f.UniverseDomain != "googleapis.com" {
		errs = append(errs, fmt.Errorf("universe_domain is %q: the clients would refuse a Custos endpoint", f.UniverseDomain))
	}
	key, err := parsePrivateKey(f.PrivateKey)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("auth: service-account key file: %w", err)
	}
	return &f, key, nil
}

func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("private_key is not one PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("private_key is not a PKCS #8 key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 {
		return nil, errors.New("private_key is not an RSA-2048 key")
	}
	return rk, nil
}
