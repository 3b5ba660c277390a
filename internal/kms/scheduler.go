// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"errors"
	"time"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// SchedulerPrincipal is the principal of the server's own actions in the
// audit log: rotations and destructions when their time comes.
const SchedulerPrincipal = "custos:scheduler"

var schedulerCaller = &Caller{Principal: SchedulerPrincipal, AuthMethod: "internal", Admin: true}

// RunScheduler rotates keys and destroys versions when their time comes,
// until ctx ends. It runs a pass at once, so that what was missed while the
// server was down happens on start, then every interval.
func (s *Service) RunScheduler(ctx context.Context, interval time.Duration) {
	ctx = WithCaller(ctx, schedulerCaller)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.SchedulerPass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SchedulerPass does everything that is due now, and logs what fails (it
// is retried on the next pass). One key or version that fails, or that
// stays due, holds up nothing else.
func (s *Service) SchedulerPass(ctx context.Context) {
	if CallerFrom(ctx) == nil {
		ctx = WithCaller(ctx, schedulerCaller)
	}
	now := s.now().UnixNano()
	s.expireImportJobs(ctx, now)
	s.eachDue(ctx, kindCryptoKey, now, "rotation", func(r storage.Record) {
		if err := s.rotate(ctx, r.Name); err != nil {
			s.log.Error("scheduler: rotation failed", "key", r.Name, "err", err)
		}
	})
	destroyed := 0
	s.eachDue(ctx, kindVersion, now, "destruction", func(r storage.Record) {
		n, err := resource.ParseKind(r.Name, resource.KindCryptoKeyVersion)
		if err == nil {
			_, err = s.transition(ctx, n, TransDestroyNow)
		}
		if errors.Is(err, errNotDue) {
			return // restored and scheduled again meanwhile
		}
		s.record(ctx, "DestroyCryptoKeyVersion", r.Name, false, err)
		if err != nil {
			s.log.Error("scheduler: destruction failed", "version", r.Name, "err", err)
			return
		}
		s.log.Info("key version destroyed", "version", r.Name)
		destroyed++
	})
	// The erased material may still be in the store's files as an old
	// copy of its record (SQLite's WAL): have the store erase it too, in
	// this pass or, if the store was busy, in a later one.
	// A retry waits scrubRetry: a scrub that finds readers in the way
	// holds up writes while it waits for them.
	retry := s.scrubAfter.Load()
	if sc, ok := s.store.(storage.Scrubber); ok && (destroyed > 0 || retry != 0 && now >= retry) {
		if err := sc.Scrub(ctx); err != nil {
			s.scrubAfter.Store(now + int64(scrubRetry))
			s.log.Warn("scheduler: erase the old copies of destroyed material: will try again", "in", scrubRetry, "err", err)
		} else {
			s.scrubAfter.Store(0)
		}
	}
}

// scrubRetry is how long the scheduler waits before it asks the store to
// scrub again after a scrub failed.
const scrubRetry = 10 * time.Second

// eachDue calls fn once for each record of kind due by now, a page at a
// time, until ctx ends. A record that is still due after fn (it failed, or
// was found not due after all) is not taken again in this pass: each page
// asks for as many records as were taken, plus a page of new ones.
func (s *Service) eachDue(ctx context.Context, kind storage.Kind, now int64, what string, fn func(storage.Record)) {
	const page = 100
	seen := map[string]bool{}
	for ctx.Err() == nil {
		limit := len(seen) + page
		recs, err := s.store.ListDue(ctx, kind, now, limit)
		if err != nil {
			s.log.Error("scheduler: list what is due for "+what, "err", err)
			return
		}
		for _, r := range recs {
			if !seen[r.Name] {
				seen[r.Name] = true
				fn(r)
			}
		}
		if len(recs) < limit {
			return // every record due was in this page
		}
	}
}

var errNotDue = errors.New("not due")

// rotate creates a new primary version of a key whose next_rotation_time has
// passed, and moves next_rotation_time on by the rotation period (or clears
// it for a one-time rotation). A rotation missed for several periods while
// the server was down makes one new version, not one per period.
func (s *Service) rotate(ctx context.Context, name string) error {
	n, err := resource.ParseKind(name, resource.KindCryptoKey)
	if err != nil {
		return kmserr.DataLoss(err, "bad key name %q in storage", name)
	}
	v, err := s.addVersion(ctx, n, "", true, func(c *CryptoKey) error {
		now := s.now().UTC()
		if c.NextRotationTime.IsZero() || c.NextRotationTime.After(now) {
			return errNotDue // rotated meanwhile, by another node or a call
		}
		if c.RotationPeriod > 0 {
			for !c.NextRotationTime.After(now) {
				c.NextRotationTime = c.NextRotationTime.Add(c.RotationPeriod)
			}
		} else {
			c.NextRotationTime = time.Time{}
		}
		return nil
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	s.record(ctx, "RotateCryptoKey", name, false, err)
	if err == nil {
		s.log.Info("key rotated", "key", name, "version", v.Name)
	}
	return err
}
