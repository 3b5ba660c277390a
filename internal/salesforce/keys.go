// SPDX-License-Identifier: Apache-2.0

package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/oaep"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// Storage kinds and names of the records.
const (
	// KindKey is the kind of [Key] records, named "salesforce/keys/KID"
	// under the parent "salesforce/keys".
	KindKey storage.Kind = "sfkey"
	// KindName is the kind of the name index, "salesforce/names/NAME"
	// under "salesforce/names", whose data is {"kid": KID}.
	KindName storage.Kind = "sfkeyname"

	keysParent  = "salesforce/keys"
	namesParent = "salesforce/names"
)

// Defaults of a key created without an existing Custos key.
const (
	// DefaultLocation is where "create" makes a key ring named
	// DefaultKeyRing (if missing) and the key, named as the cache-only key.
	DefaultLocation = "projects/salesforce/locations/global"
	DefaultKeyRing  = "salesforce"
)

// Algorithm is the only algorithm a cache-only key's Custos key may have:
// its material is the 256-bit AES data encryption key.
const Algorithm alg.Algorithm = "AES_256_GCM"

// Key is a cache-only key: what Salesforce fetches under KID.
type Key struct {
	// KID is the key identifier entered in Salesforce, a random UUID.
	KID string `json:"kid"`
	// Name names the key for people; unique among cache-only keys.
	Name string `json:"name"`
	// CryptoKeyVersion is the Custos key version whose material is the DEK.
	CryptoKeyVersion string `json:"cryptoKeyVersion"`
	// Certificate is Salesforce's BYOK certificate, PEM.
	Certificate string `json:"certificate"`
	// CertificateSHA256 is the SHA-256 of the certificate's DER, in hex.
	CertificateSHA256 string `json:"certificateSha256"`
	// CertificateSubject and CertificateNotAfter describe the certificate.
	CertificateSubject  string    `json:"certificateSubject"`
	CertificateNotAfter time.Time `json:"certificateNotAfter"`
	// RSABits is the size of the certificate's RSA key.
	RSABits    int       `json:"rsaBits"`
	CreateTime time.Time `json:"createTime"`
	// Endpoint is the URL to enter in the Named Credential (Salesforce
	// appends "/KID"). It is not stored: [Keys] fills it in.
	Endpoint string `json:"endpoint,omitempty"`
}

// KMS is what [Keys] and [Handler] need from the core; *kms.Service
// implements it. Every call is made as the caller in ctx.
type KMS interface {
	ExportMaterial(ctx context.Context, name string, opts kms.ExportOptions) (material []byte, version string, a alg.Algorithm, err error)
	CreateKeyRing(ctx context.Context, parent, id string) (*kms.KeyRing, error)
	CreateCryptoKey(ctx context.Context, req kms.CreateKeyRequest) (*kms.KeyInfo, error)
	GetCryptoKey(ctx context.Context, name string) (*kms.KeyInfo, error)
	GetCryptoKeyVersion(ctx context.Context, name string) (*kms.Version, error)
	ListCryptoKeyVersions(ctx context.Context, parent string, p kms.Page) ([]*kms.Version, string, int, error)
}

var _ KMS = (*kms.Service)(nil)

