// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/custos-kms/custos/internal/storage"
)

// Report is the outcome of [Verify].
type Report struct {
	// Entries is the number of entries proven good: all of them when OK,
	// those before the first bad one otherwise.
	Entries int64 `json:"entries"`
	OK      bool  `json:"ok"`
	// FirstBadSeq is the seq of the first entry altered, missing, out of
	// place, or not covered by the head; 0 when OK, and when the problem
	// is the head record itself (it fails its MAC or does not decode).
	FirstBadSeq int64 `json:"firstBadSeq"`
	// Problem says what is wrong, for a person; "" when OK.
	Problem string `json:"problem"`
}

// Verify proves that the audit log in r is whole, or names the first entry
// that is not. It walks every entry in seq order, a page at a time, and
// checks that:
//
//   - the entries are numbered 1..N without gap, each record under the
//     name of the seq of its first entry and holding the entries that
//     follow in order, at most 512 (an entry or a record removed or moved
//     is caught here);
//   - each record's MAC verifies under signer (an entry changed by someone
//     without the record MAC key); in a record that fails it, the chain
//     still names the first entry altered, and the record's first entry
//     is named when all of them chain;
//   - each entry decodes and its hash is the HMAC, under chainKey, of the
//     previous hash and its canonical encoding (an entry changed, forged,
//     reordered or renumbered by someone who holds the MAC key but not the
//     chain key);
//   - the head record verifies and names entry N with its hash: a head
//     ahead of N means the tail was cut off, a head behind N means entries
//     were added without it, or the head was rolled back.
//
// A tail removed together with a head restored from an older copy leaves
// a shorter log that verifies: compare the head with the last one the
// server logged (see [Log.RunHeadLogger]).
//
// Verify returns an error only if r cannot be read or ctx ends; a log that
// fails verification is a Report with OK false. It reads without a
// snapshot, so it may run while a server appends: entries appended during
// the walk are checked too, provided the store shows each committed write
// to every later read (SQLite and PostgreSQL do).
func Verify(ctx context.Context, r storage.Reader, signer Signer, chainKey []byte) (Report, error) {
	return VerifyEach(ctx, r, signer, chainKey, nil)
}

// VerifyEach is Verify that also hands visit (if not nil) each entry it has
// proven, in seq order: facts a check of the store can rely on, since
// nobody without the chain key can write them.
func VerifyEach(ctx context.Context, r storage.Reader, signer Signer, chainKey []byte, visit func(*Entry)) (Report, error) {
	v := &verifier{r: r, signer: signer, chain: newChainer(chainKey), next: 1, prev: zeroHash, visit: visit}
	if _, err := v.walk(ctx); err != nil || v.bad != nil {
		return v.report(), err
	}
	for {
		h, sum, rev, err := readHead(ctx, r, signer)
		last := v.next - 1
		switch {
		case err != nil && ctx.Err() != nil:
			return v.report(), ctx.Err()
		case err != nil && !errors.Is(err, ErrBroken):
			return v.report(), err
		case err != nil:
			v.fail(0, "the head record fails its integrity check: %v", err)
		case h.Seq == last && !hmac.Equal(sum, v.prev):
			v.fail(last, "the head names entry %d with another hash: the entry or the head was altered", last)
		case h.Seq == last:
			return v.report(), nil
		case h.Seq < last && rev == 0:
			v.fail(1, "the head record is missing, and %d entries are not covered by it", last)
		case h.Seq < last:
			v.fail(h.Seq+1, "entries %d to %d are not covered by the head, which names entry %d: the head was rolled back, or entries were added without it", h.Seq+1, last, h.Seq)
		default: // h.Seq > last
			// Entries may have been appended since the walk ended (a live
			// server): the head was read after the walk, so the entries it
			// names were committed by then and a new walk must find them.
			n, err := v.walk(ctx)
			if err != nil || v.bad != nil {
				return v.report(), err
			}
			if n > 0 {
				continue
			}
			v.fail(last+1, "entries %d to %d are missing: the head names entry %d, the log ends at %d (tail truncated)", last+1, h.Seq, h.Seq, last)
		}
		return v.report(), nil
	}
}

