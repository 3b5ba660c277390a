// SPDX-License-Identifier: Apache-2.0

// Package audit is Custos's tamper-evident audit log: who called which
// method on which resource, when, how it ended, and why (the access
// justification of a Cloud EKM call). It implements [kms.Auditor], the hook
// the core calls on every method, and proves with [Verify] that no entry
// was altered, removed, reordered or truncated, even by someone who can
// write to the database.
//
// # Entries
//
// An [Entry] holds facts about a call and never its plaintext, ciphertext,
// key material or credentials. Admin activity (creates, updates, state,
// IAM and credential changes) is always recorded. Data access (encrypt,
// decrypt, sign, MAC, export) is recorded only where it is enabled, with
// [Log.SetDataAccess] on the project, location, key ring or key: the nearest
// ancestor with a setting wins, and the default is off. Cloud EKM Wrap and
// Unwrap are always recorded (the EKM handler bounds, before it calls
// Record, the refusals of callers that are no app).
//
// # Chain
//
// Entries are numbered 1, 2, 3 ... and chained: the hash of entry n is
//
//	HMAC-SHA256(chainKey, hash(n-1) || canonical(entry n))
//
// with 32 zero bytes for hash(0). chainKey is derived from the root key
// ([ChainKeyInfo]) and never reaches storage, so nobody can write a chain
// that verifies without it: not even someone who also holds the record MAC
// key. The canonical encoding covers every field but the hash, in a fixed
// order, each string as its length (8 bytes, big endian) then its bytes:
//
//	seq (8 bytes, big endian), time (UTC, time.RFC3339Nano), principal,
//	authMethod, method, resource, status, requestId, clientAddress,
//	justification, the number of details (8 bytes, big endian), then each
//	detail's key and value, keys in increasing byte order.
//
// The head (seq and hash of the last entry) is kept apart in its own
// record, written in the same transaction as the entries, so that removing
// the last entries is detected too. [Log.RunHeadLogger] writes the head to
// the server log from time to time: compare it with the head in the
// database to detect a tail removed together with a head rolled back to an
// older copy, which the database alone cannot reveal.
//
// # Durability
//
// [Log.Append] and [Log.Record] return nil only once the entry is durable.
// Concurrent calls are grouped by one flusher goroutine into one
// [storage.Store.Update] that writes them as one record (see below). It
// reads the head inside the transaction and writes it back with its
// revision: two nodes sharing a store cannot fork the chain, since a
// conflict retries the whole batch. When the log cannot
// be written the call fails (fail closed), the failure is logged and
// counted in [Log.Failures], and nothing is dropped silently.
//
// # Storage layout
//
// The entries of one commit are one record, named "audit/" + the seq of
// its first entry in 20 digits (kind "audit", parent "audit"), whose Data
// is the JSON [Entry] of each, with its hash, one per line; a record holds
// at most 512 entries; a record of one entry is its JSON object alone.
// The head is the record "system/audit-head"; a data-access setting is the
// record "auditconfig/" + resource name. Every record carries the keystore's MAC.
//
// # Verification
//
// [Verify] walks the entries in seq order and names the first one that is
// missing, altered, out of place, or not covered by the head. It reads
// through a [storage.Reader], so it runs offline on a store opened by the
// caller as well as on a live server ([Log.Verify]).
package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// Entry is one record of the audit log. Its JSON form is what is stored and
// what exports print, one object per line.
type Entry struct {
	// Seq numbers the entry: 1, 2, 3 ... without gap.
	Seq int64 `json:"seq"`
	// Time is when the call was recorded, in UTC. Entries are ordered by
	// Seq; concurrent calls (and nodes with skewed clocks) may have times
	// slightly out of that order.
	Time time.Time `json:"time"`
	// Principal is who called ("anonymous" for no caller), and AuthMethod
	// how they authenticated ("admin-token", "api-key", ...).
	Principal  string `json:"principal"`
	AuthMethod string `json:"authMethod"`
	// Method is the method as Cloud KMS names it ("CreateCryptoKey"), or
	// "Wrap"/"Unwrap" for Cloud EKM.
	Method   string `json:"method"`
	Resource string `json:"resource"`
	// Status is the gRPC code name of the outcome: "OK", "NOT_FOUND",
	// "PERMISSION_DENIED" ...
	Status        string `json:"status"`
	RequestID     string `json:"requestId"`
	ClientAddress string `json:"clientAddress"`
	// Justification is the access justification of a Cloud EKM call.
	Justification string `json:"justification"`
	// Details holds other facts worth keeping. Never secrets.
	Details map[string]string `json:"details,omitempty"`
	// Hash is the chain hash of the entry in hex, set by the log.
	Hash string `json:"hash,omitempty"`
}

