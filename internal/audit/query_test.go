// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

func TestListAndExport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	entries := []Entry{
		{Time: t0, Principal: "admin", Method: "CreateKeyRing", Resource: loc, Status: "OK"},
		{Time: t0.Add(1 * time.Hour), Principal: "admin", Method: "CreateCryptoKey", Resource: ring, Status: "OK"},
		{Time: t0.Add(2 * time.Hour), Principal: "app:a", Method: "Encrypt", Resource: key, Status: "OK"},
		{Time: t0.Add(3 * time.Hour), Principal: "app:a", Method: "Decrypt", Resource: version, Status: "PERMISSION_DENIED"},
		{Time: t0.Add(4 * time.Hour), Principal: "app:b", Method: "Encrypt", Resource: ring2 + "/cryptoKeys/k", Status: "OK"},
		{Time: t0.Add(5 * time.Hour), Principal: "app:b", Method: "Encrypt", Resource: key2, Status: "NOT_FOUND"},
	}
	for _, e := range entries {
		if err := f.log.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		q    Query
		want []int64
	}{
		{"everything", Query{}, []int64{1, 2, 3, 4, 5, 6}},
		{"principal", Query{Principal: "app:a"}, []int64{3, 4}},
		{"method", Query{Method: "Encrypt"}, []int64{3, 5, 6}},
		{"status", Query{Status: "PERMISSION_DENIED"}, []int64{4}},
		{"a key ring includes its keys and versions", Query{Resource: ring}, []int64{2, 3, 4, 6}},
		{"a key ring does not include a ring with a longer name", Query{Resource: ring2}, []int64{5}},
		{"a key includes its versions", Query{Resource: key}, []int64{3, 4}},
		{"the location", Query{Resource: loc}, []int64{1, 2, 3, 4, 5, 6}},
		{"after is inclusive", Query{After: t0.Add(2 * time.Hour)}, []int64{3, 4, 5, 6}},
		{"before is exclusive", Query{Before: t0.Add(2 * time.Hour)}, []int64{1, 2}},
		{"time window", Query{After: t0.Add(time.Hour), Before: t0.Add(3 * time.Hour)}, []int64{2, 3}},
		{"afterSeq", Query{AfterSeq: 4}, []int64{5, 6}},
		{"limit", Query{Limit: 2}, []int64{1, 2}},
		{"limit after filter", Query{Method: "Encrypt", Limit: 2}, []int64{3, 5}},
		{"combined", Query{Principal: "app:b", Status: "OK", Resource: ring2}, []int64{5}},
		{"nothing matches", Query{Principal: "nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.log.List(ctx, tc.q)
			if err != nil {
				t.Fatalf("List(%+v) = %v", tc.q, err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if !slices.Equal(seqs, tc.want) {
				t.Errorf("List(%+v) = seqs %v, want %v", tc.q, seqs, tc.want)
			}

			var buf bytes.Buffer
			if err := f.log.Export(ctx, &buf, tc.q); err != nil {
				t.Fatalf("Export(%+v) = %v", tc.q, err)
			}
			var lines []int64
			sc := bufio.NewScanner(&buf)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("export line %q: %v", sc.Text(), err)
				}
				for _, k := range []string{"seq", "time", "principal", "authMethod", "method", "resource", "status", "requestId", "clientAddress", "justification"} {
					if _, ok := m[k]; !ok {
						t.Errorf("export line %q lacks %q", sc.Text(), k)
					}
				}
				lines = append(lines, int64(m["seq"].(float64)))
			}
			if !slices.Equal(lines, tc.want) {
				t.Errorf("Export(%+v) = seqs %v, want %v", tc.q, lines, tc.want)
			}
		})
	}
	for _, q := range []Query{{Limit: -1}, {AfterSeq: -1}} {
		if _, err := f.log.List(ctx, q); kmserr.Code(err) != codes.InvalidArgument {
			t.Errorf("List(%+v) = %v, want INVALID_ARGUMENT", q, err)
		}
	}
}

// TestListPages lists more entries than one page holds.
func TestListPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = scanPage + scanPage/2
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- f.log.Append(ctx, testEntry(i)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.log.List(ctx, Query{})
	if err != nil || len(got) != n {
		t.Fatalf("List = %d entries, %v; want %d", len(got), err, n)
	}
	got, err = f.log.List(ctx, Query{AfterSeq: scanPage - 2, Limit: 5})
	if err != nil || len(got) != 5 || got[0].Seq != scanPage-1 || got[4].Seq != scanPage+3 {
		t.Errorf("List across a page boundary = %+v, %v", got, err)
	}
	if rep := f.verify(t); !rep.OK || rep.Entries != n {
		t.Errorf("Verify = %+v", rep)
	}
}

func TestListRefusesAlteredEntry(t *testing.T) {
	f := newFixture(t)
	appendN(t, f.log, 0, 3)
	mutate(t, f, entryName(2), func(r *storage.Record) { setField(t, r, "principal", "x") })
	if _, err := f.log.List(context.Background(), Query{}); kmserr.Code(err) != codes.DataLoss {
		t.Errorf("List with an altered entry = %v, want DATA_LOSS", err)
	}
}
