// SPDX-License-Identifier: Apache-2.0

package server

import (
	"errors"
	"net/http"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/ekm"
	"github.com/custos-kms/custos/internal/kms"
)

// mountEKM serves the Cloud EKM endpoint under /ekm/ on the REST listener
// (so a key URI's path works against --listen, with TLS when the listener
// has it) and registers the justification-policy admin routes.
func (s *Server) mountEKM(mux *http.ServeMux, adminAPI *admin.Handler, authz kms.Authorizer, signer ekm.Signer) error {
	if s.opts.EKMCacheDuration < 0 {
		return errors.New("--ekm-cache-duration must not be negative")
	}
	if s.apps == nil {
		return errors.New("server: internal error: the Cloud EKM endpoint needs the apps")
	}
	var err error
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
	s.ekm = h

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

// EKMMetrics returns the Cloud EKM endpoint's metrics (nil before Start).
func (s *Server) EKMMetrics() *ekm.Metrics {
	if s.ekm == nil {
		return nil
	}
	return s.ekm.Metrics()
}
