// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// Unsealer opens material sealed by the keystore; *keystore.Keystore is one.
type Unsealer interface {
	Unseal(name string, sealed []byte) ([]byte, error)
}

// RecordCheck checks what a stored record of one kind holds, once its MAC
// has been verified: that it can be read, that it names itself, that its
// state and its sealed material agree, and that the material opens under
// the barrier key for its own name. sealed is how many materials it opened.
type RecordCheck func(u Unsealer, r storage.Record) (sealed int, err error)

// RecordChecks returns the checks of the core's record kinds, for the
// integrity scan (internal/integrity). Reading a record at run time does
// the same checks, but only when it is used: the scan finds a damaged
// version that nobody has called yet.
func RecordChecks() map[storage.Kind]RecordCheck {
	return map[storage.Kind]RecordCheck{
		kindKeyRing:   checkNamed[KeyRing](func(v *KeyRing) string { return v.Name }),
		kindCryptoKey: checkNamed[CryptoKey](func(v *CryptoKey) string { return v.Name }),
		kindVersion:   checkVersionRecord,
		kindImportJob: checkImportJobRecord,
		kindEKMIndex:  checkEKMIndexRecord,
		kindUsage:     checkUsageRecord,
	}
}

// checkNamed returns a check that decodes a T and compares the name it
// holds with the record's.
func checkNamed[T any](name func(*T) string) RecordCheck {
	return func(_ Unsealer, r storage.Record) (int, error) {
		v := new(T)
		if err := json.Unmarshal(r.Data, v); err != nil {
			return 0, unreadable(err)
		}
		if n := name(v); n != r.Name {
			return 0, fmt.Errorf("holds %q", n)
		}
		return 0, nil
	}
}

func checkVersionRecord(u Unsealer, r storage.Record) (int, error) {
	var v Version
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return 0, unreadable(err)
	}
	if v.Name != r.Name {
		return 0, fmt.Errorf("holds the version %q", v.Name)
	}
	switch v.State {
	case Enabled, Disabled, DestroyScheduled:
		if len(v.Material) == 0 {
			return 0, fmt.Errorf("is %s but holds no key material", v.State)
		}
	case Destroyed, PendingImport, ImportFailed:
		if len(v.Material) != 0 {
			return 0, fmt.Errorf("is %s but still holds key material", v.State)
		}
	}
	return openSealed(u, v.Name, v.Material)
}

func checkImportJobRecord(u Unsealer, r storage.Record) (int, error) {
	var j importJobRecord
	if err := json.Unmarshal(r.Data, &j); err != nil {
		return 0, unreadable(err)
	}
	if j.Name != r.Name {
		return 0, fmt.Errorf("holds the import job %q", j.Name)
	}
	switch {
	case j.State == ImportJobActive && len(j.PrivateKey) == 0:
		return 0, errors.New("is ACTIVE but holds no wrapping private key")
	case j.State == ImportJobExpired && len(j.PrivateKey) != 0:
		return 0, errors.New("is EXPIRED but still holds its wrapping private key")
	}
	return openSealed(u, j.Name, j.PrivateKey)
}

func checkEKMIndexRecord(_ Unsealer, r storage.Record) (int, error) {
	var key string
	if err := json.Unmarshal(r.Data, &key); err != nil {
		return 0, unreadable(err)
	}
	if key == "" {
		return 0, errors.New("names no crypto key")
	}
	return 0, nil
}

func checkUsageRecord(_ Unsealer, r storage.Record) (int, error) {
	var u usageRecord
	if err := json.Unmarshal(r.Data, &u); err != nil {
		return 0, unreadable(err)
	}
	if !strings.HasPrefix(r.Name, "usage/") || u.Reserved < 0 || u.Reserved > DefaultMaxEncryptions {
		return 0, errors.New("holds an impossible count of encryptions")
	}
	return 0, nil
}

// unreadable says that a record does not decode, and where, without
// quoting it: the scan names what is wrong, never what a record holds.
func unreadable(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("cannot be read: not JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("cannot be read: the field %q holds a %s", te.Field, te.Value)
	}
	return errors.New("cannot be read: a field holds a value of the wrong form")
}

// openSealed opens sealed (if any) for name and forgets the plaintext at
// once: the scan proves the material opens, it never uses it.
func openSealed(u Unsealer, name string, sealed []byte) (int, error) {
	if len(sealed) == 0 {
		return 0, nil
	}
	pt, err := u.Unseal(name, sealed)
	if err != nil {
		return 0, fmt.Errorf("its sealed key material does not open: %w", err)
	}
	clear(pt)
	return 1, nil
}

