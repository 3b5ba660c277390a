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
func (s *Service) Reseal(ctx context.Context) (ResealReport, error) {
	w, ok := s.store.(storage.Walker)
	if !ok {
		return ResealReport{}, kmserr.Unimplemented("this store cannot be read whole")
	}
	rep := ResealReport{Barrier: s.ks.Barrier()}
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
// value under a barrier key other than current. A record that fails its
// checks is left alone here: reading it fails the same way where it is
// used, and the integrity scan names it.
func (s *Service) sealedBefore(r storage.Record, current uint32) bool {
	sealed, err := s.sealedIn(r)
	if err != nil || len(sealed) == 0 {
		return false
	}
	id, ok := keystore.SealedWith(sealed)
	return ok && id != current
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
