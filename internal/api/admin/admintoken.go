// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"net/http"

	"github.com/custos-kms/custos/internal/api/grpcapi"
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
// (the admin only; recorded as RotateAdminToken). It is given the token
// the call presented, so that it can refuse a call whose token another
// change replaced after the call was authenticated. The answer, like every
// admin answer, forbids caching.
func RegisterAdminToken(h *Handler, rotate func(ctx context.Context, presented string) (string, error)) {
	h.Handle("POST /admin/v1/adminToken:rotate", func(ctx context.Context, r *http.Request) (any, error) {
		if err := requireAdmin(ctx, "change the admin token"); err != nil {
			return nil, err
		}
		tok, err := rotate(ctx, grpcapi.BearerToken(r.Header.Get("Authorization")))
		if err != nil {
			return nil, err
		}
		return AdminTokenJSON{Token: tok}, nil
	})
}

// BarrierJSON is the answer of a rotation or reseal of the barrier key:
// the barrier key that now seals everything, and how many sealed values
// were moved to it.
type BarrierJSON struct {
	Barrier  uint32 `json:"barrier"`
	Resealed int64  `json:"resealed"`
}

// RegisterBarrier registers
//
//	POST /admin/v1/barrier:rotate   {"barrier","resealed"}
//	POST /admin/v1/barrier:reseal   {"barrier","resealed"}
//
// Rotate adds a barrier key and seals again under it every key material,
// import job private key and dev admin token that older ones sealed;
// reseal does the second half alone (after a rotation cut short). The
// admin only; recorded as RotateBarrierKey and ResealBarrierKey.
func RegisterBarrier(h *Handler, rotate, reseal func(ctx context.Context) (BarrierJSON, error)) {
	for path, fn := range map[string]func(ctx context.Context) (BarrierJSON, error){
		"POST /admin/v1/barrier:rotate": rotate,
		"POST /admin/v1/barrier:reseal": reseal,
	} {
		h.Handle(path, func(ctx context.Context, r *http.Request) (any, error) {
			if err := requireAdmin(ctx, "change the barrier key"); err != nil {
				return nil, err
			}
			return fn(ctx)
		})
	}
}
