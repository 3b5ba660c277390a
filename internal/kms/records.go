// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// Storage kinds of the core's records.
const (
	kindKeyRing   storage.Kind = "keyring"
	kindCryptoKey storage.Kind = "cryptokey"
	kindVersion   storage.Kind = "version"
	kindEKMIndex  storage.Kind = "ekmindex"
)

// ekmIndexName is the storage name of the record that maps a Cloud EKM key
// id to its crypto key.
func ekmIndexName(id string) string { return "ekm/" + id }

// encode serializes v into a signed record.
func (s *Service) encode(kind storage.Kind, name, parent string, due int64, v any) (storage.Record, error) {
	return signed.Encode(s.ks, kind, name, parent, due, v)
}

// decode verifies r's MAC and kind, then unmarshals it into v. A record that
// fails either check was altered or moved on disk: it is refused, never used.
func (s *Service) decode(r storage.Record, kind storage.Kind, v any) error {
	err := signed.Decode(s.ks, r, kind, v)
	if err != nil {
		s.log.Error("stored record failed its integrity check", "name", r.Name, "kind", r.Kind)
	}
	return err
}

// storeErr converts a storage error into the API error for a resource.
func storeErr(err error, what, name string) error { return signed.Err(err, what, name) }

// Due times: a key is due at its next rotation, a version at its destruction.
func keyDue(k *CryptoKey) int64 {
	if !k.NextRotationTime.IsZero() {
		return k.NextRotationTime.UnixNano()
	}
	return 0
}

func versionDue(v *Version) int64 {
	if v.State == DestroyScheduled {
		return v.DestroyTime.UnixNano()
	}
	return 0
}

func (s *Service) keyRecord(k *CryptoKey, parent string) (storage.Record, error) {
	return s.encode(kindCryptoKey, k.Name, parent, keyDue(k), k)
}

func (s *Service) versionRecord(v *Version, parent string) (storage.Record, error) {
	return s.encode(kindVersion, v.Name, parent, versionDue(v), v)
}

// readKey reads and verifies a crypto key record through r (a store or tx).
func (s *Service) readKey(ctx context.Context, r storage.Reader, name string) (*CryptoKey, storage.Record, error) {
	rec, err := r.Get(ctx, name)
	if err != nil {
		return nil, rec, storeErr(err, "CryptoKey", name)
	}
	k := new(CryptoKey)
	if err := s.decode(rec, kindCryptoKey, k); err != nil {
		return nil, rec, err
	}
	if k.Name != name {
		return nil, rec, kmserr.DataLoss(nil, "stored record %s holds %s", name, k.Name)
	}
	return k, rec, nil
}

// readVersion reads and verifies a version record through r.
func (s *Service) readVersion(ctx context.Context, r storage.Reader, name string) (*Version, storage.Record, error) {
	rec, err := r.Get(ctx, name)
	if err != nil {
		return nil, rec, storeErr(err, "CryptoKeyVersion", name)
	}
	v := new(Version)
	if err := s.decode(rec, kindVersion, v); err != nil {
		return nil, rec, err
	}
	if v.Name != name {
		return nil, rec, kmserr.DataLoss(nil, "stored record %s holds %s", name, v.Name)
	}
	return v, rec, nil
}

// update runs fn in a storage transaction, then drops the names it wrote
// from the cache. It maps storage errors to API errors.
func (s *Service) update(ctx context.Context, fn func(tx storage.Tx) ([]string, error)) error {
	var touched []string
	var fnErr error
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		touched, fnErr = fn(tx)
		return fnErr
	})
	// Invalidate even on error: a failed commit may have left nothing, and
	// dropping a cache entry is always safe.
	s.cache.invalidate(touched...)
	if fnErr != nil {
		return fnErr // already an API error (or errNotDue)
	}
	if err != nil {
		return storeErr(err, "resource", "")
	}
	return nil
}
