// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"net/http"
)

// AdminTokenJSON is the answer of a change of the admin token: the new
// token, shown this once.
type AdminTokenJSON struct {
	Token string `json:"token"`
}

// RegisterAdminToken registers
//
//	POST /admin/v1/adminToken:rotate   {"token": NEW}
//
// rotate makes a new admin token and makes the server refuse the old one
// (the admin only; recorded as RotateAdminToken). The answer, like every
// admin answer, forbids caching.
func RegisterAdminToken(h *Handler, rotate func(ctx context.Context) (string, error)) {
	h.Handle("POST /admin/v1/adminToken:rotate", func(ctx context.Context, r *http.Request) (any, error) {
		if err := requireAdmin(ctx, "change the admin token"); err != nil {
			return nil, err
		}
		tok, err := rotate(ctx)
		if err != nil {
			return nil, err
		}
		return AdminTokenJSON{Token: tok}, nil
	})
}
