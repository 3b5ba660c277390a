// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/jwtsign"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

const (
	testURL        = "https://kms.example.test"
	testAdminToken = "custos_admin_test-token"
)

// allowAdmin is the test authorizer: the admin may do anything, anyone
// else nothing.
type allowAdmin struct{}

func (allowAdmin) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if c := kms.CallerFrom(ctx); c != nil && c.Admin {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

// recorder is an auditor that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []kms.Event
	fail   error
}

func (r *recorder) Record(ctx context.Context, e kms.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return r.fail
}

func (r *recorder) all() []kms.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]kms.Event(nil), r.events...)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     testing.TB
	apps  *Apps
	authn *Authenticator
	store storage.Store
	ks    *keystore.Keystore
	clk   *clock
	audit *recorder
	ctx   context.Context // the admin's
}

// newEnv builds Apps over a real SQLite store and keystore. The clock
// starts at the real time, so that tokens made by the official client
// libraries (which read the real clock) are current.
func newEnv(t testing.TB) *env {
	t.Helper()
	st, ks := sqlitetest.Open(t, 7)
	clk := &clock{t: time.Now().Truncate(time.Second)}
	rec := &recorder{}
	apps, err := NewApps(AppsConfig{
		Store: st, Keystore: ks, Authorizer: allowAdmin{}, Auditor: rec,
		Now: clk.now, PublicURL: testURL + "/", OtherURLs: []string{"http://127.0.0.1:8200"},
	})
	if err != nil {
		t.Fatal(err)
	}
	authn := NewWithApps(testAdminToken, apps)
	admin, err := authn.Authenticate(context.Background(), Request{Token: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, apps: apps, authn: authn, store: st, ks: ks, clk: clk, audit: rec, ctx: kms.WithCaller(context.Background(), admin)}
}

func (e *env) createApp(name, project string) *App {
	e.t.Helper()
	app, err := e.apps.CreateApp(e.ctx, CreateAppRequest{Name: name, Project: project})
	if err != nil {
		e.t.Fatalf("CreateApp(%s) = %v", name, err)
	}
	return app
}

func (e *env) apiKey(app string) (string, *AppKey) {
	e.t.Helper()
	nk, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: app, Format: FormatAPIKey})
	if err != nil {
		e.t.Fatalf("CreateKey(%s, api-key) = %v", app, err)
	}
	return string(nk.Secret), nk.Key
}

// saKey creates a google-json key and returns the parsed file, its private
// key and the raw file.
func (e *env) saKey(app string) (*ServiceAccountKey, *rsa.PrivateKey, []byte) {
	e.t.Helper()
	nk, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: app, Format: FormatGoogleJSON})
	if err != nil {
		e.t.Fatalf("CreateKey(%s, google-json) = %v", app, err)
	}
	f, priv, err := ParseServiceAccountKey(nk.Secret)
	if err != nil {
		e.t.Fatalf("ParseServiceAccountKey = %v", err)
	}
	return f, priv, nk.Secret
}

func (e *env) authenticate(token string) (*kms.Caller, error) {
	return e.authn.Authenticate(context.Background(), Request{Token: token, ClientAddr: "192.0.2.1:1234", RequestID: "req-1"})
}

// goClientJWT signs claims the way the Go client's self-signed JWT does:
// RS256, typ JWT, kid = private_key_id.
func goClientJWT(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	tok, err := jwtsign.Sign(alg, key, kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// selfSignedClaims are the claims of the Go client's self-signed JWT with
// scopes: iss = sub = client_email, scope, aud "", one hour.
func selfSignedClaims(f *ServiceAccountKey, now time.Time) map[string]any {
	return map[string]any{
		"iss":   f.ClientEmail,
		"sub":   f.ClientEmail,
		"aud":   "",
		"scope": "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/cloudkms",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
}

func wantCode(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if got := kmserr.Code(err); got != want {
		t.Fatalf("%s = %v (%v), want %v", what, got, err, want)
	}
}

// clientCert makes a self-signed ECDSA client certificate (PEM and parsed).
func clientCert(t testing.TB, cn string, isCA bool, notAfter time.Time) ([]byte, *x509.Certificate) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Custos tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: isCA,
		IsCA:                  isCA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert
}

func isUnauthenticated(err error) bool {
	var ke *kmserr.Error
	return errors.As(err, &ke) && ke.Code == codes.Unauthenticated
}

func errorsIsScope(err error) bool { return errors.Is(err, ErrInvalidScope) }
