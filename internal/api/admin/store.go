// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"log/slog"
	"net/http"

	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/integrity"
	"github.com/custos-kms/custos/internal/kmserr"
)

// Scanner runs the integrity scan of the server's store.
type Scanner func(ctx context.Context) (integrity.Report, error)

// RegisterStore registers the store routes:
//
//	POST /admin/v1/store:verify   the integrity.Report
//
// Verify reads every record of the store and checks its MAC, what it
// holds and its sealed material, then the audit chain; the admin only.
// One scan runs at a time: a second waits for the first. Damage is a
// report with "ok": false (status 200); a scan that cannot run to its end
// is an error. Each scan's outcome goes to the server log.
func RegisterStore(h *Handler, scan Scanner, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	s := &storeRoutes{scan: scan, log: log, one: make(chan struct{}, 1)}
	h.Handle("POST /admin/v1/store:verify", s.verify)
}

type storeRoutes struct {
	scan Scanner
	log  *slog.Logger
	one  chan struct{} // held by the running scan
}

func (s *storeRoutes) verify(ctx context.Context, r *http.Request) (any, error) {
	if err := requireAdmin(ctx, "verify the store"); err != nil {
		return nil, err
	}
	if s.scan == nil {
		return nil, kmserr.Unimplemented("this server's store cannot be scanned")
	}
	select {
	case s.one <- struct{}{}:
		defer func() { <-s.one }()
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	rep, err := s.scan(ctx)
	if err != nil {
		s.log.Error("integrity scan could not finish", "err", err)
		return nil, kmserr.Unavailable(err, "the store could not be read to its end")
	}
	if rep.OK {
		s.log.Info("integrity scan: no problem", "records", rep.Records, "sealed", rep.Sealed, "auditEntries", rep.AuditEntries)
	} else {
		first := rep.Problems[0]
		s.log.Error("integrity scan found damaged records", "problems", rep.ProblemCount, "records", rep.Records,
			"first", first.Name, "problem", first.Problem)
	}
	return rep, nil
}
