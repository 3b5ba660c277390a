// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"sort"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// KeyFormat is the kind of a credential of an app.
type KeyFormat string

// Credential kinds.
const (
	// FormatAPIKey is a bearer token custos_ak_<keyid>_<secret>.
	FormatAPIKey KeyFormat = "api-key"
	// FormatGoogleJSON is a service-account key file in Google's JSON
	// format, with an RSA-2048 private key.
	FormatGoogleJSON KeyFormat = "google-json"
	// FormatMTLS is a TLS client certificate registered to the app.
	FormatMTLS KeyFormat = "mtls"
)

// AppKey describes a credential of an app. It holds no secret.
type AppKey struct {
	// ID is 40 lower-case hex digits; the private_key_id of a
	// service-account key file.
	ID         string    `json:"id"`
	App        string    `json:"app"`
	Type       KeyFormat `json:"type"`
	CreateTime time.Time `json:"createTime"`
	Revoked    bool      `json:"revoked,omitempty"`
	RevokeTime time.Time `json:"revokeTime,omitzero"`
	// ClientEmail is the client_email of a google-json key.
	ClientEmail string `json:"clientEmail,omitempty"`
	// Fingerprint (hex SHA-256 of the DER), Subject and NotAfter describe
	// the certificate of an mtls key.
	Fingerprint string    `json:"fingerprint,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	NotAfter    time.Time `json:"notAfter,omitzero"`
}

// keyRecord is a stored credential: what verifies it, never the secret.
type keyRecord struct {
	AppKey
	// SecretHash is the SHA-256 of a whole API key.
	SecretHash []byte `json:"secretHash,omitempty"`
	// PublicKey is the PKIX DER public key of a google-json key.
	PublicKey []byte `json:"publicKey,omitempty"`
}

// CreateKeyRequest is a CreateKey call.
type CreateKeyRequest struct {
	App    string
	Format KeyFormat
	// Certificate is the PEM client certificate of an mtls key (one
	// CERTIFICATE block). It is not verified here: the TLS layer verifies
	// client certificates against the client CA on every connection.
	Certificate []byte
}

// NewKey is a credential just created.
type NewKey struct {
	Key *AppKey
	// Secret is the credential itself, returned this once and kept
	// nowhere: the API key, or the service-account key file (JSON, with
	// the private key). Nil for an mtls key, whose secret the client holds.
	Secret Secret
}

// ClientEmailDomain is the domain of the client_email of service-account
// key files: NAME@apps.custos.local. App names are unique, so the address
// names one app; it is not a Google address and is never used to send mail.
const ClientEmailDomain = "apps.custos.local"

// ClientEmail returns the client_email of the app's service-account keys.
func ClientEmail(app string) string { return app + "@" + ClientEmailDomain }

// newKeyID returns 40 random lower-case hex digits.
func newKeyID() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", kmserr.Internal(err, "cannot generate a key id")
	}
	return hex.EncodeToString(b), nil
}

// validKeyID reports whether s has the shape of a key id.
func validKeyID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CreateKey creates a credential for an app, enabled or not. It needs
// custos.appKeys.create. The secret in the answer is returned once and
// cannot be read again. Registering a certificate that is registered to an
// active key is ALREADY_EXISTS; after revocation it may be registered again.
func (a *Apps) CreateKey(ctx context.Context, req CreateKeyRequest) (*NewKey, error) {
	details := map[string]string{"app": req.App, "format": string(req.Format)}
	var out *NewKey
	err := a.onApp(ctx, "CreateKey", PermAppKeysCreate, req.App, appRecordName(req.App)+"/keys", details, func(app *App) error {
		id, err := newKeyID()
		if err != nil {
			return err
		}
		k := &keyRecord{AppKey: AppKey{ID: id, App: app.Name, Type: req.Format, CreateTime: a.now().UTC()}}
		var secret Secret
		switch req.Format {
		case FormatAPIKey:
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return kmserr.Internal(err, "cannot generate a key")
			}
			secret = Secret(APIKeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b))
			h := sha256.Sum256(secret)
			k.SecretHash = h[:]
		case FormatGoogleJSON:
			k.ClientEmail = ClientEmail(app.Name)
			file, pub, err := newServiceAccountKey(app, id, a.TokenURL())
			if err != nil {
				return err
			}
			k.PublicKey, secret = pub, file
		case FormatMTLS:
			if err := a.readCertificate(k, req.Certificate); err != nil {
				return err
			}
		default:
			return kmserr.InvalidArgument("format", "unknown key format %q: use api-key, google-json or mtls", req.Format)
		}
		if req.Format != FormatMTLS && len(req.Certificate) > 0 {
			return kmserr.InvalidArgument("certificate", "is only for the mtls format")
		}
		rec, err := a.encode(kindAppKey, keyRecordName(id), appRecordName(app.Name), k)
		if err != nil {
			return err
		}
		err = a.update(ctx, func(tx storage.Tx) ([]string, error) {
			if _, _, err := a.readApp(ctx, tx, app.Name); err != nil {
				return nil, err
			}
			if err := tx.Create(ctx, rec); err != nil {
				return nil, storeErr(err, "key", id)
			}
			touched := []string{rec.Name}
			if k.Fingerprint != "" {
				name, err := a.bindCertificate(ctx, tx, k)
				if err != nil {
					return nil, err
				}
				touched = append(touched, name)
			}
			return touched, nil
		})
		if err != nil {
			return err
		}
		details["keyId"] = id
		pub := k.AppKey
		out = &NewKey{Key: &pub, Secret: secret}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readCertificate fills the certificate fields of an mtls key.
func (a *Apps) readCertificate(k *keyRecord, certPEM []byte) error {
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return kmserr.InvalidArgument("certificate", "must be one PEM CERTIFICATE block")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return kmserr.InvalidArgument("certificate", "must be one PEM CERTIFICATE block, with nothing after it")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return kmserr.InvalidArgument("certificate", "cannot be parsed: %v", err)
	}
	if cert.IsCA {
		return kmserr.InvalidArgument("certificate", "is a CA certificate; register the client's own certificate")
	}
	if !a.now().Before(cert.NotAfter) {
		return kmserr.InvalidArgument("certificate", "expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	fp := sha256.Sum256(cert.Raw)
	k.Fingerprint = hex.EncodeToString(fp[:])
	k.Subject = cert.Subject.String()
	k.NotAfter = cert.NotAfter.UTC()
	return nil
}

// bindCertificate points the certificate's index at k, unless an active key
// holds it already.
func (a *Apps) bindCertificate(ctx context.Context, tx storage.Tx, k *keyRecord) (string, error) {
	name := mtlsIndexName(k.Fingerprint)
	idx, err := a.encode(kindAppIndex, name, "", k.ID)
	if err != nil {
		return "", err
	}
	target, old, err := a.readIndex(ctx, tx, name)
	switch kmserr.Code(err) {
	case codes.OK:
		prev, _, err := a.readKey(ctx, tx, target)
		if err == nil && !prev.Revoked {
			return "", kmserr.AlreadyExists("the certificate is already registered (key %s of app %s)", prev.ID, prev.App)
		}
		if err != nil && kmserr.Code(err) != codes.NotFound {
			return "", err
		}
		idx.Rev = old.Rev
		if err := tx.Put(ctx, idx); err != nil {
			return "", storeErr(err, "index", "")
		}
	case codes.NotFound:
		if err := tx.Create(ctx, idx); err != nil {
			return "", storeErr(err, "index", "")
		}
	default:
		return "", err
	}
	return name, nil
}

// ListKeys returns the credentials of an app, oldest first, revoked ones
// included. It needs custos.appKeys.list. No secret is returned.
func (a *Apps) ListKeys(ctx context.Context, app string) ([]*AppKey, error) {
	var out []*AppKey
	err := a.onApp(ctx, "ListKeys", PermAppKeysList, app, appRecordName(app)+"/keys", map[string]string{"app": app}, func(*App) error {
		recs, err := a.store.List(ctx, storage.ListOptions{Kind: kindAppKey, Parent: appRecordName(app)})
		if err != nil {
			return storeErr(err, "keys", "")
		}
		for _, rec := range recs {
			k := new(keyRecord)
			if err := a.decode(rec, kindAppKey, k); err != nil {
				return err
			}
			if rec.Name != keyRecordName(k.ID) || k.App != app {
				return kmserr.DataLoss(nil, "stored record %s holds key %s of app %s", rec.Name, k.ID, k.App)
			}
			pub := k.AppKey
			out = append(out, &pub)
		}
		sort.Slice(out, func(i, j int) bool {
			if !out[i].CreateTime.Equal(out[j].CreateTime) {
				return out[i].CreateTime.Before(out[j].CreateTime)
			}
			return out[i].ID < out[j].ID
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeKey revokes a credential of an app, effective at once on this node
// (other nodes: within the cache TTL), including tokens already issued or
// cached for it. It needs custos.appKeys.delete. Revoking a revoked key is
// not an error.
func (a *Apps) RevokeKey(ctx context.Context, app, keyID string) (*AppKey, error) {
	res := appRecordName(app) + "/keys/" + keyID
	var out *AppKey
	err := a.onApp(ctx, "RevokeKey", PermAppKeysDelete, app, res, map[string]string{"app": app, "keyId": keyID}, func(*App) error {
		if !validKeyID(keyID) {
			return kmserr.NotFound("key %s of app %s not found", keyID, app)
		}
		return a.update(ctx, func(tx storage.Tx) ([]string, error) {
			k, rec, err := a.readKey(ctx, tx, keyID)
			if kmserr.Code(err) == codes.NotFound || err == nil && k.App != app {
				return nil, kmserr.NotFound("key %s of app %s not found", keyID, app)
			}
			if err != nil {
				return nil, err
			}
			if !k.Revoked {
				k.Revoked = true
				k.RevokeTime = a.now().UTC()
				nrec, err := a.encode(kindAppKey, rec.Name, rec.Parent, k)
				if err != nil {
					return nil, err
				}
				nrec.Rev = rec.Rev
				if err := tx.Put(ctx, nrec); err != nil {
					return nil, storeErr(err, "key", keyID)
				}
			}
			pub := k.AppKey
			out = &pub
			return []string{rec.Name}, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