// Signer authenticates stored records; *keystore.Keystore is one.
type Signer interface {
	// Sign sets r.MAC.
	Sign(r *storage.Record)
	// Verify returns an error unless r.MAC authenticates r.
	Verify(r storage.Record) error
}

// Storage kinds and names of the log's records.
const (
	// KindEntry is the kind of entry records; their parent is ParentEntry.
	KindEntry   storage.Kind = "audit"
	ParentEntry              = "audit"
	// KindSystem and HeadName name the head record.
	KindSystem storage.Kind = "system"
	HeadName                = "system/audit-head"
	// KindConfig is the kind of data-access settings, named
	// ConfigPrefix + resource name, under the parent ConfigParent.
	KindConfig   storage.Kind = "auditconfig"
	ConfigPrefix              = "auditconfig/"
	ConfigParent              = "auditconfig"
)

// ChainKeyInfo is the info string under which the caller derives the chain
// key from the root key: keystore.Derive(ChainKeyInfo, 32).
const ChainKeyInfo = "custos audit chain v1"

var (
	// ErrClosed is returned by Append and Record after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrBroken means the stored head does not authenticate or does not
	// match the last entry: the log was altered, and nothing is appended
	// to it until an operator has looked (run Verify).
	ErrBroken = errors.New("audit: the audit chain is broken")
)

// Log is the audit log. Its methods are safe for concurrent use.
type Log struct {
	store    storage.Store
	signer   Signer
	chainKey []byte
	log      *slog.Logger
	now      func() time.Time

	// mu guards queue, ticket and closing. The queued entries all share
	// ticket: the flusher takes them together and answers them at once.
	mu      sync.Mutex
	queue   []Entry
	ticket  *ticket
	closing bool
	wake    chan struct{} // one token: the flusher rechecks queue under mu
	stopped chan struct{} // closed when the flusher has returned
	once    sync.Once

	// last is the head as this node last wrote it, from which the next
	// batch is prepared outside the transaction; only the flusher uses it.
	last     head
	lastHash []byte
	// lastRev is the head record's revision after this log's last commit,
	// or -1 when unknown (first commit, or another node wrote since): a
	// commit that knows it writes the head with that revision instead of
	// reading it back first, and a conflict sends it back to reading.
	lastRev int64
	chain   *chainer // the flusher's

	failures atomic.Uint64
	entries  atomic.Uint64 // entries written
	flushes  atomic.Uint64 // committed batches
	flushNs  atomic.Int64  // their wall time, from taking the batch to the commit

	cfg config
}

// ticket is the outcome of one batch, shared by every Append in it: err is
// set before done is closed.
type ticket struct {
	err  error
	done chan struct{}
}

func newTicket() *ticket { return &ticket{done: make(chan struct{})} }

// Open opens the audit log kept in store. signer authenticates its records
// (the keystore) and chainKey, derived from the root key with
// [ChainKeyInfo], keys the chain; it must stay secret. Open checks that the
// head authenticates and matches the last entry, and fails with an error
// wrapping [ErrBroken] if not; it loads the data-access settings. log may be
// nil (slog.Default). Call Close when done.
func Open(ctx context.Context, store storage.Store, signer Signer, chainKey []byte, log *slog.Logger) (*Log, error) {
	if len(chainKey) < 32 {
		return nil, errors.New("audit: open: the chain key must have at least 32 bytes")
	}
	if log == nil {
		log = slog.Default()
	}
	l := &Log{
		store:    store,
		signer:   signer,
		chainKey: append([]byte(nil), chainKey...),
		log:      log,
		now:      time.Now,
		ticket:   newTicket(),
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		chain:    newChainer(chainKey),
	}
	h, sum, rev, err := readHead(ctx, store, signer)
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	if h.Seq > 0 {
		if err := l.checkLast(ctx, h, sum); err != nil {
			return nil, fmt.Errorf("audit: open: %w", err)
		}
	}
	l.last, l.lastHash, l.lastRev = h, sum, rev
	if err := l.cfg.load(ctx, store, signer, log); err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	go l.run()
	return l, nil
}

