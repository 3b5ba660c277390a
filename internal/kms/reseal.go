// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"fmt"

	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// resealBatch is how many records one transaction of Reseal rewrites.
const resealBatch = 100

// ResealReport is the outcome of a Reseal pass.
type ResealReport struct {
	// Barrier is the barrier key everything was sealed again under.
	Barrier uint32 `json:"barrier"`
	// Resealed counts the sealed values moved to it.
	Resealed int64 `json:"resealed"`
}

// Reseal seals again, under the keystore's current barrier key, every key
// version's material and every import job's private key that an older
// barrier key sealed, so that after a rotation of the barrier key
// (keystore.Rotate) the older ones protect nothing the store still holds.
// It reads the store a page at a time and rewrites a batch of records per
// transaction, each read again inside it: a record changed meanwhile (a
// version destroyed, say) is taken as it is then. The material itself is
// unchanged: nothing its keys made needs redoing. Callers must hold the
// admin role; Reseal does not check it.
//
// A value sealed under an older key and written while the pass runs is not
// left behind: a version or import job record written after the rotation
// is sealed again as it is written (sealGuard), and one whose transaction
// ran before is committed before the walk starts (the empty transaction
// below waits for every transaction the store took before it).
func (s *Service) Reseal(ctx context.Context) (ResealReport, error) {
	w, ok := s.walker()
	if !ok {
		return ResealReport{}, kmserr.Unimplemented("this store cannot be read whole")
	}
	rep := ResealReport{Barrier: s.ks.Barrier()}
	if err := s.store.Update(ctx, func(storage.Tx) error { return nil }); err != nil {
		return rep, storeErr(err, "resource", "")
	}
	after := ""
	for {
		page, err := w.Walk(ctx, after, 500)
		if err != nil {
			return rep, storeErr(err, "resource", "")
		}
		var due []storage.Record
		for _, r := range page {
			if (r.Kind == kindVersion || r.Kind == kindImportJob) && s.sealedBefore(r, rep.Barrier) {
				due = append(due, r)
			}
		}
		for len(due) > 0 {
			n := min(len(due), resealBatch)
			done, err := s.resealRecords(ctx, due[:n], rep.Barrier)
			rep.Resealed += done
			if err != nil {
				return rep, err
			}
			due = due[n:]
		}
		if len(page) < 500 {
			return rep, nil
		}
		after = page[len(page)-1].Name
	}
}

// sealedBefore reports whether the version or import job r holds a sealed
// value under a barrier key older than current (one newer, which another
// node added, is left as it is). A record that fails its checks is left
// alone here: reading it fails the same way where it is used, and the
// integrity scan names it.
func (s *Service) sealedBefore(r storage.Record, current uint32) bool {
	if r.Kind != kindVersion && r.Kind != kindImportJob {
		return false
	}
	sealed, err := s.sealedIn(r)
	if err != nil || len(sealed) == 0 {
		return false
	}
	id, ok := keystore.SealedWith(sealed)
	return ok && id < current
}

// sealedIn returns the sealed value a version or import job record holds.
func (s *Service) sealedIn(r storage.Record) ([]byte, error) {
	if r.Kind == kindVersion {
		v := new(Version)
		if err := s.decode(r, kindVersion, v); err != nil {
			return nil, err
		}
		return v.Material, nil
	}
	j := new(importJobRecord)
	if err := s.decode(r, kindImportJob, j); err != nil {
		return nil, err
	}
	return j.PrivateKey, nil
}

// resealRecords reseals the records in one transaction, each read again.
func (s *Service) resealRecords(ctx context.Context, rs []storage.Record, current uint32) (int64, error) {
	var done int64
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		done = 0
		var touched []string
		for _, old := range rs {
			rec, err := tx.Get(ctx, old.Name)
			if err != nil {
				return nil, storeErr(err, "resource", old.Name)
			}
			if !s.sealedBefore(rec, current) {
				continue // changed meanwhile: destroyed, expired, resealed
			}
			newRec, err := s.resealed(rec)
			if err != nil {
				return nil, err
			}
			newRec.Rev = rec.Rev
			if err := tx.Put(ctx, newRec); err != nil {
				return nil, storeErr(err, "resource", rec.Name)
			}
			touched = append(touched, rec.Name)
			done++
		}
		return touched, nil
	})
	if err != nil {
		return 0, err
	}
	return done, nil
}

