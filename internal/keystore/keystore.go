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
//
// # Barrier keys
//
// Barrier key n is the record "system/barrier/n" (n = 1, 2, ...), its key
// sealed under the root key with the record's name in the AAD. The highest
// seals new material; every one opens what it sealed. [Keystore.Rotate]
// adds the next one; the core then seals again, under it, what older ones
// sealed (kms.Service.Reseal). Barrier keys are never deleted: a copy of
// the store taken before a rotation still opens with the root key.
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
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
	barrierPrefix = "system/barrier/"
	materialTag   = "m1"
	barrierAAD    = "custos-barrier-v1"
	materialAAD   = "custos-material-v1\x00"
	recordMACInfo = "custos record mac v1"
)

// Keystore seals material and authenticates records. Safe for concurrent use.
type Keystore struct {
	root    *aead.AEAD
	rootKey []byte
	store   storage.Store
	// mu serializes loads of barrier keys (never held across a write to
	// the store: see Rotate); readers use barriers, which is replaced,
	// never changed.
	mu       sync.Mutex
	barriers atomic.Pointer[barrierSet]
	macPool  sync.Pool // of hash.Hash, HMAC-SHA256 under the record MAC key
}

// barrierSet is the barrier keys known to a keystore, by id; current seals.
type barrierSet struct {
	current uint32
	keys    map[uint32]*aead.AEAD
}

// barrierName returns the record name of barrier key id.
func barrierName(id uint32) string { return barrierPrefix + strconv.FormatUint(uint64(id), 10) }

// Open loads the barrier keys from store, creating the first on first
// use, and returns ErrWrongRootKey if the root key cannot open them.
func Open(ctx context.Context, store storage.Store, rootKey []byte) (*Keystore, error) {
	root, err := aead.New(rootKey)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	k := &Keystore{root: root, rootKey: bytes.Clone(rootKey), store: store}
	macKey := kdf.Derive(rootKey, recordMACInfo, 32)
	k.macPool.New = func() any { return hmac.New(sha256.New, macKey) }
	k.barriers.Store(&barrierSet{keys: map[uint32]*aead.AEAD{}})

	if _, err := store.Get(ctx, barrierName(1)); errors.Is(err, storage.ErrNotFound) {
		// A new store. Another node may create it first: then use theirs.
		if err := k.create(ctx, 1); err != nil && !errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("keystore: store barrier key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("keystore: read barrier key: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// create stores a new barrier key id, sealed under the root key; it fails
// with an error wrapping storage.ErrExists if another writer made it first.
func (k *Keystore) create(ctx context.Context, id uint32) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	defer clear(key)
	name := barrierName(id)
	rec := storage.Record{Kind: KindSystem, Name: name, Data: k.root.Seal(nil, key, []byte(barrierAAD+name))}
	k.Sign(&rec)
	return k.store.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, rec) })
}

// load reads the barrier keys after the highest one known, until one is
// missing, and makes the highest the current one. k.mu must be held.
func (k *Keystore) load(ctx context.Context) error {
	old := k.barriers.Load()
	next := &barrierSet{current: old.current, keys: maps.Clone(old.keys)}
	for id := old.current + 1; ; id++ {
		rec, err := k.store.Get(ctx, barrierName(id))
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("keystore: read barrier key %d: %w", id, err)
		}
		key, err := k.root.Open(nil, rec.Data, []byte(barrierAAD+rec.Name))
		if err != nil {
			if id == 1 {
				return ErrWrongRootKey
			}
			return fmt.Errorf("%w: barrier key %d does not open under the root key", ErrTampered, id)
		}
		if err := k.Verify(rec); err != nil {
			return err
		}
		a, err := aead.New(key)
		clear(key)
		if err != nil {
			return err
		}
		next.keys[id], next.current = a, id
	}
	if next.current == 0 {
		return fmt.Errorf("keystore: the store holds no barrier key")
	}
	k.barriers.Store(next)
	return nil
}

// Barrier returns the id of the barrier key that seals new material.
func (k *Keystore) Barrier() uint32 { return k.barriers.Load().current }

// Rotate adds a new barrier key, which seals all new material from now on,
// and returns its id. Material sealed before stays readable; the caller
// seals it again under the new key (kms.Service.Reseal). If another node
// rotated first, Rotate adds the one after theirs.
func (k *Keystore) Rotate(ctx context.Context) (uint32, error) {
	for attempt := 0; attempt < 8; attempt++ {
		if err := k.locked(ctx); err != nil {
			return 0, err
		}
		id := k.barriers.Load().current + 1
		// Not under k.mu: the store's writer may be running a transaction
		// that unseals material under a key another node added, whose
		// lazy load (Unseal) takes k.mu, while this write waits for it.
		err := k.create(ctx, id)
		if errors.Is(err, storage.ErrExists) {
			continue // another node's (or a concurrent Rotate's): go past it
		}
		if err != nil {
			return 0, fmt.Errorf("keystore: store barrier key %d: %w", id, err)
		}
		if err := k.locked(ctx); err != nil {
			return 0, err
		}
		return id, nil
	}
	return 0, errors.New("keystore: rotate: other writers keep adding barrier keys")
}

// locked is load under k.mu.
func (k *Keystore) locked(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.load(ctx)
}

// SealedWith returns the id of the barrier key that sealed sealed, or false
// if it is not sealed material.
func SealedWith(sealed []byte) (uint32, bool) {
	if len(sealed) < len(materialTag)+4 || string(sealed[:len(materialTag)]) != materialTag {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[len(materialTag):]), true
}

// Derive returns a sub-key of the root key for one purpose (the audit chain,
// fingerprints, ...). info must be unique per purpose.
func (k *Keystore) Derive(info string, n int) []byte {
	return kdf.Derive(k.rootKey, info, n)
}

// Seal encrypts material for the resource name under the current barrier
// key.
func (k *Keystore) Seal(name string, material []byte) []byte {
	b := k.barriers.Load()
	out := make([]byte, 0, len(materialTag)+4+len(material)+aead.Overhead)
	out = append(out, materialTag...)
	out = binary.BigEndian.AppendUint32(out, b.current)
	return b.keys[b.current].Seal(out, material, []byte(materialAAD+name))
}

// Unseal decrypts material sealed for name. It returns ErrTampered if the
// bytes were changed or were sealed for another name. Material sealed
// under a barrier key this keystore has not loaded yet (another node
// rotated) loads it first.
func (k *Keystore) Unseal(name string, sealed []byte) ([]byte, error) {
	id, ok := SealedWith(sealed)
	if !ok {
		return nil, ErrTampered
	}
	b := k.barriers.Load()
	key := b.keys[id]
	if key == nil && id > b.current {
		err := k.locked(context.Background())
		if err != nil {
			return nil, err
		}
		key = k.barriers.Load().keys[id]
	}
	if key == nil {
		return nil, ErrTampered
	}
	pt, err := key.Open(nil, sealed[len(materialTag)+4:], []byte(materialAAD+name))
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
	switch {
	case strings.HasPrefix(r.Name, barrierPrefix):
		pt, err = k.root.Open(nil, r.Data, []byte(barrierAAD+r.Name))
	case r.Name == DevAdminTokenName:
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
