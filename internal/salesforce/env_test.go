// SPDX-License-Identifier: Apache-2.0

package salesforce_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/salesforce"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// authz: the admin may do anything; app:sf may export the keys in
// exporters; nobody else may do anything.
type authz struct {
	mu        sync.Mutex
	exporters map[string]bool // key names
}

func (a *authz) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := kms.CallerFrom(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if c != nil && (c.Admin || c.Principal == "app:sf" && perm == kms.PermExport && a.exporters[res.String()]) {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

func (a *authz) allow(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exporters[key] = true
}

// recorder keeps every audit event.
type recorder struct {
	mu     sync.Mutex
	events []kms.Event
	fail   bool
}

func (r *recorder) Record(ctx context.Context, e kms.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return kmserr.Unavailable(nil, "the call could not be recorded in the audit log")
	}
	if c := kms.CallerFrom(ctx); c != nil {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details["test:principal"] = c.Principal
	}
	r.events = append(r.events, e)
	return nil
}

// since returns the events recorded after the first n.
func (r *recorder) since(n int) []kms.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[n:])
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// authenticator is a fake auth.Authenticator over fixed tokens. It
// remembers every token it was asked about.
type authenticator struct {
	mu   sync.Mutex
	seen []string
}

const (
	keySF    = "custos_ak_sf_secret"      // an API key of app sf
	keyOther = "custos_ak_other_secret"   // an API key of app other
	keyAdmin = "custos_ak_admin_shaped"   // the admin token (had it this shape)
	keyJWT   = "custos_ak_not_an_api_key" // authenticates app sf, but not as an API key
)

func (a *authenticator) Authenticate(ctx context.Context, req auth.Request) (*kms.Caller, error) {
	a.mu.Lock()
	a.seen = append(a.seen, req.Token)
	a.mu.Unlock()
	c := &kms.Caller{AuthMethod: auth.MethodAPIKey, ClientAddress: req.ClientAddr, RequestID: req.RequestID}
	switch req.Token {
	case keySF:
		c.Principal, c.App = "app:sf", "sf"
	case keyOther:
		c.Principal, c.App = "app:other", "other"
	case keyAdmin:
		c.Principal, c.AuthMethod, c.Admin = "admin", auth.MethodAdminToken, true
	case keyJWT:
		c.Principal, c.App, c.AuthMethod = "app:sf", "sf", auth.MethodServiceAccountJWT
	default:
		return nil, kmserr.Unauthenticated("the API key is unknown (or its app was deleted)")
	}
	return c, nil
}

func (a *authenticator) tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

type env struct {
	srv   *httptest.Server
	svc   *kms.Service
	keys  *salesforce.Keys
	authz *authz
	audit *recorder
	authn *authenticator
	ks    *keystore.Keystore
	store storage.Store
	admin context.Context
	cert  []byte // PEM of a self-signed RSA-2048 certificate
	priv  *rsa.PrivateKey
}

const ring = "projects/p/locations/global/keyRings/r"

func newEnv(t *testing.T) *env {
	t.Helper()
	st, ks := sqlitetest.Open(t, 9)
	var err error
	e := &env{authz: &authz{exporters: map[string]bool{}}, audit: &recorder{}, authn: &authenticator{}, ks: ks, store: st}
	e.svc = kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: e.authz, Auditor: e.audit})
	e.keys, err = salesforce.NewKeys(salesforce.KeysConfig{Store: st, Signer: ks, KMS: e.svc, Auditor: e.audit, PublicURL: "https://kms.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := salesforce.NewHandler(salesforce.HandlerConfig{Keys: e.keys, KMS: e.svc, Authenticator: e.authn, Auditor: e.audit})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(salesforce.PathPrefix, h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.admin = kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	if _, err := e.svc.CreateKeyRing(e.admin, "projects/p/locations/global", "r"); err != nil {
		t.Fatal(err)
	}
	e.cert, e.priv = selfSigned(t, 2048)
	return e
}

// selfSigned makes a self-signed certificate with an RSA key of bits, as
// Salesforce's BYOK certificates are.
func selfSigned(t *testing.T, bits int) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return certFor(t, priv, &priv.PublicKey), priv
}

func certFor(t *testing.T, signer any, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "SFDC BYOK test", Organization: []string{"Custos tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func ecCert(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return certFor(t, k, &k.PublicKey)
}

// rawKey creates a RAW_ENCRYPT_DECRYPT AES_256_GCM key in ring.
func (e *env) rawKey(t *testing.T, id string, exportable bool) string {
	t.Helper()
	info, err := e.svc.CreateCryptoKey(e.admin, kms.CreateKeyRequest{Parent: ring, ID: id, Key: kms.CryptoKey{
		Purpose:    "RAW_ENCRYPT_DECRYPT",
		Template:   kms.VersionTemplate{Algorithm: "AES_256_GCM", ProtectionLevel: "SOFTWARE"},
		Exportable: exportable,
	}})
	if err != nil {
		t.Fatalf("CreateCryptoKey(%s) = %v", id, err)
	}
	return info.Key.Name
}

// create makes a cache-only key as the admin.
func (e *env) create(t *testing.T, name, key string) *salesforce.Key {
	t.Helper()
	k, err := e.keys.Create(e.admin, salesforce.CreateRequest{Name: name, Certificate: e.cert, Key: key})
	if err != nil {
		t.Fatalf("Create(%s, %s) = %v", name, key, err)
	}
	return k
}

// material reads a version's material through the core, as the admin.
func (e *env) material(t *testing.T, version string) []byte {
	t.Helper()
	m, _, _, err := e.svc.ExportMaterial(e.admin, version, kms.ExportOptions{Target: "test"})
	if err != nil {
		t.Fatalf("ExportMaterial(%s) = %v", version, err)
	}
	return m
}

// get fetches path as Salesforce does, with HTTP Basic user:pass (none if
// user and pass are empty) and extra headers.
func (e *env) get(t *testing.T, path, user, pass string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func keyPath(kid string) string { return salesforce.KeysPath + "/" + kid }

// answer reads a response: its body, and the status of Google's error
// envelope ("" if it is not one).
func answer(t *testing.T, resp *http.Response) (body []byte, status, message string) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Error struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &env)
	return body, env.Error.Status, env.Error.Message
}
