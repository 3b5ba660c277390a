// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

func TestAppLifecycle(t *testing.T) {
	e := newEnv(t)
	app, err := e.apps.CreateApp(e.ctx, CreateAppRequest{Name: "billing", Project: "acme-prod", GoogleServiceAccount: "EKM@Example.iam.gserviceaccount.com"})
	if err != nil {
		t.Fatalf("CreateApp = %v", err)
	}
	if app.Name != "billing" || app.Project != "acme-prod" || app.Disabled || !app.CreateTime.Equal(e.clk.now()) || len(app.UID) != 21 || app.Principal() != "app:billing" {
		t.Errorf("CreateApp = %+v", app)
	}
	e.createApp("audit", "")
	e.createApp("zeta", "acme-prod")

	got, err := e.apps.GetApp(e.ctx, "billing")
	if err != nil || *got != *app {
		t.Errorf("GetApp = %+v, %v; want %+v", got, err, app)
	}
	_, err = e.apps.GetApp(e.ctx, "nope")
	wantCode(t, "GetApp(nope)", err, codes.NotFound)

	for _, tc := range []struct {
		project string
		want    []string
	}{
		{"", []string{"audit", "billing", "zeta"}},
		{"acme-prod", []string{"billing", "zeta"}},
		{"other", nil},
	} {
		list, err := e.apps.ListApps(e.ctx, tc.project)
		if err != nil {
			t.Fatalf("ListApps(%q) = %v", tc.project, err)
		}
		var names []string
		for _, a := range list {
			names = append(names, a.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(tc.want) {
			t.Errorf("ListApps(%q) = %v, want %v", tc.project, names, tc.want)
		}
	}

	if app, err = e.apps.DisableApp(e.ctx, "billing"); err != nil || !app.Disabled {
		t.Fatalf("DisableApp = %+v, %v", app, err)
	}
	if app, err = e.apps.DisableApp(e.ctx, "billing"); err != nil || !app.Disabled {
		t.Fatalf("DisableApp again = %+v, %v", app, err)
	}
	if got, _ := e.apps.GetApp(e.ctx, "billing"); !got.Disabled {
		t.Errorf("GetApp after DisableApp: Disabled = false")
	}
	if app, err = e.apps.EnableApp(e.ctx, "billing"); err != nil || app.Disabled {
		t.Fatalf("EnableApp = %+v, %v", app, err)
	}

	if err := e.apps.DeleteApp(e.ctx, "billing"); err != nil {
		t.Fatalf("DeleteApp = %v", err)
	}
	_, err = e.apps.GetApp(e.ctx, "billing")
	wantCode(t, "GetApp after DeleteApp", err, codes.NotFound)
	wantCode(t, "DeleteApp again", e.apps.DeleteApp(e.ctx, "billing"), codes.NotFound)
	_, err = e.apps.DisableApp(e.ctx, "billing")
	wantCode(t, "DisableApp after DeleteApp", err, codes.NotFound)

	// The name and the Google account are free again; the UID is new.
	again, err := e.apps.CreateApp(e.ctx, CreateAppRequest{Name: "billing", GoogleServiceAccount: "ekm@example.iam.gserviceaccount.com"})
	if err != nil {
		t.Fatalf("CreateApp after DeleteApp = %v", err)
	}
	if again.UID == app.UID {
		t.Errorf("a re-created app has the UID of the deleted one")
	}
}

func TestCreateAppRefusals(t *testing.T) {
	e := newEnv(t)
	e.apps.CreateApp(e.ctx, CreateAppRequest{Name: "taken", GoogleServiceAccount: "sa@p.iam.gserviceaccount.com"})
	for _, tc := range []struct {
		name string
		req  CreateAppRequest
		want codes.Code
	}{
		{"empty name", CreateAppRequest{}, codes.InvalidArgument},
		{"upper case", CreateAppRequest{Name: "Billing"}, codes.InvalidArgument},
		{"starts with a digit", CreateAppRequest{Name: "1app"}, codes.InvalidArgument},
		{"starts with a dash", CreateAppRequest{Name: "-app"}, codes.InvalidArgument},
		{"underscore", CreateAppRequest{Name: "my_app"}, codes.InvalidArgument},
		{"64 characters", CreateAppRequest{Name: "a" + strings.Repeat("b", 63)}, codes.InvalidArgument},
		{"bad project", CreateAppRequest{Name: "ok", Project: "Bad/Project"}, codes.InvalidArgument},
		{"project _", CreateAppRequest{Name: "ok", Project: "_"}, codes.InvalidArgument},
		{"bad email", CreateAppRequest{Name: "ok", GoogleServiceAccount: "not an email"}, codes.InvalidArgument},
		{"name taken", CreateAppRequest{Name: "taken"}, codes.AlreadyExists},
		{"Google account taken, other case", CreateAppRequest{Name: "other", GoogleServiceAccount: "SA@P.iam.gserviceaccount.com"}, codes.AlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.apps.CreateApp(e.ctx, tc.req)
			wantCode(t, "CreateApp", err, tc.want)
		})
	}
	if _, err := e.apps.CreateApp(e.ctx, CreateAppRequest{Name: "a" + strings.Repeat("-", 62)}); err != nil {
		t.Errorf("CreateApp(63 characters) = %v", err)
	}
	if _, err := e.apps.GetApp(e.ctx, "other"); kmserr.Code(err) != codes.NotFound {
		t.Errorf("a refused CreateApp left the app behind: %v", err)
	}
}

func TestAppByGoogleEmail(t *testing.T) {
	e := newEnv(t)
	if _, err := e.apps.CreateApp(e.ctx, CreateAppRequest{Name: "ekm", GoogleServiceAccount: "Service-1@gcp-sa-ekms.iam.gserviceaccount.com"}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"service-1@gcp-sa-ekms.iam.gserviceaccount.com", "SERVICE-1@GCP-SA-EKMS.IAM.GSERVICEACCOUNT.COM"} {
		app, err := e.apps.AppByGoogleEmail(context.Background(), email)
		if err != nil || app.Name != "ekm" {
			t.Errorf("AppByGoogleEmail(%q) = %+v, %v", email, app, err)
		}
	}
	for _, email := range []string{"other@gcp-sa-ekms.iam.gserviceaccount.com", "", "junk"} {
		_, err := e.apps.AppByGoogleEmail(context.Background(), email)
		wantCode(t, "AppByGoogleEmail("+email+")", err, codes.NotFound)
	}
	e.apps.DeleteApp(e.ctx, "ekm")
	_, err := e.apps.AppByGoogleEmail(context.Background(), "service-1@gcp-sa-ekms.iam.gserviceaccount.com")
	wantCode(t, "AppByGoogleEmail after DeleteApp", err, codes.NotFound)
}

// TestAppPermissions: a caller without the permission is refused before
// any lookup, and the refusal names the app, never its project, whether
// the app exists or not.
func TestAppPermissions(t *testing.T) {
	e := newEnv(t)
	e.createApp("secret-project-app", "hidden-project")
	key, _ := e.apiKey("secret-project-app")
	caller, err := e.authenticate(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := kms.WithCaller(context.Background(), caller)
	for _, name := range []string{"secret-project-app", "missing-app"} {
		calls := map[string]func() error{
			"GetApp":     func() error { _, err := e.apps.GetApp(ctx, name); return err },
			"DisableApp": func() error { _, err := e.apps.DisableApp(ctx, name); return err },
			"EnableApp":  func() error { _, err := e.apps.EnableApp(ctx, name); return err },
			"DeleteApp":  func() error { return e.apps.DeleteApp(ctx, name) },
			"CreateKey": func() error {
				_, err := e.apps.CreateKey(ctx, CreateKeyRequest{App: name, Format: FormatAPIKey})
				return err
			},
			"ListKeys":  func() error { _, err := e.apps.ListKeys(ctx, name); return err },
			"RevokeKey": func() error { _, err := e.apps.RevokeKey(ctx, name, strings.Repeat("a", 40)); return err },
		}
		for method, call := range calls {
			err := call()
			wantCode(t, method+"("+name+")", err, codes.PermissionDenied)
			if strings.Contains(err.Error(), "hidden-project") || !strings.Contains(err.Error(), "apps/"+name) {
				t.Errorf("%s(%s) = %v: want a denial naming the app only", method, name, err)
			}
		}
	}
	_, err = e.apps.CreateApp(ctx, CreateAppRequest{Name: "x", Project: "p"})
	wantCode(t, "CreateApp", err, codes.PermissionDenied)
	_, err = e.apps.ListApps(ctx, "")
	wantCode(t, "ListApps", err, codes.PermissionDenied)
	_, err = e.apps.GetApp(context.Background(), "secret-project-app")
	if err == nil {
		t.Errorf("GetApp without a caller succeeded")
	}
	if app, _ := e.apps.GetApp(e.ctx, "secret-project-app"); app.Disabled {
		t.Errorf("a refused DisableApp disabled the app")
	}
}

func TestAuditEvents(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "acme")
	apiKey, _ := e.apiKey("billing")
	_, _, file := e.saKey("billing")
	keys, _ := e.apps.ListKeys(e.ctx, "billing")
	e.apps.RevokeKey(e.ctx, "billing", keys[0].ID)
	e.apps.DisableApp(e.ctx, "billing")
	e.apps.DeleteApp(e.ctx, "billing")

	var methods []string
	for _, ev := range e.audit.all() {
		methods = append(methods, ev.Method)
		if ev.Err != nil || ev.DataAccess || !strings.HasPrefix(ev.Resource, "apps/billing") {
			t.Errorf("event %+v", ev)
		}
		s := fmt.Sprintf("%+v", ev)
		if strings.Contains(s, apiKey[len(APIKeyPrefix)+41:]) || strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, string(file[:20])) {
			t.Errorf("event %s holds a secret", s)
		}
	}
	want := "[CreateApp CreateKey CreateKey ListKeys RevokeKey DisableApp DeleteApp]"
	if fmt.Sprint(methods) != want {
		t.Errorf("events = %v, want %v", methods, want)
	}
	if ev := e.audit.all()[1]; ev.Details["keyId"] == "" || ev.Details["format"] != "api-key" {
		t.Errorf("CreateKey event details = %v", ev.Details)
	}

	// An auditor failure fails the call (fail closed).
	e.audit.fail = errors.New("disk full")
	if _, err := e.apps.CreateApp(e.ctx, CreateAppRequest{Name: "unrecorded"}); err == nil {
		t.Errorf("CreateApp with a failing auditor succeeded")
	}
}