// VersionCensus follows, over a walk of the whole store in name order, that
// every version a crypto key has handed out (1 to its LastVersion) is still
// stored. Versions are never deleted, so a missing one was removed behind
// Custos's back, and its key material with it: a call meets NOT_FOUND, as
// if it had never existed. Each key is read before its versions (their
// names extend its name), and a version created after its key was read is
// not counted, so a walk of a live store finds no false gap. A key is
// forgotten once the walk is past its versions, so that the census holds
// only the keys whose versions are still to come.
type VersionCensus struct {
	open    versionHeap // keys whose versions the walk has not passed, by end
	missing []missingVersions
}

// versionsInfix joins a key's name and a version number in the version's;
// versionsEnd follows every version name of a key (the byte after '/').
const (
	versionsInfix = "/cryptoKeyVersions/"
	versionsEnd   = "/cryptoKeyVersions0"
)

type versionCount struct {
	key  string
	end  string // key + versionsEnd: the walk is past the key's versions
	last int64  // the key's LastVersion when it was read
	seen int64  // versions 1 to last read since
}

type missingVersions struct {
	key        string
	last, seen int64
}

// versionHeap is a min-heap of keys by end. Ends do not come in the
// order of their keys ("k/…" sorts after "k-x/…"), hence a heap.
type versionHeap []*versionCount

func (h versionHeap) Len() int           { return len(h) }
func (h versionHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h versionHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *versionHeap) Push(x any)        { *h = append(*h, x.(*versionCount)) }
func (h *versionHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// NewVersionCensus returns an empty census.
func NewVersionCensus() *VersionCensus { return &VersionCensus{} }

// Add counts r; verified says whether its MAC verified. Records must come
// in name order, each once. A version whose record is damaged counts as
// there (it is reported as damaged, not as missing); a key counts only if
// its record verified.
func (c *VersionCensus) Add(r storage.Record, verified bool) {
	c.close(r.Name)
	if verified && r.Kind == kindCryptoKey {
		var k CryptoKey
		if json.Unmarshal(r.Data, &k) == nil && k.Name == r.Name && k.LastVersion > 0 {
			heap.Push(&c.open, &versionCount{key: r.Name, end: r.Name + versionsEnd, last: k.LastVersion})
		}
		return
	}
	i := strings.LastIndex(r.Name, versionsInfix)
	if i < 0 {
		return
	}
	key, num := r.Name[:i], r.Name[i+len(versionsInfix):]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != num {
		return
	}
	// The key's versions are being read: it is among the open keys,
	// whose number is that of keys nested in the name being read (few).
	for _, kc := range c.open {
		if kc.key == key {
			if n <= kc.last {
				kc.seen++
			}
			return
		}
	}
}

// close settles the keys whose versions all come before name.
func (c *VersionCensus) close(name string) {
	for len(c.open) > 0 && c.open[0].end <= name {
		kc := heap.Pop(&c.open).(*versionCount)
		if kc.seen < kc.last {
			c.missing = append(c.missing, missingVersions{kc.key, kc.last, kc.seen})
		}
	}
}

// Missing calls fn, in name order, for each key some of whose versions
// were not found, with the key record's kind and the error that says so.
// The walk must be over.
func (c *VersionCensus) Missing(fn func(key string, kind storage.Kind, err error)) {
	for len(c.open) > 0 { // the walk is past every key's versions
		kc := heap.Pop(&c.open).(*versionCount)
		if kc.seen < kc.last {
			c.missing = append(c.missing, missingVersions{kc.key, kc.last, kc.seen})
		}
	}
	slices.SortFunc(c.missing, func(a, b missingVersions) int { return strings.Compare(a.key, b.key) })
	for _, m := range c.missing {
		fn(m.key, kindCryptoKey, fmt.Errorf("has handed out %d versions, but %d of them are missing from the store: removed outside Custos, with their key material", m.last, m.last-m.seen))
	}
	c.missing = nil
}

// CheckStillDestroyed checks a version record against the audit log, which
// records (method DestroyCryptoKeyVersion, principal SchedulerPrincipal,
// status OK) that the version's material was destroyed at destroyedAt. A
// version holding material again is legitimate only when it was imported
// again since (the same material, proven by its fingerprint); otherwise its
// record was put back from a copy older than the destruction, bringing the
// destroyed material back. Call it on a record whose MAC verified.
func CheckStillDestroyed(r storage.Record, destroyedAt time.Time) error {
	if r.Kind != kindVersion {
		return nil
	}
	var v Version
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return unreadable(err)
	}
	if v.State == Destroyed || len(v.Material) == 0 || v.ImportTime.After(destroyedAt) {
		return nil
	}
	return fmt.Errorf("is %s with key material, but the audit log records its destruction at %s: the record was put back from a copy older than that",
		v.State, destroyedAt.UTC().Format(time.RFC3339))
}
