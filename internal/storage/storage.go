// SPDX-License-Identifier: Apache-2.0

// Package storage defines the interface that every Custos storage backend
// implements, the records it holds and the sentinel errors it returns.
//
// # Records
//
// A [Record] is one resource (a key ring, a crypto key, a key version, an
// import job, an index entry ...) stored under its full resource name. The
// store treats Data and MAC as opaque bytes: the core serializes records and
// computes their integrity MAC, and the keystore seals key material before it
// ever reaches Data. A backend never interprets them.
//
// # Transactions
//
// Every state change is one call to [Store.Update]: the function runs in a
// transaction and either all of its writes are durable when Update returns
// nil, or none is. Backends may group several concurrent Update calls into
// one physical commit (group commit), but each call keeps its own
// all-or-nothing outcome.
package storage

import (
	"context"
	"errors"
)

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound: no record has that name.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists: Create found a record with that name already.
	ErrExists = errors.New("storage: already exists")
	// ErrConflict: Put with an expected revision found another revision.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrUnavailable: the backend cannot be reached or is closed.
	ErrUnavailable = errors.New("storage: unavailable")
)

// Kind says which sort of resource a record holds. Lists are per kind.
type Kind string

// Record is one stored resource.
type Record struct {
	Kind Kind
	// Name is the record's unique key, usually a full resource name.
	Name string
	// Parent is the name that List finds it under ("" for none).
	Parent string
	// Due is a Unix time in nanoseconds at which the record needs attention
	// (a rotation, a scheduled destruction, an expiry); 0 means never.
	// ListDue finds records by it.
	Due int64
	// Data is the serialized record, opaque to the store.
	Data []byte
	// MAC authenticates Kind, Name, Parent, Due and Data (not Rev); opaque
	// to the store.
	MAC []byte
	// Rev is the record's revision: 1 when created, +1 on every Put.
	// Backends set it; callers pass the revision they read to Put.
	Rev int64
}

// ListOptions selects a page of records of one kind under one parent,
// ordered by Name.
type ListOptions struct {
	Kind   Kind
	Parent string
	// After, if set, starts the page after this name (exclusive).
	After string
	// Limit is the largest number of records to return; 0 means no limit.
	Limit int
}

// Reader reads records. Both Store and Tx are readers.
type Reader interface {
	// Get returns the record with that name, or ErrNotFound.
	Get(ctx context.Context, name string) (Record, error)
	// List returns the records that match, ordered by Name.
	List(ctx context.Context, opts ListOptions) ([]Record, error)
}

// Scrubber is a Store that can erase from its files what overwritten or
// deleted records left there (a log of old page images, say). The core
// calls it after it erased key material; a Store without it keeps no such
// copies, or cannot help it.
type Scrubber interface {
	Scrub(ctx context.Context) error
}

// Walker is a Store that can read every record it holds, whatever its kind
// and parent: the integrity scan reads the whole store through it. A walk
// is a series of pages, each its own read: a record written meanwhile may
// be seen in either state, never half written.
type Walker interface {
	// Walk returns up to limit records (0: no limit) whose names come
	// after after ("" for the first), ordered by Name.
	Walk(ctx context.Context, after string, limit int) ([]Record, error)
}

// Tx is a transaction handed to the function given to Store.Update.
// It sees its own writes.
type Tx interface {
	Reader
	// Create stores a new record with Rev 1, or fails with ErrExists.
	Create(ctx context.Context, r Record) error
	// Put replaces a record. If r.Rev is not 0 it must equal the stored
	// revision, or Put fails with ErrConflict; the stored revision
	// becomes r.Rev+1. Put of a missing name with Rev 0 creates it.
	Put(ctx context.Context, r Record) error
	// Delete removes a record (index entries; resources are never deleted).
	// Deleting a missing record is not an error.
	Delete(ctx context.Context, name string) error
}

// Store is a storage backend. All methods are safe for concurrent use.
type Store interface {
	Reader
	// Update runs fn in a transaction. If fn returns an error, nothing it
	// wrote is kept and Update returns that error. If Update returns nil,
	// every write is durable (it survives a crash of the process or the
	// machine). fn may be called more than once if the backend retries a
	// serialization failure, so it must have no other side effects.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// ListDue returns up to limit records of the kind whose Due is in
	// (0, before], ordered by Due.
	ListDue(ctx context.Context, kind Kind, before int64, limit int) ([]Record, error)
	// Close releases the backend. Calls after Close fail with ErrUnavailable.
	Close() error
}