// TestDeleteAppRevokesEverything: deleting an app refuses every credential
// it had, at once, including a cached JWT and an issued access token, and
// a new app of the same name inherits none of them.
func TestDeleteAppRevokesEverything(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	apiKey, _ := e.apiKey("billing")
	sa, priv, _ := e.saKey("billing")
	now := e.clk.now()
	jwt := goClientJWT(t, priv, jose.RS256, sa.PrivateKeyID, selfSignedClaims(sa, now))
	at, err := e.apps.IssueAccessToken(e.ctx, goClientJWT(t, priv, jose.RS256, sa.PrivateKeyID, map[string]any{
		"iss": sa.ClientEmail, "aud": sa.TokenURI, "scope": "https://www.googleapis.com/auth/cloudkms",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, cert := clientCert(t, "billing", false, time.Now().Add(time.Hour))
	if _, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: certPEM}); err != nil {
		t.Fatal(err)
	}
	creds := map[string]Request{
		"api key":      {Token: apiKey},
		"JWT":          {Token: jwt},
		"access token": {Token: string(at.Token)},
		"certificate":  {ClientCert: cert},
	}
	for name, req := range creds {
		if _, err := e.authn.Authenticate(context.Background(), req); err != nil {
			t.Fatalf("Authenticate(%s) before DeleteApp = %v", name, err)
		}
	}
	if err := e.apps.DeleteApp(e.ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if ev := e.audit.all(); ev[len(ev)-1].Details["keysDeleted"] != "3" {
		t.Errorf("DeleteApp event details = %v, want keysDeleted 3", ev[len(ev)-1].Details)
	}
	check := func(when string) {
		for name, req := range creds {
			_, err := e.authn.Authenticate(context.Background(), req)
			wantCode(t, "Authenticate("+name+") "+when, err, codes.Unauthenticated)
		}
	}
	check("after DeleteApp")
	e.createApp("billing", "")
	check("after re-creating the app")
	// The certificate may be registered to the new app.
	if _, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: certPEM}); err != nil {
		t.Errorf("CreateKey(certificate of the deleted app) = %v", err)
	}
}