// KeysConfig is what [Keys] is built from.
type KeysConfig struct {
	Store  storage.Store
	Signer signed.Signer
	KMS    KMS
	// Auditor records every call (nil: nothing recorded).
	Auditor kms.Auditor
	// PublicURL is the server's public base URL; the endpoint of the keys
	// is PublicURL + [KeysPath].
	PublicURL string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Keys manages cache-only keys. Only the built-in admin may use its
// methods (PERMISSION_DENIED for anyone else, before any lookup); every
// call is recorded in the audit log. Safe for concurrent use.
type Keys struct {
	cfg KeysConfig
}

// NewKeys returns the cache-only keys kept in cfg.Store.
func NewKeys(cfg KeysConfig) (*Keys, error) {
	if cfg.Store == nil || cfg.Signer == nil || cfg.KMS == nil {
		return nil, errors.New("salesforce: Store, Signer and KMS are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Keys{cfg: cfg}, nil
}

// Endpoint returns the URL to enter in Salesforce's Named Credential.
func (ks *Keys) Endpoint() string { return ks.cfg.PublicURL + KeysPath }

// CreateRequest is a [Keys.Create] call.
type CreateRequest struct {
	// Name names the cache-only key: 1 to 63 letters, digits, '_' and '-',
	// not shaped like a UUID (so that it is never taken for a kid).
	Name string
	// Certificate is Salesforce's BYOK certificate, PEM.
	Certificate []byte
	// Key is an exportable RAW_ENCRYPT_DECRYPT AES_256_GCM key, or one of
	// its versions. Empty: a key named Name is created in the key ring
	// DefaultLocation/keyRings/DefaultKeyRing (made if missing).
	Key string
}

// nameRE is the syntax of names: a Cloud KMS key id, so that the default
// key can take the same name.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)

// uuidRE matches a UUID in its canonical text form.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Create makes a cache-only key: it checks the certificate and the Custos
// key (or creates one), generates the kid and stores the record. Errors:
// INVALID_ARGUMENT for a bad name, certificate or key name; ALREADY_EXISTS
// for a name in use (or, without Key, a Custos key of that name);
// FAILED_PRECONDITION for a key that is not exportable, not AES_256_GCM, or
// whose version is not ENABLED; NOT_FOUND for a missing key.
func (ks *Keys) Create(ctx context.Context, req CreateRequest) (*Key, error) {
	var out *Key
	err := ks.call(ctx, "CreateSalesforceKey", keysParent, func(ev *kms.Event) error {
		k, err := ks.create(ctx, req, ev)
		out = k
		return err
	})
	return out, err
}

func (ks *Keys) create(ctx context.Context, req CreateRequest, ev *kms.Event) (*Key, error) {
	if !nameRE.MatchString(req.Name) || uuidRE.MatchString(req.Name) {
		return nil, kmserr.InvalidArgument("name", "%q must be 1 to 63 letters, digits, '_' and '-', and not a UUID", req.Name)
	}
	ev.Details["name"] = req.Name
	cert, err := ParseCertificate(req.Certificate)
	if err != nil {
		return nil, kmserr.InvalidArgument("certificate", "%v", err)
	}
	if _, err := ks.lookupName(ctx, req.Name); err == nil {
		return nil, kmserr.AlreadyExists("Salesforce key %s already exists", req.Name)
	} else if kmserr.Code(err) != codes.NotFound {
		return nil, err
	}
	version, err := ks.version(ctx, req)
	if err != nil {
		return nil, err
	}
	kid, err := newKID()
	if err != nil {
		return nil, kmserr.Internal(err, "cannot generate a key identifier")
	}
	sum := sha256.Sum256(cert.Raw)
	k := &Key{
		KID:                 kid,
		Name:                req.Name,
		CryptoKeyVersion:    version,
		Certificate:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		CertificateSHA256:   hex.EncodeToString(sum[:]),
		CertificateSubject:  cert.Subject.String(),
		CertificateNotAfter: cert.NotAfter.UTC(),
		RSABits:             cert.PublicKey.(*rsa.PublicKey).N.BitLen(),
		CreateTime:          ks.cfg.Now().UTC(),
	}
	ev.Resource = keyRecordName(kid)
	ev.Details["cryptoKeyVersion"] = version
	ev.Details["certificateSha256"] = k.CertificateSHA256
	rec, err := signed.Encode(ks.cfg.Signer, KindKey, keyRecordName(kid), keysParent, 0, k)
	if err != nil {
		return nil, err
	}
	idx, err := signed.Encode(ks.cfg.Signer, KindName, nameRecordName(k.Name), namesParent, 0, nameIndex{KID: kid})
	if err != nil {
		return nil, err
	}
	err = ks.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Create(ctx, idx); err != nil {
			return signed.Err(err, "Salesforce key", k.Name)
		}
		return signed.Err(tx.Create(ctx, rec), "Salesforce key", kid)
	})
	if err != nil {
		return nil, err
	}
	return ks.withEndpoint(k), nil
}

// version returns the Custos key version of a new cache-only key: the
// version req.Key names, the only ENABLED version of the key it names, or
// version 1 of a new key.
func (ks *Keys) version(ctx context.Context, req CreateRequest) (string, error) {
	if req.Key == "" {
		ring := DefaultLocation + "/keyRings/" + DefaultKeyRing
		if _, err := ks.cfg.KMS.CreateKeyRing(ctx, DefaultLocation, DefaultKeyRing); err != nil && kmserr.Code(err) != codes.AlreadyExists {
			return "", err
		}
		info, err := ks.cfg.KMS.CreateCryptoKey(ctx, kms.CreateKeyRequest{
			Parent: ring,
			ID:     req.Name,
			Key: kms.CryptoKey{
				Purpose:    alg.RawEncryptDecrypt,
				Template:   kms.VersionTemplate{Algorithm: Algorithm, ProtectionLevel: "SOFTWARE"},
				Exportable: true,
			},
		})
		if err != nil {
			if kmserr.Code(err) == codes.AlreadyExists {
				return "", kmserr.AlreadyExists("%s/cryptoKeys/%s already exists; give it with key (--key) to use it", ring, req.Name)
			}
			return "", err
		}
		return info.Key.Name + "/cryptoKeyVersions/1", nil
	}
	n, err := resource.Parse(req.Key)
	if err != nil || (n.Kind != resource.KindCryptoKey && n.Kind != resource.KindCryptoKeyVersion) {
		return "", kmserr.InvalidArgument("key", "%q is not a crypto key or crypto key version name", req.Key)
	}
	info, err := ks.cfg.KMS.GetCryptoKey(ctx, n.Key().String())
	if err != nil {
		return "", err
	}
	k := info.Key
	switch {
	case k.Purpose != alg.RawEncryptDecrypt || k.Template.Algorithm != Algorithm:
		return "", kmserr.FailedPrecondition("%s is a %s %s key; a cache-only key needs a RAW_ENCRYPT_DECRYPT %s key", k.Name, k.Purpose, k.Template.Algorithm, Algorithm)
	case !k.Exportable:
		return "", kmserr.FailedPrecondition("export not allowed: %s is not exportable (create it with --exportable)", k.Name)
	}
	if n.Kind == resource.KindCryptoKeyVersion {
		v, err := ks.cfg.KMS.GetCryptoKeyVersion(ctx, n.String())
		if err != nil {
			return "", err
		}
		if err := usable(v); err != nil {
			return "", err
		}
		return v.Name, nil
	}
	var enabled []*kms.Version
	p := kms.Page{Size: 1000}
	for {
		vs, next, _, err := ks.cfg.KMS.ListCryptoKeyVersions(ctx, k.Name, p)
		if err != nil {
			return "", err
		}
		for _, v := range vs {
			if v.State == kms.Enabled {
				enabled = append(enabled, v)
			}
		}
		if next == "" {
			break
		}
		p.Token = next
	}
	switch len(enabled) {
	case 0:
		return "", kmserr.FailedPrecondition("%s has no ENABLED version", k.Name)
	case 1:
		if err := usable(enabled[0]); err != nil {
			return "", err
		}
		return enabled[0].Name, nil
	}
	return "", kmserr.InvalidArgument("key", "%s has %d ENABLED versions; name the version (KEY/cryptoKeyVersions/N)", k.Name, len(enabled))
}

// usable checks that v can serve as a cache-only key's DEK.
func usable(v *kms.Version) error {
	switch {
	case v.Algorithm != Algorithm:
		return kmserr.FailedPrecondition("%s is %s; a cache-only key needs %s", v.Name, v.Algorithm, Algorithm)
	case v.State != kms.Enabled:
		return kmserr.FailedPrecondition("CryptoKeyVersion %s is %s, not ENABLED", v.Name, v.State)
	}
	return nil
}

// Get returns a cache-only key by kid or by name.
func (ks *Keys) Get(ctx context.Context, kidOrName string) (*Key, error) {
	var out *Key
	err := ks.call(ctx, "GetSalesforceKey", keysParent, func(ev *kms.Event) error {
		k, err := ks.find(ctx, kidOrName)
		if k != nil {
			ev.Resource = keyRecordName(k.KID)
		}
		out = k
		return err
	})
	return ks.withEndpoint(out), err
}

// List returns every cache-only key, ordered by kid.
func (ks *Keys) List(ctx context.Context) ([]*Key, error) {
	var out []*Key
	err := ks.call(ctx, "ListSalesforceKeys", keysParent, func(*kms.Event) error {
		recs, err := ks.cfg.Store.List(ctx, storage.ListOptions{Kind: KindKey, Parent: keysParent})
		if err != nil {
			return signed.Err(err, "Salesforce keys", "")
		}
		out = make([]*Key, 0, len(recs))
		for _, r := range recs {
			k, err := ks.decodeKey(r)
			if err != nil {
				return err
			}
			out = append(out, ks.withEndpoint(k))
		}
		return nil
	})
	return out, err
}

// Delete removes a cache-only key (by kid or by name): Salesforce's next
// fetch of the kid is NOT_FOUND. The Custos key and its material stay;
// disable or destroy its version to make sure no other kid serves it.
func (ks *Keys) Delete(ctx context.Context, kidOrName string) (*Key, error) {
	var out *Key
	err := ks.call(ctx, "DeleteSalesforceKey", keysParent, func(ev *kms.Event) error {
		k, err := ks.find(ctx, kidOrName)
		if err != nil {
			return err
		}
		ev.Resource = keyRecordName(k.KID)
		ev.Details["name"] = k.Name
		out = k
		return ks.cfg.Store.Update(ctx, func(tx storage.Tx) error {
			if err := tx.Delete(ctx, keyRecordName(k.KID)); err != nil {
				return signed.Err(err, "Salesforce key", k.KID)
			}
			return signed.Err(tx.Delete(ctx, nameRecordName(k.Name)), "Salesforce key", k.Name)
		})
	})
	return ks.withEndpoint(out), err
}

// Resolve returns the cache-only key kid names, for the callout: it does
// not authorize (the export that follows does) and records nothing.
// NOT_FOUND if there is none.
func (ks *Keys) Resolve(ctx context.Context, kid string) (*Key, error) {
	if !ValidKID(kid) {
		return nil, kmserr.NotFound("no Salesforce key has this key identifier")
	}
	r, err := ks.cfg.Store.Get(ctx, keyRecordName(kid))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, kmserr.NotFound("no Salesforce key has this key identifier")
		}
		return nil, signed.Err(err, "Salesforce key", kid)
	}
	return ks.decodeKey(r)
}

