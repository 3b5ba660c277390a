// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/integrity"
	"github.com/custos-kms/custos/internal/kmserr"
)

// Scanner runs the integrity scan of the server's store:
// (*integrity.Scanner).Scan.
type Scanner func(ctx context.Context) (integrity.Report, error)

// RegisterStore registers the store routes:
//
//	POST /admin/v1/store:verify   the integrity.Report
//
// Verify reads every record of the store and checks its MAC, what it
// holds and its sealed material, then the audit chain; the admin only.
// Damage is a report with "ok": false (status 200); a scan that cannot run
// to its end is an error (UNAVAILABLE, its cause in the server log). A nil
// scan answers UNIMPLEMENTED.
func RegisterStore(h *Handler, scan Scanner) {
	h.Handle("POST /admin/v1/store:verify", func(ctx context.Context, r *http.Request) (any, error) {
		if err := requireAdmin(ctx, "verify the store"); err != nil {
			return nil, err
		}
		if scan == nil {
			return nil, kmserr.Unimplemented("this server's store cannot be scanned")
		}
		rep, err := scan(ctx)
		switch {
		case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return nil, status.FromContextError(ctx.Err()).Err()
		case err != nil:
			return nil, kmserr.Unavailable(err, "the store could not be read to its end")
		}
		return rep, nil
	})
}
