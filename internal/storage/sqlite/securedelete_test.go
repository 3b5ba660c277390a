// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// TestReplacedDataLeavesTheFile: bytes that a Put replaced or a Delete
// removed are in no file of the store once Scrub has returned, the store
// still open, nor once it is closed. The core erases a destroyed
// version's material by rewriting its record; SQLite would otherwise leave
// the old cell in the page's free space, the old overflow pages on the
// freelist, and the old page images in the WAL.
func TestReplacedDataLeavesTheFile(t *testing.T) {
	for _, closed := range []bool{false, true} {
		t.Run(map[bool]string{false: "scrubbed", true: "closed"}[closed], func(t *testing.T) {
			testReplacedDataLeavesTheFile(t, closed)
		})
	}
}

func testReplacedDataLeavesTheFile(t *testing.T, closed bool) {
	s, path := openTemp(t)
	secret := func(n int) []byte {
		b := make([]byte, n/2)
		rand.Read(b)
		return []byte(hex.EncodeToString(b))
	}
	var gone [][]byte
	for i, size := range []int{64, 600, 20_000} { // in a page; in a page; overflow pages
		put, del := testRecord("put/"+string(rune('a'+i))), testRecord("del/"+string(rune('a'+i)))
		put.Data, del.Data = secret(size), secret(size)
		gone = append(gone, put.Data, del.Data)
		update(t, s, func(tx storage.Tx) error {
			if err := tx.Create(t.Context(), put); err != nil {
				return err
			}
			return tx.Create(t.Context(), del)
		})
		put.Data = []byte("erased")
		update(t, s, func(tx storage.Tx) error {
			if err := tx.Put(t.Context(), put); err != nil {
				return err
			}
			return tx.Delete(t.Context(), del.Name)
		})
	}
	if closed {
		err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
	} else if err := s.Scrub(t.Context()); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gone {
			// 32 bytes in the middle: the whole of each page's share.
			if w := g[len(g)/2-16 : len(g)/2+16]; bytes.Contains(b, w) {
				t.Errorf("%s holds bytes of a %d-byte value that was replaced or deleted", ent.Name(), len(g))
			}
		}
	}
}

// TestScrubBetweenBatches: Scrub runs between batches while updates go on:
// every update and every scrub succeeds, every write is kept, and the WAL
// is empty after the last scrub.
func TestScrubBetweenBatches(t *testing.T) {
	s, path := openTemp(t)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each+10)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := testRecord(fmt.Sprintf("w%d/%d", w, i))
				errs <- s.Update(t.Context(), func(tx storage.Tx) error { return tx.Create(t.Context(), r) })
			}
		}()
	}
	for range 10 {
		errs <- s.Scrub(t.Context())
	}
	wg.Wait()
	if err := s.Scrub(t.Context()); err != nil {
		t.Fatalf("Scrub() = %v", err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("an update or scrub failed: %v", err)
		}
	}
	recs, err := s.List(t.Context(), storage.ListOptions{Kind: "test.CryptoKey", Parent: "parent"})
	if err != nil || len(recs) != writers*each {
		t.Fatalf("List() = %d records, %v; want %d", len(recs), err, writers*each)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("the WAL after Scrub: %v, %v; want it empty", fi, err)
	}
}

// TestScrubGivesWayToAReader: a reader on an old snapshot keeps the WAL:
// Scrub waits for it only a moment, fails with ErrUnavailable (the writes
// queued behind it go on), and succeeds once the reader has left.
func TestScrubGivesWayToAReader(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	update(t, s, func(tx storage.Tx) error { return tx.Create(ctx, testRecord("a")) })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rtx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow("SELECT count(*) FROM records").Scan(&n); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	update(t, s, func(tx storage.Tx) error { return tx.Create(ctx, testRecord("b")) })
	start := time.Now()
	if err := s.Scrub(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Scrub with a reader on an old snapshot = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Scrub waited %v for the reader", d)
	}
	update(t, s, func(tx storage.Tx) error { return tx.Create(ctx, testRecord("c")) })
	rtx.Rollback()
	if err := s.Scrub(ctx); err != nil {
		t.Fatalf("Scrub after the reader left = %v", err)
	}
}