// find looks a key up by kid, then by name.
func (ks *Keys) find(ctx context.Context, kidOrName string) (*Key, error) {
	k, err := ks.Resolve(ctx, kidOrName)
	if kmserr.Code(err) != codes.NotFound {
		return k, err
	}
	if !nameRE.MatchString(kidOrName) {
		return nil, kmserr.NotFound("Salesforce key %q not found", printable(kidOrName))
	}
	kid, err := ks.lookupName(ctx, kidOrName)
	if err != nil {
		return nil, err
	}
	return ks.Resolve(ctx, kid)
}

// nameIndex is the data of a name index record.
type nameIndex struct {
	KID string `json:"kid"`
}

// lookupName returns the kid of a name, or NOT_FOUND.
func (ks *Keys) lookupName(ctx context.Context, name string) (string, error) {
	r, err := ks.cfg.Store.Get(ctx, nameRecordName(name))
	if err != nil {
		return "", signed.Err(err, "Salesforce key", name)
	}
	var idx nameIndex
	if err := signed.Decode(ks.cfg.Signer, r, KindName, &idx); err != nil {
		return "", err
	}
	return idx.KID, nil
}

// decodeKey verifies and reads a key record, and checks that it holds the
// kid its name says.
func (ks *Keys) decodeKey(r storage.Record) (*Key, error) {
	k := new(Key)
	if err := signed.Decode(ks.cfg.Signer, r, KindKey, k); err != nil {
		return nil, err
	}
	if keyRecordName(k.KID) != r.Name {
		return nil, kmserr.DataLoss(nil, "stored record %s holds another key identifier", r.Name)
	}
	k.Endpoint = ""
	return k, nil
}