// verifier is the state of one Verify walk.
type verifier struct {
	r      storage.Reader
	signer Signer
	chain  *chainer
	after  string // name of the last record read
	next   int64  // the seq expected next
	prev   []byte // the hash of entry next-1
	keys   []string
	bad    *Report
	visit  func(*Entry) // see VerifyEach
	proven []Entry      // the entries of the record being checked
}

func (v *verifier) fail(seq int64, format string, args ...any) {
	v.bad = &Report{Entries: v.next - 1, FirstBadSeq: seq, Problem: fmt.Sprintf(format, args...)}
}

func (v *verifier) report() Report {
	if v.bad != nil {
		return *v.bad
	}
	return Report{Entries: v.next - 1, OK: true}
}

// walk checks the entries after v.after up to the end of the log, or
// until the first bad one (v.bad set), and returns how many it read.
func (v *verifier) walk(ctx context.Context) (int64, error) {
	var n int64
	for {
		recs, err := v.r.List(ctx, storage.ListOptions{Kind: KindEntry, Parent: ParentEntry, After: v.after, Limit: scanPage})
		if err != nil {
			return n, fmt.Errorf("audit: verify: read entries after %q: %w", v.after, err)
		}
		for _, rec := range recs {
			n++
			if !v.check(rec) {
				return n, nil
			}
			v.after = rec.Name
		}
		if len(recs) < scanPage {
			return n, nil
		}
	}
}

// check checks one entry record against the chain so far, and either
// advances the chain past its entries or sets v.bad. Within a record that
// fails its MAC, the chain still tells the entries that are intact from
// the first that is not, which is the one named.
func (v *verifier) check(rec storage.Record) bool {
	want := v.next
	first, ok := parseEntryName(rec.Name)
	switch {
	case !ok:
		v.fail(want, "record %q is not an entry, where entry %d should be", rec.Name, want)
		return false
	case first != want && want == 1:
		v.fail(want, "entry 1 is missing: the log starts at entry %d", first)
		return false
	case first != want:
		v.fail(want, "entry %d is missing: after entry %d comes entry %d", want, want-1, first)
		return false
	}
	macErr := v.signer.Verify(rec)
	startPrev := v.prev
	lines := segmentLines(rec.Data)
	v.proven = v.proven[:0]
	if len(lines) > maxSegment {
		v.fail(first, "the record of entry %d holds %d entries, more than %d", first, len(lines), maxSegment)
		return false
	}
	for i, line := range lines {
		seq := first + int64(i)
		e, sum, err := decodeEntry(line)
		v.keys = sortedKeys(v.keys, e.Details)
		var problem string
		switch {
		case err == nil && e.Seq != seq:
			problem = fmt.Sprintf("the record of entry %d holds entry %d: entries were reordered", seq, e.Seq)
		case err == nil && !hmac.Equal(v.chain.sum(v.prev, &e, v.keys), sum):
			problem = fmt.Sprintf("entry %d does not match the chain: it, or its place in the log, was altered", seq)
		case err != nil:
			problem = fmt.Sprintf("entry %d does not decode: %v", seq, err)
		}
		if problem != "" {
			if macErr != nil {
				problem = fmt.Sprintf("entry %d fails its MAC: it was altered or moved outside Custos", seq)
			}
			v.fail(seq, "%s", problem)
			return false
		}
		v.next, v.prev = seq+1, sum
		if v.visit != nil {
			v.proven = append(v.proven, e)
		}
	}
	if macErr != nil {
		// Every entry chains, yet the record was changed: its name, kind
		// or parent, or the MAC itself. None of it counts as proven.
		v.next, v.prev = first, startPrev
		v.fail(first, "the record of entry %d fails its MAC: it was altered or moved outside Custos", first)
		return false
	}
	for i := range v.proven {
		v.visit(&v.proven[i])
	}
	return true
}
