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
// them in the store a block at a time. The first block of a version loaded
// into memory is small, so that a key used now and then wastes little of
// its budget when it leaves the cache; each next block doubles, so that a
// busy key writes about once per million encryptions.
const (
	firstReservation int64 = 1 << 10
	maxReservation   int64 = 1 << 20
)

// kindUsage records hold the encryptions reserved by a version so far.
const kindUsage storage.Kind = "usage"

func usageName(version string) string { return "usage/" + version }

// usageRecord is a version's count as stored.
type usageRecord struct {
	// Reserved is how many encryptions the version's nodes have reserved:
	// at least how many it has made.
	Reserved int64 `json:"reserved"`
}

// errExhausted means a version has made as many encryptions as it may.
var errExhausted = errors.New("encryption budget used up")

// usage is a version's budget of encryptions in memory. There is one per
// version name (Service.budget), whatever the version cache does: a
// version read twice at once must not reserve twice.
type usage struct {
	left  atomic.Int64 // reserved and not used yet (may dip below 0)
	mu    sync.Mutex   // held while reserving
	next  int64        // size of the next reservation
	spent bool         // the version has reserved all it may
}

// budget returns the budget of a version. Budgets are kept for as many
// versions as the version cache keeps; one dropped loses what it had
// reserved (budget wasted, never counted twice).
func (s *Service) budget(version string) *usage {
	if u, ok := s.budgets.Get(version); ok {
		return u
	}
	u := new(usage)
	if prev, ok, _ := s.budgets.PeekOrAdd(version, u); ok {
		return prev
	}
	return u
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
	if u.next == 0 {
		u.next = firstReservation
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

// reserve adds up to want encryptions to a version's stored count, never
// past s.maxEnc, and returns how many it added.
func (s *Service) reserve(ctx context.Context, version string, want int64) (int64, error) {
	// A reservation that commits after its caller gave up is only budget
	// lost, never budget counted twice: no need to stop it halfway.
	ctx = context.WithoutCancel(ctx)
	var got int64
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		var u usageRecord
		rec, err := tx.Get(ctx, usageName(version))
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, storeErr(err, "CryptoKeyVersion", version)
		default:
			if err := s.decode(rec, kindUsage, &u); err != nil {
				return nil, err
			}
		}
		got = max(0, min(want, s.maxEnc-u.Reserved))
		if got == 0 {
			return nil, nil
		}
		u.Reserved += got
		nrec, err := s.encode(kindUsage, usageName(version), "", 0, &u)
		if err != nil {
			return nil, err
		}
		nrec.Rev = rec.Rev
		return nil, storeErr(tx.Put(ctx, nrec), "CryptoKeyVersion", version)
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
