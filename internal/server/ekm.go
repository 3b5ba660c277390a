// SPDX-License-Identifier: Apache-2.0

package server

import (
	"net/http"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/kms"
)

// mountEKM serves the Cloud EKM endpoint under /ekm/ and its admin routes.
// Placeholder until the EKM adapter lands.
func (s *Server) mountEKM(mux *http.ServeMux, adminAPI *admin.Handler, authz kms.Authorizer) error {
	return nil
}