// checkLast checks that the entry the head names is there, authenticates,
// and has the head's hash.
func (l *Log) checkLast(ctx context.Context, h head, sum []byte) error {
	rec, first, err := findSegment(ctx, l.store, h.Seq)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: the head names entry %d, which is missing", ErrBroken, h.Seq)
	}
	if err != nil {
		return fmt.Errorf("read entry %d: %w", h.Seq, err)
	}
	if err := l.signer.Verify(rec); err != nil {
		return fmt.Errorf("%w: entry %d: %w", ErrBroken, h.Seq, err)
	}
	// The head names the last entry of the last record: a head that names
	// one inside a record was rolled back, and appending after it would
	// give two records the same entries.
	es, err := decodeSegment(first, rec.Data)
	i := h.Seq - first
	if err != nil || i != int64(len(es))-1 || !bytes.Equal(es[i].sum, sum) {
		return fmt.Errorf("%w: entry %d does not match the head, or is not the last of its record", ErrBroken, h.Seq)
	}
	return nil
}

// Close writes the entries still queued, then stops the flusher. Append
// and Record fail with [ErrClosed] afterwards. Close does not close the
// store, and may be called more than once.
func (l *Log) Close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		l.signal()
	})
	<-l.stopped
}

// Failures returns how many entries could not be written since Open: each
// is a call that failed because it could not be recorded.
func (l *Log) Failures() uint64 { return l.failures.Load() }

// Append writes e as the next entry, numbered and chained by the log (the
// Seq and Hash given are ignored), at e.Time, or now if that is zero (any
// time is stored in UTC). It returns nil only once
// the entry is durable. If ctx ends first, Append returns ctx's error but
// the entry is still written: an entry, once queued, is never dropped.
// Otherwise an error means the entry was not written, and it is counted
// in [Log.Failures]. Invalid strings are stored with U+FFFD in place of
// bytes that are not UTF-8. The log keeps e.Details until the entry is
// written, which may be after Append returns: do not change the map
// after the call.
func (l *Log) Append(ctx context.Context, e Entry) error {
	return l.append(ctx, e)
}

// append queues entries to be written in the same batch, consecutive, and
// waits for them as Append does. Tests give it several to make records of
// several entries; calls give it one.
func (l *Log) append(ctx context.Context, es ...Entry) error {
	for i := range es {
		e := &es[i]
		if e.Time.IsZero() {
			e.Time = l.now()
		}
		sanitize(e)
		if y := e.Time.Year(); y < 1 || y > 9999 {
			return fmt.Errorf("audit: append: time %v is out of range", e.Time)
		}
		e.Seq, e.Hash = 0, ""
	}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		l.fail(len(es), ErrClosed)
		return ErrClosed
	}
	l.queue = append(l.queue, es...)
	t := l.ticket
	l.mu.Unlock()
	l.signal()

	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return fmt.Errorf("audit: append: %w (the entry is still queued and will be written)", ctx.Err())
	}
}

// Written returns how many entries this log has written since Open, in how
// many commits, and the time those commits took: entries per commit is how
// well concurrent calls share them, and the time per commit is what each
// call waits at least (on most disks, one flush).
func (l *Log) Written() (entries, commits uint64, took time.Duration) {
	return l.entries.Load(), l.flushes.Load(), time.Duration(l.flushNs.Load())
}

// fail counts n entries that could not be written and logs why.
func (l *Log) fail(n int, err error) {
	l.failures.Add(uint64(n))
	l.log.Error("audit: entries not written; their calls fail", "entries", n, "failures", l.failures.Load(), "err", err)
}

// RunHeadLogger writes the head of the chain to the server log when it
// starts and then every interval when it has changed ("audit head",
// seq=N, hash=...), until ctx ends. Keep these lines apart from the
// database: they detect a tail removed together with a head rolled back.
// interval <= 0 means one minute.
func (l *Log) RunHeadLogger(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last head
	logged := false
	for {
		h, _, _, err := readHead(ctx, l.store, l.signer)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Error("audit head unreadable", "err", err)
		case err == nil && (!logged || h != last):
			l.log.Info("audit head", "seq", h.Seq, "hash", h.Hash)
			last, logged = h, true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Verify runs [Verify] on the log's own store.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	return Verify(ctx, l.store, l.signer, l.chainKey)
}