// failingForget is an AppForgetter whose ForgetApp fails.
type failingForget struct{ forgot int }

func (f *failingForget) ForgetApp(context.Context, storage.Tx, string) ([]string, error) {
	return nil, kmserr.Unavailable(nil, "the policies cannot be read")
}

func (f *failingForget) Forgot() { f.forgot++ }

// TestDeleteAppFailedForgetRecordsNoDeletion: when taking the app out of
// the IAM policies fails, nothing is deleted, and the audit entry of the
// failed call does not claim that credentials were deleted.
func TestDeleteAppFailedForgetRecordsNoDeletion(t *testing.T) {
	e := newEnv(t)
	ff := &failingForget{}
	e.apps.forget = ff
	e.createApp("billing", "")
	e.apiKey("billing")
	if err := e.apps.DeleteApp(e.ctx, "billing"); kmserr.Code(err) != codes.Unavailable {
		t.Fatalf("DeleteApp with a failing ForgetApp = %v, want UNAVAILABLE", err)
	}
	if ff.forgot != 1 {
		t.Errorf("Forgot called %d times, want once", ff.forgot)
	}
	if _, err := e.apps.GetApp(e.ctx, "billing"); err != nil {
		t.Fatalf("GetApp after the failed deletion = %v, want the app kept", err)
	}
	var last kms.Event
	for _, ev := range e.audit.all() {
		if ev.Method == "DeleteApp" {
			last = ev
		}
	}
	if last.Err == nil {
		t.Fatalf("DeleteApp event = %+v, want the failed call", last)
	}
	for _, k := range []string{"keysDeleted", "iamRecordsChanged"} {
		if v, ok := last.Details[k]; ok {
			t.Errorf("failed DeleteApp's audit details hold %s=%s: nothing was deleted", k, v)
		}
	}
}
