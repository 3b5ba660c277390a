// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kmserr"
)

// RegisterApps registers the routes of apps and their credentials:
//
//	POST   /admin/v1/apps                              create {"name","project","googleServiceAccount"}
//	GET    /admin/v1/apps[?project=P]                  list -> {"apps":[...]}
//	GET    /admin/v1/apps/{name}                       get
//	DELETE /admin/v1/apps/{name}                       delete (and every credential)
//	POST   /admin/v1/apps/{name}/disable               also POST /admin/v1/apps/{name}:disable
//	POST   /admin/v1/apps/{name}/enable                also POST /admin/v1/apps/{name}:enable
//	POST   /admin/v1/apps/{name}/keys                  create {"format","certificate"}
//	GET    /admin/v1/apps/{name}/keys                  list -> {"keys":[...]}
//	POST   /admin/v1/apps/{name}/keys/{keyId}/revoke   also POST .../keys/{keyId}:revoke
//
// Both spellings of the custom methods are served: Google's "name:verb"
// (matched by hand, since a ServeMux wildcard must be a whole segment) and
// "name/verb". An app is {"name","project","googleServiceAccount",
// "disabled","createTime"}.
//
// Creating a key answers the credential, shown this once: for "api-key"
// {"app","keyId","apiKey"}; for "google-json" the service-account key file
// itself (save it as is); for "mtls" {"app","keyId","fingerprint"}. No other
// answer ever holds a secret.
func RegisterApps(h *Handler, a *auth.Apps) {
	r := appRoutes{a}
	h.Handle("POST /admin/v1/apps", r.create)
	h.Handle("GET /admin/v1/apps", r.list)
	h.Handle("GET /admin/v1/apps/{name}", r.get)
	h.Handle("DELETE /admin/v1/apps/{name}", r.delete)
	h.Handle("POST /admin/v1/apps/{name}", r.appVerb)
	h.Handle("POST /admin/v1/apps/{name}/disable", r.verb(a.DisableApp))
	h.Handle("POST /admin/v1/apps/{name}/enable", r.verb(a.EnableApp))
	h.Handle("POST /admin/v1/apps/{name}/keys", r.createKey)
	h.Handle("GET /admin/v1/apps/{name}/keys", r.listKeys)
	h.Handle("POST /admin/v1/apps/{name}/keys/{keyId}", r.keyVerb)
	h.Handle("POST /admin/v1/apps/{name}/keys/{keyId}/revoke", r.revokeKey)
}

type appRoutes struct{ a *auth.Apps }

// appJSON is an app as the admin API shows it.
type appJSON struct {
	Name                 string `json:"name"`
	Project              string `json:"project"`
	GoogleServiceAccount string `json:"googleServiceAccount"`
	Disabled             bool   `json:"disabled"`
	CreateTime           string `json:"createTime"`
}

func appOut(app *auth.App) appJSON {
	return appJSON{
		Name:                 app.Name,
		Project:              app.Project,
		GoogleServiceAccount: app.GoogleServiceAccount,
		Disabled:             app.Disabled,
		CreateTime:           timeOut(app.CreateTime),
	}
}

