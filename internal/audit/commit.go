// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// maxAttempts bounds how often a batch is retried when another writer
// (another node on the same store) advanced the head first.
const maxAttempts = 8

// signal wakes the flusher if it is not already due to wake.
func (l *Log) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is the flusher goroutine: it writes the queued entries in batches
// until Close, then writes what is still queued and returns. A batch is
// everything queued while the previous one was being written: the more
// calls wait, the more each commit answers.
func (l *Log) run() {
	defer close(l.stopped)
	var spare []Entry // the previous batch's slice, reused as the next queue
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closing {
			l.mu.Unlock()
			<-l.wake
			l.mu.Lock()
		}
		if len(l.queue) == 0 {
			l.mu.Unlock()
			return
		}
		// Let the goroutines that are ready to run go first: under load,
		// many are calls about to append, which then share this commit.
		// Idle, nothing else is ready and this costs nothing. A batch is
		// not held back once it fills a record.
		for n := len(l.queue); !l.closing && n < maxSegment; n = len(l.queue) {
			l.mu.Unlock()
			runtime.Gosched()
			l.mu.Lock()
			if len(l.queue) == n {
				break
			}
		}
		batch, t := l.queue, l.ticket
		l.queue, l.ticket = spare[:0], newTicket()
		l.mu.Unlock()

		start := time.Now()
		err := l.flush(batch)
		if err != nil {
			err = fmt.Errorf("audit: write %d entries: %w", len(batch), err)
			l.fail(len(batch), err)
		} else {
			l.flushNs.Add(int64(time.Since(start)))
			l.flushes.Add(1)
			l.entries.Add(uint64(len(batch)))
		}
		t.err = err
		close(t.done)
		clear(batch) // let the entries' strings be collected
		spare = batch
	}
}

// prepared is a batch chained from a head: its records and the new head.
type prepared struct {
	from    head
	records []storage.Record
	to      head
	toSum   []byte
}

// prepare chains the batch's entries from h (whose hash is sum) into signed
// records of at most maxSegment entries, numbering them in place. It uses l.chain, so only the
// flusher calls it: on its own goroutine, or inside its Update, which may
// run on the store's goroutine while the flusher waits.
func (l *Log) prepare(batch []Entry, h head, sum []byte) prepared {
	p := prepared{from: h, records: make([]storage.Record, 0, (len(batch)+maxSegment-1)/maxSegment)}
	seq, prev := h.Seq, sum
	var keys []string
	for from := 0; from < len(batch); from += maxSegment {
		seg := batch[from:min(from+maxSegment, len(batch))]
		size := 0
		for i := range seg {
			size += jsonSize(&seg[i])
		}
		data := make([]byte, 0, size)
		for i := range seg {
			e := &seg[i]
			seq++
			e.Seq = seq
			keys = sortedKeys(keys, e.Details)
			prev = l.chain.sum(prev, e, keys)
			if i > 0 {
				data = append(data, '\n')
			}
			data = appendEntryJSON(data, e, keys, prev)
		}
		p.records = append(p.records, segmentRecord(seg[0].Seq, data, l.signer))
	}
	p.to, p.toSum = head{Seq: seq, Hash: hex.EncodeToString(prev)}, prev
	return p
}

// flush writes batch in one transaction, chained from the stored head, and
// retries the whole batch when another writer moved the head first. The
// records are prepared outside the transaction from the head this node
// wrote last, and prepared again inside it only if the stored head is
// another one.
func (l *Log) flush(batch []Entry) error {
	// The batch belongs to many callers: no single caller's ctx may cut
	// it short, or an entry could be half written for the others.
	ctx := context.Background()
	pre := l.prepare(batch, l.last, l.lastHash)
	for attempt := 1; ; attempt++ {
		var done prepared
		var newRev int64
		known := l.lastRev
		err := l.store.Update(ctx, func(tx storage.Tx) error {
			p, rev := pre, known
			if rev < 0 {
				h, sum, r, err := readHead(ctx, tx, l.signer)
				if err != nil {
					return err
				}
				rev = r
				if h != pre.from {
					p = l.prepare(batch, h, sum)
				}
			}
			for _, r := range p.records {
				if err := tx.Create(ctx, r); err != nil {
					return fmt.Errorf("create %s: %w", r.Name, err)
				}
			}
			data, err := json.Marshal(p.to)
			if err != nil {
				return err
			}
			hr := storage.Record{Kind: KindSystem, Name: HeadName, Data: data, Rev: rev}
			l.signer.Sign(&hr)
			if rev == 0 {
				err = tx.Create(ctx, hr)
			} else {
				err = tx.Put(ctx, hr)
			}
			if err != nil {
				return fmt.Errorf("write the head: %w", err)
			}
			done, newRev = p, rev+1
			return nil
		})
		if err == nil {
			l.last, l.lastHash, l.lastRev = done.to, done.toSum, newRev
			return nil
		}
		// Another writer moved the head (or the commit failed): read it
		// inside the next attempt.
		l.lastRev = -1
		if attempt == maxAttempts || !(errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrExists)) {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
}

// readHead reads and authenticates the head record. A missing head is the
// head of an empty log. rev is the record's revision (0 if missing). An
// altered head fails with an error wrapping ErrBroken.
func readHead(ctx context.Context, r storage.Reader, signer Signer) (h head, sum []byte, rev int64, err error) {
	rec, err := r.Get(ctx, HeadName)
	if errors.Is(err, storage.ErrNotFound) {
		return head{Hash: hex.EncodeToString(zeroHash)}, zeroHash, 0, nil
	}
	if err != nil {
		return head{}, nil, 0, fmt.Errorf("read the head: %w", err)
	}
	if err := signer.Verify(rec); err != nil {
		return head{}, nil, 0, fmt.Errorf("%w: head: %w", ErrBroken, err)
	}
	if rec.Kind != KindSystem || rec.Parent != "" {
		return head{}, nil, 0, fmt.Errorf("%w: head record has kind %q, parent %q", ErrBroken, rec.Kind, rec.Parent)
	}
	h, sum, err = decodeHead(rec.Data)
	if err != nil {
		return head{}, nil, 0, fmt.Errorf("%w: %w", ErrBroken, err)
	}
	if h.Seq == 0 && !bytes.Equal(sum, zeroHash) {
		return head{}, nil, 0, fmt.Errorf("%w: head at 0 with a hash", ErrBroken)
	}
	return h, sum, rec.Rev, nil
}
