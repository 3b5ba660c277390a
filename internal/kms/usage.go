// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// DefaultMaxEncryptions is how many times one key version encrypts with
// AES-GCM under fresh random 96-bit nonces (Encrypt, Cloud EKM wrap,
// RawEncrypt): NIST SP 800-38D (8.3) allows 2^32 such invocations per
// key; this is 90% of that, as Vault's barrier uses, so that what restarts
// leave reserved but unused never takes a version past the limit.
const DefaultMaxEncryptions int64 = 3_865_470_566

// Reservations: a version counts its encryptions in memory and reserves
// them in the store a block at a time, each next block twice the last, so
// that a busy key writes about once per million encryptions.
//
// The first block a server process uses of each version needs no write:
// every process takes, once, one allowance of firstReservation
// encryptions per version (the record usage/epochs counts the processes
// that did), and every reservation leaves room in each version's budget
// for all the allowances taken so far. So a key used once after a restart
// costs no durable write, and what a process leaves unused is lost, never
// counted twice.
const (
	firstReservation int64 = 1 << 10
	maxReservation   int64 = 1 << 20
)

// kindUsage records hold the encryptions reserved by a version so far,
// and (usage/epochs) the allowances taken.
const kindUsage storage.Kind = "usage"

const epochsName = "usage/epochs"

func usageName(version string) string { return "usage/" + version }

// usageRecord is a version's count as stored (or, for usage/epochs, how
// many allowances processes have taken).
type usageRecord struct {
	// Reserved is how many encryptions the version's nodes have reserved:
	// with the allowances, at least how many it has made.
	Reserved int64 `json:"reserved"`
}

// errExhausted means a version has made as many encryptions as it may.
var errExhausted = errors.New("encryption budget used up")

// usage is a version's budget of encryptions in memory. There is one per
// version name (Service.budget), whatever the version cache does: a
// version read twice at once must not reserve twice.
type usage struct {
	left atomic.Int64 // reserved and not used yet (may dip below 0)
	mu   sync.Mutex   // held while reserving
	next int64        // size of the next reservation
	// allowance says whether this budget may take the process's
	// allowance for the version: only the first budget of a version in a
	// process (one made after another was dropped may not).
	allowance bool
	spent     bool // the version has reserved all it may
}

// budget returns the budget of a version. Budgets are kept for as many
// versions as the version cache keeps; one dropped loses what it had
// reserved (budget wasted, never counted twice).
func (s *Service) budget(version string) *usage {
	if u, ok := s.budgets.Get(version); ok {
		return u
	}
	u := &usage{allowance: !s.budgetDropped.Load()}
	if prev, ok, _ := s.budgets.PeekOrAdd(version, u); ok {
		return prev
	}
	return u
}

// epoch returns how many allowances processes have taken, this one's
// included, taking this one's on first use (one write per process).
func (s *Service) epoch(ctx context.Context) (int64, error) {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	if s.epochs > 0 {
		return s.epochs, nil
	}
	var e int64
	err := s.update(context.WithoutCancel(ctx), func(tx storage.Tx) ([]string, error) {
		u, rev, err := s.readUsage(ctx, tx, epochsName)
		if err != nil {
			return nil, err
		}
		e = u.Reserved + 1
		return nil, s.writeUsage(ctx, tx, epochsName, e, rev)
	})
	if err != nil {
		return 0, err
	}
	s.epochs = e
	return e, nil
}

// spend takes one encryption from lv's budget, reserving more in the store
// when it runs out; it fails with errExhausted once the version has
// reserved s.maxEnc in all.
func (s *Service) spend(ctx context.Context, lv *liveVersion) error {
	u := lv.budget.Load()
	if u == nil {
		u = s.budget(lv.v.Name)
		lv.budget.Store(u)
	}
	if u.left.Add(-1) >= 0 {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.left.Add(-1) >= 0 {
		return nil // another caller reserved meanwhile
	}
	if u.spent {
		return errExhausted
	}
	epochs, err := s.epoch(ctx)
	if err != nil {
		return err
	}
	if u.next == 0 {
		u.next = firstReservation
	}
	if u.allowance {
		// This process's allowance: room for it was left by every
		// reservation made since it was taken, and for the earlier
		// processes' allowances by this check.
		u.allowance = false
		stored, _, err := s.readUsage(ctx, s.store, usageName(lv.v.Name))
		if err != nil {
			return err
		}
		if free := min(firstReservation, s.maxEnc-stored.Reserved-(epochs-1)*firstReservation); free > 0 {
			u.left.Store(free - 1) // one for this call
			return nil
		}
	}
	got, err := s.reserve(ctx, lv.v.Name, u.next)
	if err != nil {
		return err
	}
	u.next = min(u.next*2, maxReservation)
	if got == 0 {
		u.spent = true
		return errExhausted
	}
	u.left.Store(got - 1) // one for this call
	return nil
}

// readUsage reads a usage record through r; a missing one is zero, rev 0.
func (s *Service) readUsage(ctx context.Context, r storage.Reader, name string) (usageRecord, int64, error) {
	var u usageRecord
	rec, err := r.Get(ctx, name)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return u, 0, nil
	case err != nil:
		return u, 0, storeErr(err, "CryptoKeyVersion", name)
	}
	if err := s.decode(rec, kindUsage, &u); err != nil {
		return u, 0, err
	}
	return u, rec.Rev, nil
}