// keyJSON is a credential as ListKeys shows it: never a secret.
type keyJSON struct {
	KeyID       string `json:"keyId"`
	Type        string `json:"type"`
	CreateTime  string `json:"createTime"`
	Revoked     bool   `json:"revoked"`
	RevokeTime  string `json:"revokeTime,omitempty"`
	ClientEmail string `json:"clientEmail,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Subject     string `json:"subject,omitempty"`
	NotAfter    string `json:"notAfter,omitempty"`
}

func keyOut(k *auth.AppKey) keyJSON {
	return keyJSON{
		KeyID:       k.ID,
		Type:        string(k.Type),
		CreateTime:  timeOut(k.CreateTime),
		Revoked:     k.Revoked,
		RevokeTime:  timeOut(k.RevokeTime),
		ClientEmail: k.ClientEmail,
		Fingerprint: k.Fingerprint,
		Subject:     k.Subject,
		NotAfter:    timeOut(k.NotAfter),
	}
}

// timeOut formats a time as Google's JSON Timestamp ("" for zero).
func timeOut(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (r appRoutes) create(ctx context.Context, req *http.Request) (any, error) {
	var body struct {
		Name                 string `json:"name"`
		Project              string `json:"project"`
		GoogleServiceAccount string `json:"googleServiceAccount"`
	}
	if err := DecodeJSON(req, &body); err != nil {
		return nil, err
	}
	app, err := r.a.CreateApp(ctx, auth.CreateAppRequest{Name: body.Name, Project: body.Project, GoogleServiceAccount: body.GoogleServiceAccount})
	if err != nil {
		return nil, err
	}
	return appOut(app), nil
}

func (r appRoutes) list(ctx context.Context, req *http.Request) (any, error) {
	apps, err := r.a.ListApps(ctx, req.URL.Query().Get("project"))
	if err != nil {
		return nil, err
	}
	out := struct {
		Apps []appJSON `json:"apps"`
	}{Apps: []appJSON{}}
	for _, app := range apps {
		out.Apps = append(out.Apps, appOut(app))
	}
	return out, nil
}

func (r appRoutes) get(ctx context.Context, req *http.Request) (any, error) {
	app, err := r.a.GetApp(ctx, req.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return appOut(app), nil
}

func (r appRoutes) delete(ctx context.Context, req *http.Request) (any, error) {
	return nil, r.a.DeleteApp(ctx, req.PathValue("name"))
}

func (r appRoutes) verb(fn func(context.Context, string) (*auth.App, error)) Func {
	return func(ctx context.Context, req *http.Request) (any, error) {
		return r.appVerbCall(ctx, fn, req.PathValue("name"))
	}
}

func (r appRoutes) appVerbCall(ctx context.Context, fn func(context.Context, string) (*auth.App, error), name string) (any, error) {
	app, err := fn(ctx, name)
	if err != nil {
		return nil, err
	}
	return appOut(app), nil
}

// appVerb serves POST /admin/v1/apps/{name}:disable and :enable.
func (r appRoutes) appVerb(ctx context.Context, req *http.Request) (any, error) {
	name, verb, _ := strings.Cut(req.PathValue("name"), ":")
	switch verb {
	case "disable":
		return r.appVerbCall(ctx, r.a.DisableApp, name)
	case "enable":
		return r.appVerbCall(ctx, r.a.EnableApp, name)
	}
	return nil, kmserr.NotFound("no admin method matches %s %s", req.Method, req.URL.Path)
}

func (r appRoutes) createKey(ctx context.Context, req *http.Request) (any, error) {
	var body struct {
		Format      string `json:"format"`
		Certificate string `json:"certificate"`
	}
	if err := DecodeJSON(req, &body); err != nil {
		return nil, err
	}
	if body.Format == "" {
		return nil, kmserr.InvalidArgument("format", "is required: api-key, google-json or mtls")
	}
	name := req.PathValue("name")
	nk, err := r.a.CreateKey(ctx, auth.CreateKeyRequest{App: name, Format: auth.KeyFormat(body.Format), Certificate: []byte(body.Certificate)})
	if err != nil {
		return nil, err
	}
	switch nk.Key.Type {
	case auth.FormatAPIKey:
		return struct {
			App    string `json:"app"`
			KeyID  string `json:"keyId"`
			APIKey string `json:"apiKey"`
		}{nk.Key.App, nk.Key.ID, string(nk.Secret)}, nil
	case auth.FormatGoogleJSON:
		// The key file itself, so that it can be saved as is.
		return json.RawMessage(nk.Secret), nil
	default:
		return struct {
			App         string `json:"app"`
			KeyID       string `json:"keyId"`
			Fingerprint string `json:"fingerprint"`
		}{nk.Key.App, nk.Key.ID, nk.Key.Fingerprint}, nil
	}
}

func (r appRoutes) listKeys(ctx context.Context, req *http.Request) (any, error) {
	keys, err := r.a.ListKeys(ctx, req.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := struct {
		Keys []keyJSON `json:"keys"`
	}{Keys: []keyJSON{}}
	for _, k := range keys {
		out.Keys = append(out.Keys, keyOut(k))
	}
	return out, nil
}

func (r appRoutes) revoke(ctx context.Context, name, keyID string) (any, error) {
	k, err := r.a.RevokeKey(ctx, name, keyID)
	if err != nil {
		return nil, err
	}
	return keyOut(k), nil
}

func (r appRoutes) revokeKey(ctx context.Context, req *http.Request) (any, error) {
	return r.revoke(ctx, req.PathValue("name"), req.PathValue("keyId"))
}

// keyVerb serves POST /admin/v1/apps/{name}/keys/{keyId}:revoke.
func (r appRoutes) keyVerb(ctx context.Context, req *http.Request) (any, error) {
	id, verb, _ := strings.Cut(req.PathValue("keyId"), ":")
	if verb != "revoke" {
		return nil, kmserr.NotFound("no admin method matches %s %s", req.Method, req.URL.Path)
	}
	return r.revoke(ctx, req.PathValue("name"), id)
}
