// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/storage"
)

// sampleSum is a 32-byte chain hash for encoding tests.
var sampleSum = bytes.Repeat([]byte{0xab}, hashSize)

func TestAppendEntryJSONDecodes(t *testing.T) {
	tricky := []string{
		"", "plain", `quote " and backslash \`, "newline\nreturn\rtab\t", "\x00\x01\x1f\x7f",
		"<script>&amp;</script>", "é, 日本, 🔑", "\u2028\u2029", "\ufffd",
	}
	for _, s := range tricky {
		e := Entry{
			Seq: 42, Time: time.Date(2026, 11, 25, 14, 0, 0, 123456789, time.UTC),
			Principal: s, AuthMethod: s, Method: s, Resource: s, Status: s, RequestID: s,
			ClientAddress: s, Justification: s, Details: map[string]string{s + "k": s, "b": "2", "a": s},
		}
		sanitize(&e)
		data := appendEntryJSON(nil, &e, sortedKeys(nil, e.Details), sampleSum)
		if !json.Valid(data) || bytes.ContainsRune(data, '\n') {
			t.Fatalf("appendEntryJSON(%q) = %s: not one line of JSON", s, data)
		}
		got, sum, err := decodeEntry(data)
		if err != nil {
			t.Fatalf("decodeEntry(appendEntryJSON(%q)) = %v; data %s", s, err, data)
		}
		want := e
		want.Hash = strings.Repeat("ab", hashSize)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("entry with %q changed through appendEntryJSON (-want +got):\n%s", s, diff)
		}
		if !bytes.Equal(sum, sampleSum) {
			t.Errorf("hash %x, want %x", sum, sampleSum)
		}
		// The same object as encoding/json writes, field for field.
		var a, b map[string]any
		std, _ := json.Marshal(&want)
		json.Unmarshal(std, &a)
		json.Unmarshal(data, &b)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("appendEntryJSON and json.Marshal differ for %q (-json +append):\n%s", s, diff)
		}
	}
	// A string that sanitize did not see is still written as valid JSON.
	if got := appendJSONString(nil, "a\xffb"); string(got) != "\"a\uFFFDb\"" {
		t.Errorf("appendJSONString(invalid UTF-8) = %q", got)
	}
}

// FuzzAppendEntryJSON checks that every entry Append can store decodes
// back to itself, with the same chain hash.
func FuzzAppendEntryJSON(f *testing.F) {
	f.Add("app:billing", "projects/p/locations/l/keyRings/r", "k", "v", int64(1))
	f.Add("\"\\\n\x00", "\xff\xfe", "\u2028", "<>&", int64(1<<62))
	f.Fuzz(func(t *testing.T, principal, res, k, v string, ns int64) {
		e := Entry{Seq: 7, Time: time.Unix(0, ns), Principal: principal, Resource: res, Method: k, Details: map[string]string{k: v}}
		sanitize(&e)
		if y := e.Time.Year(); y < 1 || y > 9999 {
			return
		}
		data := appendEntryJSON(nil, &e, sortedKeys(nil, e.Details), sampleSum)
		got, _, err := decodeEntry(data)
		if err != nil {
			t.Fatalf("decodeEntry(%s) = %v", data, err)
		}
		c := newChainer(make([]byte, 32))
		if !bytes.Equal(c.sum(zeroHash, &e, sortedKeys(nil, e.Details)), c.sum(zeroHash, &got, sortedKeys(nil, got.Details))) {
			t.Fatalf("entry %+v came back as %+v", e, got)
		}
	})
}

// appendTogether writes entries from..from+n-1 in one batch: one record
// when n <= maxSegment.
func appendTogether(t testing.TB, l *Log, from, n int) {
	t.Helper()
	es := make([]Entry, n)
	for i := range es {
		es[i] = testEntry(from + i)
	}
	if err := l.append(context.Background(), es...); err != nil {
		t.Fatalf("append of %d entries = %v", n, err)
	}
}

// entryRecords returns the names of the entry records in order.
func entryRecords(t *testing.T, f *fixture) []string {
	t.Helper()
	recs, err := f.store.List(context.Background(), storage.ListOptions{Kind: KindEntry, Parent: ParentEntry})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	return names
}

func TestSegments(t *testing.T) {
	f := newFixture(t)
	appendN(t, f.log, 0, 2)                      // 1, 2
	appendTogether(t, f.log, 2, 5)               // 3..7
	appendTogether(t, f.log, 7, maxSegment+3)    // 8..519, 520..522
	appendN(t, f.log, maxSegment+10, 1)          // 523
	appendTogether(t, f.log, maxSegment+11, 4)   // 524..527
	const total = 2 + 5 + maxSegment + 3 + 1 + 4 // 527

	want := []string{entryName(1), entryName(2), entryName(3), entryName(8), entryName(8 + maxSegment), entryName(523), entryName(524)}
	if diff := cmp.Diff(want, entryRecords(t, f)); diff != "" {
		t.Fatalf("entry records (-want +got):\n%s", diff)
	}
	if rep := f.verify(t); !rep.OK || rep.Entries != total {
		t.Fatalf("Verify = %+v, want OK with %d entries", rep, total)
	}
	if entries, commits, took := f.log.Written(); entries != total || commits != 6 || took <= 0 {
		t.Errorf("Written() = %d entries in %d commits taking %v, want %d in 6 (the batch of %d entries is one commit of two records), taking some time", entries, commits, took, total, maxSegment+3)
	}

	// A restart checks the head against the last entry of a record of
	// several, and goes on from there.
	f.log.Close()
	l := f.open(t)
	appendN(t, l, 1000, 1)
	if rep := f.verify(t); !rep.OK || rep.Entries != total+1 {
		t.Fatalf("Verify after a restart = %+v, want OK with %d entries", rep, total+1)
	}

	// Lists page from any seq, inside a record or not.
	ctx := context.Background()
	for _, after := range []int64{0, 1, 2, 4, 7, 8, 300, 519, 520, 521, 526, 527, 528} {
		got, err := l.List(ctx, Query{AfterSeq: after, Limit: 3})
		if err != nil {
			t.Fatalf("List(after %d) = %v", after, err)
		}
		var seqs []int64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		var want []int64
		for s := after + 1; s <= total+1 && len(want) < 3; s++ {
			want = append(want, s)
		}
		if diff := cmp.Diff(want, seqs); diff != "" {
			t.Errorf("List(after %d, limit 3) seqs (-want +got):\n%s", after, diff)
		}
	}
	var buf bytes.Buffer
	if err := l.Export(ctx, &buf, Query{}); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte{'\n'}); n != total+1 {
		t.Errorf("Export wrote %d lines, want %d", n, total+1)
	}
}

// editLine rewrites entry i (from 0) of a record's data with fn.
func editLine(t *testing.T, r *storage.Record, i int, fn func(m map[string]any)) {
	t.Helper()
	lines := bytes.Split(r.Data, []byte{'\n'})
	var m map[string]any
	if err := json.Unmarshal(lines[i], &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	lines[i] = b
	r.Data = bytes.Join(lines, []byte{'\n'})
}

func TestVerifyDetectsTamperingInSegments(t *testing.T) {
	// Entries 1..3 alone, 4..8 in one record, 9..10 in one record.
	tests := []struct {
		name        string
		tamper      func(t *testing.T, f *fixture)
		wantBad     int64
		wantEntries int64
	}{
		{
			name: "entry inside a record changed, MAC kept",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(4), func(r *storage.Record) {
					editLine(t, r, 2, func(m map[string]any) { m["principal"] = "eve" })
				})
			},
			wantBad: 6, wantEntries: 5,
		},
		{
			name: "entry inside a record changed and re-signed",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(4), func(r *storage.Record) {
					editLine(t, r, 3, func(m map[string]any) { m["status"] = "PERMISSION_DENIED" })
					f.ks.Sign(r)
				})
			},
			wantBad: 7, wantEntries: 6,
		},
		{
			name: "entry removed from inside a record and re-signed",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(4), func(r *storage.Record) {
					lines := bytes.Split(r.Data, []byte{'\n'})
					r.Data = bytes.Join(append(lines[:1:1], lines[2:]...), []byte{'\n'})
					f.ks.Sign(r)
				})
			},
			wantBad: 5, wantEntries: 4,
		},
		{
			name: "only the MAC of a record changed",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(4), func(r *storage.Record) { r.MAC = bytes.Repeat([]byte{1}, len(r.MAC)) })
			},
			wantBad: 4, wantEntries: 3,
		},
		{
			name:    "a record of several entries deleted",
			tamper:  func(t *testing.T, f *fixture) { deleteRecords(t, f, entryName(4)) },
			wantBad: 4, wantEntries: 3,
		},
		{
			name:    "last record deleted",
			tamper:  func(t *testing.T, f *fixture) { deleteRecords(t, f, entryName(9)) },
			wantBad: 9, wantEntries: 8,
		},
		{
			name: "head rolled back into the middle of the last record",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, HeadName, func(r *storage.Record) {
					rec := getRecord(t, f, entryName(9))
					es, err := decodeSegment(9, rec.Data)
					if err != nil {
						t.Fatal(err)
					}
					r.Data, _ = json.Marshal(head{Seq: 9, Hash: es[0].e.Hash})
					f.ks.Sign(r)
				})
			},
			wantBad: 10, wantEntries: 10,
		},
		{
			name: "more entries in a record than allowed",
			tamper: func(t *testing.T, f *fixture) {
				mutate(t, f, entryName(9), func(r *storage.Record) {
					r.Data = bytes.Repeat(append(r.Data, '\n'), maxSegment)
					f.ks.Sign(r)
				})
			},
			wantBad: 9, wantEntries: 8,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			appendN(t, f.log, 0, 3)
			appendTogether(t, f.log, 3, 5)
			appendTogether(t, f.log, 8, 2)
			if rep := f.verify(t); !rep.OK || rep.Entries != 10 {
				t.Fatalf("Verify before tampering = %+v", rep)
			}
			f.log.Close()
			tc.tamper(t, f)
			got := f.verify(t)
			if got.OK || got.FirstBadSeq != tc.wantBad || got.Entries != tc.wantEntries || got.Problem == "" {
				t.Errorf("Verify = %+v, want not OK, FirstBadSeq %d, Entries %d, a problem", got, tc.wantBad, tc.wantEntries)
			}
			t.Logf("problem: %s", got.Problem)
			// A server does not start on a log whose last record is broken,
			// nor on a head that names an entry inside the last record.
			if tc.wantBad >= 9 {
				if _, err := Open(context.Background(), f.store, f.ks, f.chainKey, nil); err == nil {
					t.Error("Open succeeded on a log whose last record is broken")
				}
			}
		})
	}
}

// TestLogWrittenOneRecordPerEntry opens a log as the first version wrote
// it, one record per entry encoded by encoding/json (which escapes <, >
// and &), and checks that it verifies and that appends go on from it.
func TestLogWrittenOneRecordPerEntry(t *testing.T) {
	f := newFixture(t)
	f.log.Close()
	ctx := context.Background()
	c := newChainer(f.chainKey)
	prev := zeroHash
	const n = 5
	err := f.store.Update(ctx, func(tx storage.Tx) error {
		for seq := int64(1); seq <= n; seq++ {
			e := testEntry(int(seq))
			e.Seq, e.Time = seq, time.Date(2026, 11, 1, 0, 0, int(seq), 0, time.UTC)
			e.Details = map[string]string{"note": "<&>"}
			prev = c.sum(prev, &e, sortedKeys(nil, e.Details))
			e.Hash = fmt.Sprintf("%x", prev)
			data, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			r := storage.Record{Kind: KindEntry, Name: entryName(seq), Parent: ParentEntry, Data: data}
			f.ks.Sign(&r)
			if err := tx.Create(ctx, r); err != nil {
				return err
			}
		}
		data, _ := json.Marshal(head{Seq: n, Hash: fmt.Sprintf("%x", prev)})
		h := storage.Record{Kind: KindSystem, Name: HeadName, Data: data}
		f.ks.Sign(&h)
		return tx.Create(ctx, h)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(getRecord(t, f, entryName(1)).Data, []byte(`\u003c`)) {
		t.Fatal("the old encoding is not what this test meant to write")
	}
	l := f.open(t)
	appendTogether(t, l, 100, 3)
	if rep := f.verify(t); !rep.OK || rep.Entries != n+3 {
		t.Fatalf("Verify = %+v, want OK with %d entries", rep, n+3)
	}
	got, err := l.List(ctx, Query{AfterSeq: 3})
	if err != nil || len(got) != n+3-3 || got[0].Details["note"] != "<&>" {
		t.Fatalf("List(after 3) = %d entries (%v), first %+v", len(got), err, got)
	}
}
