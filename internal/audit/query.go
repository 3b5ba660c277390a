// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// scanPage is how many entry records List, Export and Verify read at once:
// up to scanPage*maxSegment entries, usually far fewer.
const scanPage = 100

// Query selects entries. Zero fields select everything.
type Query struct {
	// After and Before bound Time: After <= Time < Before.
	After, Before time.Time
	// Principal, Method and Status must equal the entry's.
	Principal string
	// Resource selects the entries on this resource or anything below it:
	// a key ring's query includes its keys and their versions.
	Resource string
	Method   string
	Status   string
	// AfterSeq selects the entries with a larger seq (for paging).
	AfterSeq int64
	// Limit is the largest number of entries returned; 0 means no limit.
	Limit int
}

func (q *Query) match(e *Entry) bool {
	switch {
	case !q.After.IsZero() && e.Time.Before(q.After),
		!q.Before.IsZero() && !e.Time.Before(q.Before),
		q.Principal != "" && e.Principal != q.Principal,
		q.Method != "" && e.Method != q.Method,
		q.Status != "" && e.Status != q.Status,
		q.Resource != "" && e.Resource != q.Resource && !strings.HasPrefix(e.Resource, strings.TrimSuffix(q.Resource, "/")+"/"):
		return false
	}
	return true
}

// scan calls fn with each entry that q selects, in seq order. Entries are
// authenticated as they are read: one that fails fails the scan with
// DATA_LOSS (run Verify to learn more).
func (l *Log) scan(ctx context.Context, q Query, fn func(*Entry) error) error {
	if q.Limit < 0 {
		return kmserr.InvalidArgument("limit", "must not be negative")
	}
	if q.AfterSeq < 0 {
		return kmserr.InvalidArgument("afterSeq", "must not be negative")
	}
	// The record that holds entry AfterSeq+1 starts at most maxSegment-1
	// entries before it.
	after, n := entryName(max(q.AfterSeq+1-maxSegment, 0)), 0
	for {
		recs, err := l.store.List(ctx, storage.ListOptions{Kind: KindEntry, Parent: ParentEntry, After: after, Limit: scanPage})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return kmserr.Unavailable(err, "the audit log could not be read")
		}
		for _, rec := range recs {
			if err := l.signer.Verify(rec); err != nil {
				return kmserr.DataLoss(err, "audit record %s failed its integrity check", rec.Name)
			}
			first, ok := parseEntryName(rec.Name)
			if !ok {
				return kmserr.DataLoss(nil, "audit record %s is not named after an entry", rec.Name)
			}
			es, err := decodeSegment(first, rec.Data)
			if err != nil {
				return kmserr.DataLoss(err, "audit record %s is malformed", rec.Name)
			}
			for i := range es {
				e := &es[i].e
				if e.Seq <= q.AfterSeq || !q.match(e) {
					continue
				}
				if err := fn(e); err != nil {
					return err
				}
				if n++; q.Limit > 0 && n >= q.Limit {
					return nil
				}
			}
		}
		if len(recs) < scanPage {
			return nil
		}
		after = recs[len(recs)-1].Name
	}
}

// List returns the entries that q selects, in seq order. It scans the
// log from q.AfterSeq; time bounds filter, they do not seek. Errors:
// INVALID_ARGUMENT for a negative limit or afterSeq, DATA_LOSS for an
// entry that fails its integrity check, UNAVAILABLE if the store cannot be
// read.
func (l *Log) List(ctx context.Context, q Query) ([]Entry, error) {
	var out []Entry
	err := l.scan(ctx, q, func(e *Entry) error {
		out = append(out, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Export writes the entries that q selects to w as JSON lines (one
// [Entry] per line, with its hash), in seq order, reading the log a page
// at a time. It returns the first error of the scan (as List) or of w; on
// error, w may hold part of the export.
func (l *Log) Export(ctx context.Context, w io.Writer, q Query) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := l.scan(ctx, q, func(e *Entry) error { return enc.Encode(e) }); err != nil {
		return err
	}
	return bw.Flush()
}