// writeUsage writes a usage record over revision rev (0: a new one).
func (s *Service) writeUsage(ctx context.Context, tx storage.Tx, name string, n, rev int64) error {
	rec, err := s.encode(kindUsage, name, "", 0, &usageRecord{Reserved: n})
	if err != nil {
		return err
	}
	rec.Rev = rev
	return storeErr(tx.Put(ctx, rec), "CryptoKeyVersion", name)
}

// reserve adds up to want encryptions to a version's stored count, leaving
// room for every allowance taken (usage/epochs, read in the same
// transaction), never past s.maxEnc, and returns how many it added.
func (s *Service) reserve(ctx context.Context, version string, want int64) (int64, error) {
	// A reservation that commits after its caller gave up is only budget
	// lost, never budget counted twice: no need to stop it halfway.
	ctx = context.WithoutCancel(ctx)
	var got int64
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		epochs, _, err := s.readUsage(ctx, tx, epochsName)
		if err != nil {
			return nil, err
		}
		u, rev, err := s.readUsage(ctx, tx, usageName(version))
		if err != nil {
			return nil, err
		}
		got = max(0, min(want, s.maxEnc-u.Reserved-epochs.Reserved*firstReservation))
		if got == 0 {
			return nil, nil
		}
		return nil, s.writeUsage(ctx, tx, usageName(version), u.Reserved+got, rev)
	})
	return got, err
}

// spendOrRotate takes one encryption from the budget of lv, a version of
// k. When lv's budget is used up and the caller named the key (not the
// version), the key is rotated, as its rotation schedule would, and the new
// primary version is returned in lv's place; a version named by the caller
// that is used up is FAILED_PRECONDITION.
func (s *Service) spendOrRotate(ctx context.Context, kn resource.Name, lv *liveVersion, named bool) (*liveVersion, error) {
	err := s.spend(ctx, lv)
	if !errors.Is(err, errExhausted) {
		return lv, err
	}
	if named {
		return nil, s.exhaustedErr(lv.v.Name)
	}
	// An import-only key cannot be rotated (import_only never changes):
	// refuse without trying, which would record and log a failed rotation
	// on every call of a caller that may only encrypt.
	if k, err := s.loadKey(ctx, kn); err != nil {
		return nil, err
	} else if k.ImportOnly {
		return nil, s.exhaustedErr(lv.v.Name)
	}
	vn, _ := resource.Parse(lv.v.Name)
	if err := s.rotateExhausted(ctx, kn, vn.Version); err != nil {
		return nil, err
	}
	// From the store, not the cache: a rotation by another caller may
	// have committed without having dropped the cached key yet.
	k, _, err := s.readKey(ctx, s.store, kn.String())
	if err != nil {
		return nil, err
	}
	if k.Primary == 0 || k.Primary == vn.Version {
		return nil, s.exhaustedErr(lv.v.Name)
	}
	next, err := s.loadVersion(ctx, kn.VersionName(k.Primary))
	if err != nil {
		return nil, err
	}
	if next.v.State != Enabled || next.prim == nil || next.prim.aead == nil {
		return nil, kmserr.FailedPrecondition("CryptoKeyVersion %s is %s, not ENABLED", next.v.Name, next.v.State)
	}
	if err := s.spend(ctx, next); err != nil {
		if errors.Is(err, errExhausted) {
			return nil, s.exhaustedErr(next.v.Name)
		}
		return nil, err
	}
	return next, nil
}

func (s *Service) exhaustedErr(version string) error {
	return kmserr.FailedPrecondition("CryptoKeyVersion %s has made %s encryptions, the most AES-GCM with random nonces allows one key: encrypt with a newer version (rotate the key)",
		version, strconv.FormatInt(s.maxEnc, 10))
}

// rotateExhausted makes a new primary version of kn if its primary is
// still version number used, which has made all the encryptions it may:
// the server's own act, recorded as RotateCryptoKey by custos:scheduler.
// Another caller (or node) that rotated first is no error.
func (s *Service) rotateExhausted(ctx context.Context, kn resource.Name, used int64) error {
	ctx = WithCaller(context.WithoutCancel(ctx), schedulerCaller)
	v, err := s.addVersion(ctx, kn, "", true, func(c *CryptoKey) error {
		if c.Primary != used {
			return errNotDue
		}
		return nil
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	s.record(ctx, "RotateCryptoKey", kn.String(), false, err)
	if err != nil {
		s.log.Error("the primary version has made all the encryptions it may, and the key could not be rotated", "key", kn.String(), "err", err)
		return err
	}
	s.log.Warn("key rotated: its primary version made all the encryptions AES-GCM with random nonces allows one key", "key", kn.String(), "version", v.Name)
	return nil
}
