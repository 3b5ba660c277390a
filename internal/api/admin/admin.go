// SPDX-License-Identifier: Apache-2.0

// Package admin serves Custos's own administration API over REST/JSON:
// apps and their credentials, IAM on projects, audit queries, quotas. It is
// a thin adapter like the others: each route decodes JSON, calls one core
// method, and writes JSON or Google's error envelope.
//
// Paths live under /admin/v1/. Each area registers its routes from its own
// file (apps.go, iam.go, audit.go, ...) with [Handler.Handle].
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/custos-kms/custos/internal/api/rest"
	"github.com/custos-kms/custos/internal/kmserr"
)

// MaxBody is the largest request body the admin API reads.
const MaxBody = 1 << 20

// Handler is the admin API's http.Handler.
type Handler struct {
	mux          *http.ServeMux
	authenticate func(r *http.Request) (context.Context, error)
}

// New returns an empty admin API. authenticate turns a request's credential
// into the call's context (with its kms.Caller), or fails UNAUTHENTICATED.
func New(authenticate func(r *http.Request) (context.Context, error)) *Handler {
	return &Handler{mux: http.NewServeMux(), authenticate: authenticate}
}

// Func handles one admin call: it returns the value to write as JSON
// (nil for an empty object), or an error carrying a gRPC code.
type Func func(ctx context.Context, r *http.Request) (any, error)

// Handle registers fn for a Go 1.22 ServeMux pattern such as
// "POST /admin/v1/apps" or "GET /admin/v1/apps/{name}". Every call is
// authenticated first.
func (h *Handler) Handle(pattern string, fn Func) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ctx, err := h.authenticate(r)
		if err != nil {
			rest.WriteError(w, err)
			return
		}
		out, err := fn(ctx, r)
		if err != nil {
			rest.WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

// HandleRaw registers a handler that does its own authentication and
// writing (for endpoints with another protocol, such as OAuth2's token
// endpoint).
func (h *Handler) HandleRaw(pattern string, fn http.HandlerFunc) {
	h.mux.HandleFunc(pattern, fn)
}

// ServeHTTP implements http.Handler. Unknown admin paths get the error
// envelope too.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		rest.WriteError(w, kmserr.NotFound("no admin method matches %s %s", r.Method, r.URL.Path))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// WriteJSON writes v as JSON with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	if v == nil {
		v = struct{}{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Some answers hold a secret shown once (a new API key, a key file):
	// no cache keeps any of them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// DecodeJSON reads a JSON request body into v, refusing unknown fields,
// field names in another case, duplicate keys, trailing data and bodies
// over MaxBody, with INVALID_ARGUMENT errors that say what is wrong.
func DecodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return kmserr.InvalidArgument("", "cannot read the request body")
	}
	if len(body) > MaxBody {
		return kmserr.InvalidArgument("", "request body exceeds %d bytes", MaxBody)
	}
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return kmserr.InvalidArgument(te.Field, "wrong JSON type %s", te.Value)
		case errors.As(err, &se):
			return kmserr.InvalidArgument("", "malformed JSON at offset %d", se.Offset)
		default:
			return kmserr.InvalidArgument("", "invalid request body: %v", err)
		}
	}
	if err := checkTrailing(dec, body); err != nil {
		return err
	}
	return checkKeys(body, v)
}
