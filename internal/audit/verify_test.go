// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/custos-kms/custos/internal/storage"
)

// mutate rewrites one stored record in place, as someone with write access
// to the database would.
func mutate(t *testing.T, f *fixture, name string, fn func(r *storage.Record)) {
	t.Helper()
	ctx := context.Background()
	err := f.store.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.Get(ctx, name)
		if err != nil {
			return err
		}
		fn(&r)
		return tx.Put(ctx, r)
	})
	if err != nil {
		t.Fatalf("mutate %s: %v", name, err)
	}
}

// setField changes one JSON field of an entry record's Data.
func setField(t *testing.T, r *storage.Record, field string, v any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Data, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = v
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r.Data = b
}

func deleteRecords(t *testing.T, f *fixture, names ...string) {
	t.Helper()
	ctx := context.Background()
	err := f.store.Update(ctx, func(tx storage.Tx) error {
		for _, n := range names {
			if err := tx.Delete(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getRecord(t *testing.T, f *fixture, name string) storage.Record {
	t.Helper()
	r, err := f.store.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get(%s) = %v", name, err)
	}
	return r
}

// swap exchanges the Data and MAC of entries k and k+1; resign re-signs
// them, as an attacker holding the record MAC key would.
func swap(t *testing.T, f *fixture, k int64, resign bool) {
	a, b := getRecord(t, f, entryName(k)), getRecord(t, f, entryName(k+1))
	ctx := context.Background()
	err := f.store.Update(ctx, func(tx storage.Tx) error {
		a.Data, b.Data = b.Data, a.Data
		a.MAC, b.MAC = b.MAC, a.MAC
		if resign {
			f.ks.Sign(&a)
			f.ks.Sign(&b)
		}
		if err := tx.Put(ctx, a); err != nil {
			return err
		}
		return tx.Put(ctx, b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	const n = 10
	tests := []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		wantOK  bool
		wantBad int64
		// wantEntries is the number of entries proven good.
		wantEntries int64
	}{
		{
			name:   "untouched log verifies",
			tamper: func(*testing.T, *fixture) {}, wantOK: true, wantEntries: n,
		},
		{
			name: "field changed, MAC kept",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(4), func(r *storage.Record) { setField(t, r, "principal", "someone-else") })
			},
			wantBad: 4, wantEntries: 3,
		},
		{
			name: "field changed and re-signed with the MAC key",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(4), func(r *storage.Record) {
					setField(t, r, "status", "OK")
					setField(t, r, "method", "GetCryptoKey")
					f.ks.Sign(r)
				})
			},
			wantBad: 4, wantEntries: 3,
		},
		{
			name: "detail added and re-signed",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(7), func(r *storage.Record) {
					setField(t, r, "details", map[string]string{"x": "y"})
					f.ks.Sign(r)
				})
			},
			wantBad: 7, wantEntries: 6,
		},
		{
			name: "unknown field added and re-signed",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(2), func(r *storage.Record) {
					setField(t, r, "note", "harmless")
					f.ks.Sign(r)
				})
			},
			wantBad: 2, wantEntries: 1,
		},
		{
			name:    "entry deleted",
			tamper:  func(t *testing.T, f *fixture) { deleteRecords(t, f, entryName(4)) },
			wantBad: 4, wantEntries: 3,
		},
		{
			name:    "first entry deleted",
			tamper:  func(t *testing.T, f *fixture) { deleteRecords(t, f, entryName(1)) },
			wantBad: 1, wantEntries: 0,
		},
		{
			name:    "entries swapped",
			tamper:  func(t *testing.T, f *fixture) { swap(t, f, 4, false) },
			wantBad: 4, wantEntries: 3,
		},
		{
			name:    "entries swapped and re-signed",
			tamper:  func(t *testing.T, f *fixture) { swap(t, f, 4, true) },
			wantBad: 4, wantEntries: 3,
		},
		{
			name: "entries swapped, renumbered and re-signed",
			tamper: func(t *testing.T, f *fixture) {
				swap(t, f, 4, true)
				mutate(t, f, entryName(4), func(r *storage.Record) { setField(t, r, "seq", 4); f.ks.Sign(r) })
				mutate(t, f, entryName(5), func(r *storage.Record) { setField(t, r, "seq", 5); f.ks.Sign(r) })
			},
			wantBad: 4, wantEntries: 3,
		},
		{
			name: "last 3 entries truncated",
			tamper: func(t *testing.T, f *fixture) {
				deleteRecords(t, f, entryName(n-2), entryName(n-1), entryName(n))
			},
			wantBad: n - 2, wantEntries: n - 3,
		},
		{
			name: "head rolled back to an older copy",
			tamper: func(t *testing.T, f *fixture) {
				old := oldHead(t, f, 6)
				mutate(t, f, HeadName, func(r *storage.Record) { r.Data, r.MAC = old.Data, old.MAC })
			},
			wantBad: 7, wantEntries: n,
		},
		{
			name:    "head deleted",
			tamper:  func(t *testing.T, f *fixture) { deleteRecords(t, f, HeadName) },
			wantBad: 1, wantEntries: n,
		},
		{
			name: "head altered",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, HeadName, func(r *storage.Record) { r.Data = []byte(`{"seq":10,"hash":"00"}`) })
			},
			wantBad: 0, wantEntries: n,
		},
		{
			name: "head re-signed with another hash",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, HeadName, func(r *storage.Record) {
					r.Data = fmt.Appendf(nil, `{"seq":%d,"hash":"%064x"}`, n, 1)
					f.ks.Sign(r)
				})
			},
			wantBad: n, wantEntries: n,
		},
		{
			name: "entry appended without the chain key",
			tamper: func(t *testing.T, f *fixture) {
				r := getRecord(t, f, entryName(n))
				r.Name, r.Rev = entryName(n+1), 0
				setField(t, &r, "seq", n+1)
				f.ks.Sign(&r)
				ctx := context.Background()
				if err := f.store.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, r) }); err != nil {
					t.Fatal(err)
				}
			},
			wantBad: n + 1, wantEntries: n,
		},
		{
			name: "stray record among the entries",
			tamper: func(t *testing.T, f *fixture) {
				r := storage.Record{Kind: KindEntry, Parent: ParentEntry, Name: "audit/00000000000000000004x", Data: []byte("{}")}
				f.ks.Sign(&r)
				ctx := context.Background()
				if err := f.store.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, r) }); err != nil {
					t.Fatal(err)
				}
			},
			wantBad: 5, wantEntries: 4,
		},
		{
			// The known limit of verifying the database alone: this is
			// what the head written to the server log is for.
			name: "tail truncated with the head rolled back is not visible",
			tamper: func(t *testing.T, f *fixture) {
				old := oldHead(t, f, 7)
				deleteRecords(t, f, entryName(8), entryName(9), entryName(10))
				mutate(t, f, HeadName, func(r *storage.Record) { r.Data, r.MAC = old.Data, old.MAC })
			},
			wantOK: true, wantEntries: 7,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.heads = map[int64]storage.Record{}
			for i := range n {
				appendN(t, f.log, i, 1)
				f.heads[int64(i+1)] = getRecord(t, f, HeadName)
			}
			f.log.Close()
			tc.tamper(t, f)
			got := f.verify(t)
			if got.OK != tc.wantOK || got.FirstBadSeq != tc.wantBad || got.Entries != tc.wantEntries {
				t.Errorf("Verify = %+v, want OK %v, FirstBadSeq %d, Entries %d", got, tc.wantOK, tc.wantBad, tc.wantEntries)
			}
			if !got.OK && got.Problem == "" {
				t.Error("Verify reports a problem without saying what it is")
			}
			t.Logf("problem: %s", got.Problem)
		})
	}
}