func (ks *Keys) withEndpoint(k *Key) *Key {
	if k == nil {
		return nil
	}
	c := *k
	c.Endpoint = ks.Endpoint()
	return &c
}

// call runs an admin method: only the built-in admin may, which is checked
// before anything else; the outcome is recorded as method on res.
func (ks *Keys) call(ctx context.Context, method, res string, fn func(ev *kms.Event) error) error {
	ev := kms.Event{Method: method, Resource: res, Details: map[string]string{}}
	var err error
	if c := kms.CallerFrom(ctx); c == nil || !c.Admin {
		err = kmserr.PermissionDenied("only the admin may manage Salesforce cache-only keys")
	} else {
		err = fn(&ev)
	}
	ev.Err = err
	if ks.cfg.Auditor != nil {
		if aerr := ks.cfg.Auditor.Record(ctx, ev); aerr != nil && err == nil {
			return aerr
		}
	}
	return err
}

func keyRecordName(kid string) string   { return keysParent + "/" + kid }
func nameRecordName(name string) string { return namesParent + "/" + name }

// kidRE is the syntax Salesforce allows for key identifiers: letters,
// digits, '.', '-' and '_' (CacheOnlyKeyWrapper README, "Response
// Claims"); Custos makes UUIDs, bounded here to 64 characters.
var kidRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// ValidKID reports whether s has the syntax of a key identifier.
func ValidKID(s string) bool { return kidRE.MatchString(s) && s != "." && s != ".." }

