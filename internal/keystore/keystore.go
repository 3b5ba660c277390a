// SPDX-License-Identifier: Apache-2.0

// Package keystore is the only place where key material meets storage. It
// seals each version's material under a barrier key, itself sealed under the
// root key, and authenticates every stored record with a MAC derived from the
// root key, so that a changed record or material on disk is detected and
// refused instead of used.
//
// # Hierarchy
//
//	root key (from a seal.Provider)
//	  -> barrier key n (AES-256, stored sealed under the root key)
//	    -> version material, AES-256-GCM, AAD = format tag || resource name
//	  -> record MAC key (HKDF of the root key)
//	  -> other derived keys (audit chain, fingerprints)
//
// Sealed material is "m1" || barrier id (4 bytes, big endian) || nonce ||
// ciphertext || tag. The id lets the barrier key rotate while old material
// stays readable.
package keystore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/custos-kms/custos/internal/crypto/aead"
	"github.com/custos-kms/custos/internal/crypto/kdf"
	"github.com/custos-kms/custos/internal/storage"
)

var (
	// ErrTampered means a record's MAC or a material's seal does not verify:
	// the stored bytes were changed, or belong to another resource.
	ErrTampered = errors.New("keystore: integrity check failed")
	// ErrWrongRootKey means the root key does not open this store's barrier.
	ErrWrongRootKey = errors.New("keystore: the root key does not match this store")
)

// KindSystem is the storage kind of the keystore's own records.
const KindSystem storage.Kind = "system"

// DevAdminTokenName names the system record that holds a dev server's admin
// token, sealed for that name, so that the server can print it again.
const DevAdminTokenName = "system/dev-admin-token"

const (
	barrierName   = "system/barrier/1"
	materialTag   = "m1"
	barrierAAD    = "custos-barrier-v1"
	materialAAD   = "custos-material-v1\x00"
	recordMACInfo = "custos record mac v1"
)

// Keystore seals material and authenticates records. Safe for concurrent use.
type Keystore struct {
	root      *aead.AEAD
	rootKey   []byte
	barrierID uint32
	barrier   *aead.AEAD
	macPool   sync.Pool // of hash.Hash, HMAC-SHA256 under the record MAC key
}

// Open loads the barrier key from store, creating it on first use, and
// returns ErrWrongRootKey if the root key cannot open it.
func Open(ctx context.Context, store storage.Store, rootKey []byte) (*Keystore, error) {
	root, err := aead.New(rootKey)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	k := &Keystore{root: root, rootKey: bytes.Clone(rootKey), barrierID: 1}
	macKey := kdf.Derive(rootKey, recordMACInfo, 32)
	k.macPool.New = func() any { return hmac.New(sha256.New, macKey) }

	rec, err := store.Get(ctx, barrierName)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		rec = storage.Record{Kind: KindSystem, Name: barrierName, Data: root.Seal(nil, key, []byte(barrierAAD+barrierName))}
		k.Sign(&rec)
		err = store.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, rec) })
		if errors.Is(err, storage.ErrExists) {
			// Another node created it first: use theirs.
			return Open(ctx, store, rootKey)
		}
		if err != nil {
			return nil, fmt.Errorf("keystore: store barrier key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("keystore: read barrier key: %w", err)
	}
	key, err := root.Open(nil, rec.Data, []byte(barrierAAD+barrierName))
	if err != nil {
		return nil, ErrWrongRootKey
	}
	if err := k.Verify(rec); err != nil {
		return nil, err
	}
	if k.barrier, err = aead.New(key); err != nil {
		return nil, err
	}
	return k, nil
}

// Derive returns a sub-key of the root key for one purpose (the audit chain,
// fingerprints, ...). info must be unique per purpose.
func (k *Keystore) Derive(info string, n int) []byte {
	return kdf.Derive(k.rootKey, info, n)
}

// Seal encrypts material for the resource name.
func (k *Keystore) Seal(name string, material []byte) []byte {
	out := make([]byte, 0, len(materialTag)+4+len(material)+aead.Overhead)
	out = append(out, materialTag...)
	out = binary.BigEndian.AppendUint32(out, k.barrierID)
	return k.barrier.Seal(out, material, []byte(materialAAD+name))
}

// Unseal decrypts material sealed for name. It returns ErrTampered if the
// bytes were changed or were sealed for another name.
func (k *Keystore) Unseal(name string, sealed []byte) ([]byte, error) {
	if len(sealed) < len(materialTag)+4 || string(sealed[:len(materialTag)]) != materialTag {
		return nil, ErrTampered
	}
	id := binary.BigEndian.Uint32(sealed[len(materialTag):])
	if id != k.barrierID {
		return nil, ErrTampered
	}
	pt, err := k.barrier.Open(nil, sealed[len(materialTag)+4:], []byte(materialAAD+name))
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// CheckSystem checks what a system record holds once its MAC has been
// verified, for the integrity scan: the barrier key must open under the
// root key, and a dev admin token under the barrier key. sealed is how many
// sealed values it opened; other system records hold none.
func (k *Keystore) CheckSystem(r storage.Record) (sealed int, err error) {
	var pt []byte
	switch r.Name {
	case barrierName:
		pt, err = k.root.Open(nil, r.Data, []byte(barrierAAD+barrierName))
	case DevAdminTokenName:
		pt, err = k.Unseal(r.Name, r.Data)
	default:
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("its sealed value does not open: %w", ErrTampered)
	}
	clear(pt)
	return 1, nil
}

// mac computes the record MAC over every field but Rev, each length-prefixed
// so that no two records share an encoding.
func (k *Keystore) mac(r *storage.Record) []byte {
	h := k.macPool.Get().(hash.Hash)
	h.Reset()
	var n [8]byte
	for _, f := range [][]byte{[]byte(r.Kind), []byte(r.Name), []byte(r.Parent), r.Data} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	binary.BigEndian.PutUint64(n[:], uint64(r.Due))
	h.Write(n[:])
	sum := h.Sum(nil)
	k.macPool.Put(h)
	return sum
}

// Sign sets r.MAC.
func (k *Keystore) Sign(r *storage.Record) { r.MAC = k.mac(r) }

// Verify returns ErrTampered unless r.MAC authenticates r.
func (k *Keystore) Verify(r storage.Record) error {
	if !hmac.Equal(r.MAC, k.mac(&r)) {
		return fmt.Errorf("%w: record %q", ErrTampered, r.Name)
	}
	return nil
}
