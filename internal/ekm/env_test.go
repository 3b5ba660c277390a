// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// allowAdmin lets the admin manage keys in the core.
type allowAdmin struct{}

func (allowAdmin) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if c := kms.CallerFrom(ctx); c != nil && c.Admin {
		return nil
	}
	return iam.Denied(perm, res)
}

// fakeAuthz grants permissions to apps on resources (and what is under
// them), and can spend an app's quota or fail.
type fakeAuthz struct {
	mu        sync.Mutex
	grants    map[string]map[string][]string // app -> perm -> resources
	exhausted map[string]bool
	fail      error
}

func (a *fakeAuthz) grant(app, perm, res string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.grants[app] == nil {
		a.grants[app] = map[string][]string{}
	}
	a.grants[app][perm] = append(a.grants[app][perm], res)
}

func (a *fakeAuthz) revoke(app string) {
	a.mu.Lock()
	delete(a.grants, app)
	a.mu.Unlock()
}

func (a *fakeAuthz) setExhausted(app string, v bool) {
	a.mu.Lock()
	a.exhausted[app] = v
	a.mu.Unlock()
}

func (a *fakeAuthz) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("no caller")
	}
	if c.Admin {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	for _, g := range a.grants[c.App][perm] {
		if s := res.String(); s == g || strings.HasPrefix(s, g+"/") {
			if a.exhausted[c.App] {
				return &iam.QuotaError{Err: kmserr.ResourceExhausted("Quota exceeded: app:%s", c.App), Subject: "app:" + c.App, RetryDelay: 2 * time.Second}
			}
			return nil
		}
	}
	return iam.Denied(perm, res)
}

// fakeApps is an app directory.
type fakeApps struct {
	mu    sync.Mutex
	authz *fakeAuthz
	apps  map[string]*auth.App
	fail  error
}

func (f *fakeApps) add(name, project, email string) *auth.App {
	f.mu.Lock()
	defer f.mu.Unlock()
	app := &auth.App{Name: name, Project: project, GoogleServiceAccount: email, UID: "uid-" + name}
	f.apps[name] = app
	return app
}

func (f *fakeApps) setDisabled(name string, v bool) {
	f.mu.Lock()
	f.apps[name].Disabled = v
	f.mu.Unlock()
}

func (f *fakeApps) GetApp(ctx context.Context, name string) (*auth.App, error) {
	f.mu.Lock()
	app := f.apps[name]
	f.mu.Unlock()
	project := auth.NoProject
	if app != nil && app.Project != "" {
		project = app.Project
	}
	if err := f.authz.Authorize(ctx, auth.PermAppsGet, resource.Name{Kind: resource.KindProject, Project: project}); err != nil {
		return nil, err
	}
	if app == nil {
		return nil, kmserr.NotFound("app %s not found", name)
	}
	c := *app
	return &c, nil
}

func (f *fakeApps) AppByGoogleEmail(ctx context.Context, email string) (*auth.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	// As auth.Apps: ASCII only, compared without regard to ASCII case
	// (strings.EqualFold alone would also fold ſ to s and K to k).
	for i := 0; i < len(email); i++ {
		if email[i] >= 0x80 {
			return nil, kmserr.NotFound("no app")
		}
	}
	for _, app := range f.apps {
		if app.GoogleServiceAccount != "" && strings.EqualFold(app.GoogleServiceAccount, email) {
			c := *app
			return &c, nil
		}
	}
	return nil, kmserr.NotFound("no app")
}

// recorder is an auditor that keeps events, or fails.
type recorder struct {
	mu     sync.Mutex
	events []recorded
	fail   bool
}

type recorded struct {
	kms.Event
	Principal, AuthMethod, RequestID string
}

func (r *recorder) Record(ctx context.Context, ev kms.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return kmserr.Unavailable(errors.New("disk full"), "the call could not be recorded in the audit log")
	}
	rec := recorded{Event: ev}
	if c := kms.CallerFrom(ctx); c != nil {
		rec.Principal, rec.AuthMethod, rec.RequestID = c.Principal, c.AuthMethod, c.RequestID
	}
	r.events = append(r.events, rec)
	return nil
}

func (r *recorder) last() recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return recorded{}
	}
	return r.events[len(r.events)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// env is a handler over a real core on SQLite, with fakes for apps,
// authorization and audit, and a local issuer for tokens.
type env struct {
	svc      *kms.Service
	store    storage.Store
	ks       *keystore.Keystore
	authz    *fakeAuthz
	apps     *fakeApps
	audit    *recorder
	policies *Policies
	issuer   *issuer
	verifier *Verifier
	handler  *Handler
	srv      *httptest.Server
	adminCtx context.Context
}

const envPublicURL = "https://ekm.example.com"

func newEnv(t *testing.T) *env {
	t.Helper()
	st, ks := sqlitetest.Open(t, 7)
	var err error
	e := &env{store: st, ks: ks, audit: &recorder{}, issuer: newIssuer(t)}
	e.authz = &fakeAuthz{grants: map[string]map[string][]string{}, exhausted: map[string]bool{}}
	e.apps = &fakeApps{authz: e.authz, apps: map[string]*auth.App{}}
	e.svc = kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: allowAdmin{}})
	e.adminCtx = kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	e.policies, err = NewPolicies(PoliciesConfig{Store: st, Signer: ks, Apps: e.apps, Authorizer: e.authz, Auditor: e.audit})
	if err != nil {
		t.Fatal(err)
	}
	e.verifier, err = NewVerifier(VerifierConfig{JWKSURL: e.issuer.url(), Audiences: []string{envPublicURL}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.handler, err = New(Config{
		Keys: e.svc, Apps: e.apps, Authorizer: e.authz, Auditor: e.audit, Policies: e.policies,
		Verifier: e.verifier, PublicURL: envPublicURL, Version: "test", Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	return e
}

// key creates an ENCRYPT_DECRYPT key and returns its name and EKM id.
func (e *env) key(t *testing.T, ring, id string) (name, ekmID string) {
	t.Helper()
	ctx := e.adminCtx
	parent := "projects/proj/locations/global"
	if _, err := e.svc.GetKeyRing(ctx, parent+"/keyRings/"+ring); err != nil {
		if _, err := e.svc.CreateKeyRing(ctx, parent, ring); err != nil {
			t.Fatal(err)
		}
	}
	k, err := e.svc.CreateCryptoKey(ctx, kms.CreateKeyRequest{Parent: parent + "/keyRings/" + ring, ID: id,
		Key: kms.CryptoKey{Purpose: "ENCRYPT_DECRYPT"}})
	if err != nil {
		t.Fatal(err)
	}
	ekmID, _, err = e.svc.KeyExtras(ctx, k.Key.Name)
	if err != nil || ekmID == "" {
		t.Fatalf("KeyExtras = %q, %v", ekmID, err)
	}
	return k.Key.Name, ekmID
}

func (e *env) token(t *testing.T, email string) string {
	return e.issuer.token(t, email, envPublicURL, time.Now())
}