// newKID returns a random (version 4) UUID.
func newKID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// ParseCertificate reads Salesforce's BYOK certificate: one PEM
// CERTIFICATE block (text around it is ignored) holding an X.509
// certificate with an RSA public key of 2048 or 4096 bits, the sizes
// Salesforce's BYOK certificates have. The error says what is wrong.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	var block *pem.Block
	rest := data
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block (download the BYOK certificate from Salesforce's Certificate and Key Management page)")
		}
		if block.Type == "CERTIFICATE" {
			break
		}
	}
	for b, r := pem.Decode(rest); b != nil; b, r = pem.Decode(r) {
		if b.Type == "CERTIFICATE" {
			return nil, errors.New("more than one certificate; give the BYOK certificate alone")
		}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an X.509 certificate: %v", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the certificate's key is %T, not RSA", cert.PublicKey)
	}
	if bits := pub.N.BitLen(); bits != 2048 && bits != 4096 {
		return nil, fmt.Errorf("the certificate's RSA key has %d bits; Salesforce BYOK certificates have 2048 or 4096", bits)
	}
	// Refused now rather than in every callout, once the material is
	// unsealed.
	if !oaep.UsableKey(pub) {
		return nil, fmt.Errorf("the certificate's RSA key is not usable for RSA-OAEP (public exponent %d)", pub.E)
	}
	return cert, nil
}

// printable bounds a caller-supplied string for a message.
func printable(s string) string {
	const limit = 64
	var b strings.Builder
	for i, r := range s {
		if i >= limit {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
