// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/salesforce"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// SalesforcePath is where the handler that [RegisterSalesforce] returns
// must be mounted.
const SalesforcePath = salesforce.PathPrefix

// SalesforceConfig is what the Salesforce cache-only keys are built from.
type SalesforceConfig struct {
	Store         storage.Store
	Signer        signed.Signer
	KMS           salesforce.KMS
	Authenticator salesforce.Authenticator
	Auditor       kms.Auditor
	// PublicURL is the server's public base URL, the base of the Named
	// Credential's URL.
	PublicURL string
	Logger    *slog.Logger
}

// RegisterSalesforce registers the routes that manage Salesforce Shield
// cache-only keys (package salesforce):
//
//	POST   /admin/v1/salesforce/keys         {"name", "certificate", "key"} -> key
//	GET    /admin/v1/salesforce/keys         -> {"keys": [key...]}
//	GET    /admin/v1/salesforce/keys/{kid}   -> key (by kid or by name)
//	DELETE /admin/v1/salesforce/keys/{kid}   -> {} (by kid or by name)
//
// A key is {"kid", "name", "cryptoKeyVersion", "certificate",
// "certificateSha256", "certificateSubject", "certificateNotAfter",
// "rsaBits", "createTime", "endpoint"}; endpoint is the URL to enter in
// Salesforce's Named Credential. certificate in the request is the PEM of
// Salesforce's BYOK certificate; key, optional, an exportable
// RAW_ENCRYPT_DECRYPT AES_256_GCM key or version (without it, one named
// after the cache-only key is created in
// projects/salesforce/locations/global/keyRings/salesforce).
//
// These routes are for the built-in admin only: a cache-only key hands a
// key's material to whoever holds the Salesforce certificate's private
// key, which is an admin's decision, not one a per-project role grants.
//
// It returns the handler of Salesforce's callouts (GET
// /salesforce/v1/keys/{kid}), which authenticates on its own (HTTP Basic
// with an app's API key) and must be mounted at [SalesforcePath]. It
// panics if cfg lacks a dependency, a wiring bug.
func RegisterSalesforce(h *Handler, cfg SalesforceConfig) http.Handler {
	keys, err := salesforce.NewKeys(salesforce.KeysConfig{
		Store: cfg.Store, Signer: cfg.Signer, KMS: cfg.KMS, Auditor: cfg.Auditor, PublicURL: cfg.PublicURL,
	})
	if err != nil {
		panic("admin: internal error: " + err.Error())
	}
	fetch, err := salesforce.NewHandler(salesforce.HandlerConfig{
		Keys: keys, KMS: cfg.KMS, Authenticator: cfg.Authenticator, Auditor: cfg.Auditor, Logger: cfg.Logger,
	})
	if err != nil {
		panic("admin: internal error: " + err.Error())
	}
	r := salesforceRoutes{keys}
	h.Handle("POST /admin/v1/salesforce/keys", r.create)
	h.Handle("GET /admin/v1/salesforce/keys", r.list)
	h.Handle("GET /admin/v1/salesforce/keys/{kid}", r.get)
	h.Handle("DELETE /admin/v1/salesforce/keys/{kid}", r.delete)
	return fetch
}

type salesforceRoutes struct{ keys *salesforce.Keys }

type salesforceCreateRequest struct {
	Name        string `json:"name"`
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
}

func (r salesforceRoutes) create(ctx context.Context, req *http.Request) (any, error) {
	var in salesforceCreateRequest
	if err := DecodeJSON(req, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, kmserr.InvalidArgument("name", "is required")
	}
	if in.Certificate == "" {
		return nil, kmserr.InvalidArgument("certificate", "is required: the PEM of the BYOK certificate downloaded from Salesforce")
	}
	return r.keys.Create(ctx, salesforce.CreateRequest{Name: in.Name, Certificate: []byte(in.Certificate), Key: in.Key})
}

func (r salesforceRoutes) list(ctx context.Context, _ *http.Request) (any, error) {
	keys, err := r.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"keys": keys}, nil
}

func (r salesforceRoutes) get(ctx context.Context, req *http.Request) (any, error) {
	return r.keys.Get(ctx, req.PathValue("kid"))
}

func (r salesforceRoutes) delete(ctx context.Context, req *http.Request) (any, error) {
	if _, err := r.keys.Delete(ctx, req.PathValue("kid")); err != nil {
		return nil, err
	}
	return nil, nil
}
