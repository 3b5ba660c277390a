// SPDX-License-Identifier: Apache-2.0

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/ekm"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/seal/devfile"
)

// ekmParts is what mountEKM builds. Server has no field for it (server.go
// is wired elsewhere), so it is kept in ekmByServer, one entry per Server
// started (never removed: a few pointers per Start).
type ekmParts struct {
	handler  *ekm.Handler
	policies *ekm.Policies
	verifier *ekm.Verifier
}

var ekmByServer sync.Map // *Server -> *ekmParts

// mountEKM serves the Cloud EKM endpoint under /ekm/ on the REST listener
// (so a key URI's path works against --listen, with TLS when the listener
// has it) and registers the justification-policy admin routes.
func (s *Server) mountEKM(mux *http.ServeMux, adminAPI *admin.Handler, authz kms.Authorizer) error {
	if s.opts.EKMCacheDuration < 0 {
		return errors.New("--ekm-cache-duration must not be negative")
	}
	if s.apps == nil {
		return errors.New("server: internal error: the Cloud EKM endpoint needs the apps")
	}
	signer, err := s.ekmSigner(context.Background())
	if err != nil {
		return err
	}
	audiences := s.opts.EKMAudiences
	if len(audiences) == 0 {
		if audiences, err = ekm.DefaultAudiences(s.publicURL); err != nil {
			return err
		}
	}
	verifier, err := ekm.NewVerifier(ekm.VerifierConfig{JWKSURL: s.opts.EKMJWKSURL, Audiences: audiences, Logger: s.log})
	if err != nil {
		return err
	}
	policies, err := ekm.NewPolicies(ekm.PoliciesConfig{
		Store: s.store, Signer: signer, Apps: s.apps, Authorizer: authz, Auditor: s.audit,
	})
	if err != nil {
		return err
	}
	h, err := ekm.New(ekm.Config{
		Keys: s.svc, Apps: s.apps, Authorizer: authz, Auditor: s.audit,
		Policies: policies, Verifier: verifier, Logger: s.log,
		PublicURL: s.publicURL, CacheDuration: s.opts.EKMCacheDuration,
	})
	if err != nil {
		return err
	}
	mux.Handle(ekm.PathPrefix, h)
	admin.RegisterJustificationPolicies(adminAPI, policies)
	ekmByServer.Store(s, &ekmParts{handler: h, policies: policies, verifier: verifier})

	jwks := s.opts.EKMJWKSURL
	if jwks == "" {
		jwks = ekm.GoogleJWKSURL
	}
	s.log.Info("Cloud EKM endpoint", "key_uri_prefix", s.publicURL+"/ekm/v0/keys/", "audiences", audiences, "jwks", jwks)
	if d := s.opts.EKMCacheDuration; d > 0 {
		s.log.Warn("Cloud EKM: unwrap answers allow Google to cache keys; a revocation in Custos takes up to this long to apply on Google's side",
			"ekm_cache_duration", d.String())
	}
	return nil
}

// EKMMetrics returns the Cloud EKM endpoint's metrics (nil before Start),
// whose WriteText can be served at /metrics.
func (s *Server) EKMMetrics() *ekm.Metrics {
	if p, ok := ekmByServer.Load(s); ok {
		return p.(*ekmParts).handler.Metrics()
	}
	return nil
}

// ekmSigner returns a keystore over the server's store and root key, to
// sign the justification-policy records.
//
// TODO(lead): Start holds the keystore in a local variable; pass it to
// mountEKM (s.mountEKM(mux, adminAPI, authz, ks)) and drop this. Until
// then the root key is read a second time from the same file, which gives
// the same record MAC key (it is derived from the root key), so records
// signed here verify everywhere. It works with devfile seals only.
func (s *Server) ekmSigner(ctx context.Context) (ekm.Signer, error) {
	path := s.opts.RootKeyFile
	if s.opts.Dev {
		path = filepath.Join(s.opts.DataDir, rootKeyFile)
	}
	sl, err := devfile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("ekm: %w", err)
	}
	root, err := sl.RootKey(ctx)
	if err != nil {
		return nil, err
	}
	ks, err := keystore.Open(ctx, s.store, root)
	if err != nil {
		return nil, fmt.Errorf("ekm: %w", err)
	}
	return ks, nil
}