// oldHead returns the head record as it was after entry seq.
func oldHead(t *testing.T, f *fixture, seq int64) storage.Record {
	t.Helper()
	r, ok := f.heads[seq]
	if !ok {
		t.Fatalf("no head saved at %d", seq)
	}
	return r
}

// TestVerifyWhileAppending runs Verify on a log that grows meanwhile: it
// must never report a log that is only growing as broken.
func TestVerifyWhileAppending(t *testing.T) {
	f := newFixture(t)
	appendN(t, f.log, 0, 50)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			if err := f.log.Append(context.Background(), testEntry(i)); err != nil {
				t.Errorf("Append = %v", err)
				return
			}
		}
	}()
	for range 20 {
		if rep := f.verify(t); !rep.OK {
			t.Errorf("Verify during appends = %+v", rep)
		}
	}
	cancel()
	<-done
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	const n = 20000
	ctx := context.Background()
	for i := 0; i < n; {
		// Append in parallel bursts so that the setup is quick.
		errs := make(chan error, 500)
		for j := 0; j < 500; j++ {
			go func() { errs <- f.log.Append(ctx, testEntry(i+j)) }()
		}
		for range 500 {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		i += 500
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(ctx, f.store, f.ks, f.chainKey)
		if err != nil || !rep.OK {
			b.Fatalf("Verify = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