// resealed returns r with its sealed value sealed again under the current
// barrier key.
func (s *Service) resealed(r storage.Record) (storage.Record, error) {
	reseal := func(name string, sealed []byte) ([]byte, error) {
		pt, err := s.ks.Unseal(name, sealed)
		if err != nil {
			return nil, kmserr.DataLoss(err, "the sealed material of %s does not open", name)
		}
		defer clear(pt)
		return s.ks.Seal(name, pt), nil
	}
	if r.Kind == kindVersion {
		v := new(Version)
		if err := s.decode(r, kindVersion, v); err != nil {
			return storage.Record{}, err
		}
		m, err := reseal(v.Name, v.Material)
		if err != nil {
			return storage.Record{}, err
		}
		v.Material = m
		return s.versionRecord(v, r.Parent)
	}
	if r.Kind != kindImportJob {
		return storage.Record{}, kmserr.Internal(fmt.Errorf("reseal: kind %s", r.Kind), "internal error")
	}
	j := new(importJobRecord)
	if err := s.decode(r, kindImportJob, j); err != nil {
		return storage.Record{}, err
	}
	k, err := reseal(j.Name, j.PrivateKey)
	if err != nil {
		return storage.Record{}, err
	}
	j.PrivateKey = k
	return s.encode(kindImportJob, j.Name, r.Parent, importJobDue(j), j)
}

// sealGuard is the store as the Service writes to it: a version or import
// job record written with a value sealed under an older barrier key than
// the current one is sealed again under the current one as it is written.
// Material is sealed before its transaction commits, sometimes before it
// starts (a new key's first version, an import job's key): without this, a
// value sealed just before a rotation and written after Reseal passed its
// name would stay under the old key.
type sealGuard struct {
	storage.Store
	s *Service
}

func (g *sealGuard) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	return g.Store.Update(ctx, func(tx storage.Tx) error { return fn(sealGuardTx{Tx: tx, s: g.s}) })
}

// Walk and Scrub are the store's own, so that the Service sees through the
// guard what the store can do.
func (g *sealGuard) Walk(ctx context.Context, after string, limit int) ([]storage.Record, error) {
	w, ok := g.Store.(storage.Walker)
	if !ok {
		return nil, kmserr.Unimplemented("this store cannot be read whole")
	}
	return w.Walk(ctx, after, limit)
}

func (g *sealGuard) Scrub(ctx context.Context) error {
	if sc, ok := g.Store.(storage.Scrubber); ok {
		return sc.Scrub(ctx)
	}
	return nil // it keeps no copies to erase, or cannot help it
}

// walker returns the store's Walker, if it is one.
func (s *Service) walker() (storage.Walker, bool) {
	st := s.store
	if g, ok := st.(*sealGuard); ok {
		st = g.Store
	}
	w, ok := st.(storage.Walker)
	return w, ok
}

type sealGuardTx struct {
	storage.Tx
	s *Service
}

func (t sealGuardTx) Create(ctx context.Context, r storage.Record) error {
	return t.Tx.Create(ctx, t.s.sealCurrent(r))
}

func (t sealGuardTx) Put(ctx context.Context, r storage.Record) error {
	return t.Tx.Put(ctx, t.s.sealCurrent(r))
}

// sealCurrent returns r, its sealed value sealed again under the current
// barrier key if an older one sealed it. A value that does not open is
// written as it is: the write is not the place to find damage (reading the
// value fails, and the integrity scan names it).
func (s *Service) sealCurrent(r storage.Record) storage.Record {
	// Until the first rotation there is no older key: no record to read.
	current := s.ks.Barrier()
	if current == 1 || !s.sealedBefore(r, current) {
		return r
	}
	nr, err := s.resealed(r)
	if err != nil {
		return r
	}
	nr.Rev = r.Rev
	return nr
}
