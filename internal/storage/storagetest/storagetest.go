// SPDX-License-Identifier: Apache-2.0

// Package storagetest is the conformance suite that every [storage.Store]
// backend passes.
//
// A backend's test calls [Run] with a function that opens a fresh, empty
// store for each subtest:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// # What the suite pins down
//
// Besides the contract written on [storage.Store] and [storage.Tx], the
// suite fixes a few points the interface leaves implicit, so that every
// backend behaves the same:
//
//   - Names compare byte by byte (SQLite's BINARY collation, PostgreSQL's
//     COLLATE "C"), never by locale.
//   - Create ignores the caller's Rev and stores Rev 1.
//   - Put with a non-zero Rev of a missing name fails with ErrConflict: the
//     caller read a revision that no longer exists.
//   - ErrExists and ErrConflict leave the transaction usable: the function
//     may handle them and go on writing.
//   - ListDue never returns a record whose Due is 0 or negative.
//   - Nil and empty Data or MAC are the same value: both read back empty.
//   - Store reads do not see writes of a transaction that has not
//     committed, and do not wait for it.
//   - Close may be called twice; the second call must not panic.
//
// # Hazards
//
// The functions passed to Update may run on a goroutine other than the
// test's, so they never call t.Fatal; they return errors instead.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/custos-kms/custos/internal/storage"
)

// Run runs the conformance suite against the stores made by newStore.
// newStore must return a new, empty store each time it is called and
// arrange (with t.Cleanup) for the store to be closed when the test ends;
// the suite may close it earlier itself.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"create and get", testCreateGet},
		{"get missing", testGetMissing},
		{"create existing", testCreateExisting},
		{"put", testPut},
		{"put revisions increase by one", testPutRevisions},
		{"delete", testDelete},
		{"list", testList},
		{"list pagination", testListPagination},
		{"list name order is bytewise", testListOrder},
		{"walk reads every record", testWalk},
		{"list due", testListDue},
		{"list due follows put", testListDueFollowsPut},
		{"update rollback", testUpdateRollback},
		{"update failure is per call", testUpdateFailureIsPerCall},
		{"update canceled context", testUpdateCanceled},
		{"tx sees its own writes", testTxOwnWrites},
		{"uncommitted writes are invisible", testUncommittedInvisible},
		{"concurrent read-modify-write", testConcurrentCounter},
		{"concurrent creates", testConcurrentCreates},
		{"concurrent creates of one name", testConcurrentCreateSameName},
		{"bytes round-trip", testRoundTrip},
		{"returned bytes are not shared", testNoAliasing},
		{"close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

const (
	kindRing storage.Kind = "test.KeyRing"
	kindKey  storage.Kind = "test.CryptoKey"
)

var (
	// errBoom is what update functions return to abort their transaction.
	errBoom = errors.New("storagetest: boom")

	// equateEmpty makes nil and empty byte slices equal: the store treats
	// Data and MAC as opaque values, and "no bytes" has one meaning.
	equateEmpty = cmpopts.EquateEmpty()
)

// rec returns a record whose Data and MAC are derived from its name, so that
// a record read back under another name is caught.
func rec(kind storage.Kind, name, parent string, due int64) storage.Record {
	return storage.Record{
		Kind:   kind,
		Name:   name,
		Parent: parent,
		Due:    due,
		Data:   []byte("data:" + name),
		MAC:    []byte("mac:" + name),
	}
}

// withRev returns r as the store should hold it at revision rev.
func withRev(r storage.Record, rev int64) storage.Record {
	r.Rev = rev
	return r
}

// update runs fn in s.Update and fails the test if Update fails.
func update(t *testing.T, s storage.Store, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
}

// create stores rs, all in one transaction.
func create(t *testing.T, s storage.Store, rs ...storage.Record) {
	t.Helper()
	update(t, s, func(tx storage.Tx) error {
		for _, r := range rs {
			if err := tx.Create(t.Context(), r); err != nil {
				return fmt.Errorf("Create(%q): %w", r.Name, err)
			}
		}
		return nil
	})
}

// mustGet returns the stored record with that name.
func mustGet(t *testing.T, r storage.Reader, name string) storage.Record {
	t.Helper()
	got, err := r.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want nil error", name, err)
	}
	return got
}

// wantMissing fails the test unless r has no record with that name.
func wantMissing(t *testing.T, r storage.Reader, name string) {
	t.Helper()
	if got, err := r.Get(t.Context(), name); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", name, got, err)
	}
}

// wantRecord fails the test unless r holds want under want.Name.
func wantRecord(t *testing.T, r storage.Reader, want storage.Record) {
	t.Helper()
	got, err := r.Get(t.Context(), want.Name)
	if err != nil {
		t.Errorf("Get(%q) = %v, want nil error", want.Name, err)
		return
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("Get(%q) mismatch (-want +got):\n%s", want.Name, diff)
	}
}

func names(rs []storage.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func testCreateGet(t *testing.T, s storage.Store) {
	r := rec(kindKey, "projects/p/locations/l/keyRings/r/cryptoKeys/k", "projects/p/locations/l/keyRings/r", 42)
	// Create ignores the caller's revision: a new record is always at 1.
	r.Rev = 7
	create(t, s, r)
	wantRecord(t, s, withRev(r, 1))
}

func testGetMissing(t *testing.T, s storage.Store) {
	create(t, s, rec(kindRing, "rings/a", "", 0))
	wantMissing(t, s, "rings/b")
	wantMissing(t, s, "rings/")
	wantMissing(t, s, "")
	update(t, s, func(tx storage.Tx) error {
		if _, err := tx.Get(t.Context(), "rings/b"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("tx.Get(missing) = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testCreateExisting(t *testing.T, s storage.Store) {
	orig := rec(kindRing, "rings/a", "", 0)
	create(t, s, orig)

	dup := rec(kindKey, "rings/a", "other", 5)
	dup.Data = []byte("other data")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Create(t.Context(), dup)
	})
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("Update(Create(existing)) = %v, want ErrExists", err)
	}
	wantRecord(t, s, withRev(orig, 1))

	// ErrExists leaves the transaction usable: the function can take it as
	// an answer ("already there") and go on.
	other := rec(kindRing, "rings/b", "", 0)
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Create(t.Context(), dup); !errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("Create(existing) = %v, want ErrExists", err)
		}
		return tx.Create(t.Context(), other)
	})
	wantRecord(t, s, withRev(orig, 1))
	wantRecord(t, s, withRev(other, 1))

	// A record created earlier in the same transaction exists too.
	err = s.Update(t.Context(), func(tx storage.Tx) error {
		c := rec(kindRing, "rings/c", "", 0)
		if err := tx.Create(t.Context(), c); err != nil {
			return err
		}
		return tx.Create(t.Context(), c)
	})
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("Update(Create twice) = %v, want ErrExists", err)
	}
	wantMissing(t, s, "rings/c")
}

func testPut(t *testing.T, s storage.Store) {
	base := rec(kindKey, "keys/k", "rings/r", 100)
	changed := rec(kindRing, "keys/k", "rings/other", 200)
	changed.Data = []byte("new data")
	changed.MAC = []byte("new mac")

	tests := []struct {
		name    string
		initial *storage.Record // stored before the Put, at Rev 1 (nil: none)
		put     storage.Record
		wantErr error
		want    *storage.Record // stored afterwards (nil: none)
	}{
		{
			name: "rev 0 creates a missing record",
			put:  base,
			want: ptr(withRev(base, 1)),
		},
		{
			name:    "rev 0 overwrites an existing record",
			initial: &base,
			put:     changed,
			want:    ptr(withRev(changed, 2)),
		},
		{
			name:    "matching rev replaces every field",
			initial: &base,
			put:     withRev(changed, 1),
			want:    ptr(withRev(changed, 2)),
		},
		{
			name:    "stale rev conflicts",
			initial: &base,
			put:     withRev(changed, 3), // stored rev is 1
			wantErr: storage.ErrConflict,
			want:    ptr(withRev(base, 1)),
		},
		{
			name:    "negative rev conflicts",
			initial: &base,
			put:     withRev(changed, -1),
			wantErr: storage.ErrConflict,
			want:    ptr(withRev(base, 1)),
		},
		{
			name:    "rev of a missing record conflicts",
			put:     withRev(base, 1),
			wantErr: storage.ErrConflict,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every case uses its own name so that they share one store.
			name := fmt.Sprintf("%s/%d", tc.put.Name, i)
			if tc.initial != nil {
				r := *tc.initial
				r.Name = name
				create(t, s, r)
			}
			put := tc.put
			put.Name = name
			err := s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Put(t.Context(), put)
			})
			if !errors.Is(err, tc.wantErr) { // errors.Is(nil, nil) is true
				t.Errorf("Update(Put(rev %d)) = %v, want %v", put.Rev, err, tc.wantErr)
			}
			if tc.want == nil {
				wantMissing(t, s, name)
				return
			}
			want := *tc.want
			want.Name = name
			wantRecord(t, s, want)
		})
	}

	t.Run("conflict leaves the transaction usable", func(t *testing.T) {
		r := rec(kindKey, "keys/usable", "", 0)
		create(t, s, r)
		update(t, s, func(tx storage.Tx) error {
			if err := tx.Put(t.Context(), withRev(r, 5)); !errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("Put(stale) = %v, want ErrConflict", err)
			}
			return tx.Put(t.Context(), withRev(r, 1))
		})
		wantRecord(t, s, withRev(r, 2))
	})
}

func ptr[T any](v T) *T { return &v }

func testPutRevisions(t *testing.T, s storage.Store) {
	r := rec(kindKey, "keys/k", "", 0)
	create(t, s, r)
	for rev := int64(1); rev <= 5; rev++ {
		r.Data = []byte("data at " + strconv.FormatInt(rev, 10))
		update(t, s, func(tx storage.Tx) error {
			got, err := tx.Get(t.Context(), r.Name)
			if err != nil {
				return err
			}
			if got.Rev != rev {
				return fmt.Errorf("tx.Get(%q).Rev = %d, want %d", r.Name, got.Rev, rev)
			}
			return tx.Put(t.Context(), withRev(r, got.Rev))
		})
		wantRecord(t, s, withRev(r, rev+1))
	}
	// Rev 0 also moves the revision on.
	update(t, s, func(tx storage.Tx) error { return tx.Put(t.Context(), withRev(r, 0)) })
	wantRecord(t, s, withRev(r, 7))
}

func testDelete(t *testing.T, s storage.Store) {
	a := rec(kindRing, "rings/a", "", 0)
	b := rec(kindRing, "rings/b", "", 0)
	create(t, s, a, b)

	update(t, s, func(tx storage.Tx) error { return tx.Delete(t.Context(), a.Name) })
	wantMissing(t, s, a.Name)
	wantRecord(t, s, withRev(b, 1))

	// Deleting a missing record, or one just deleted, is not an error.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Delete(t.Context(), "rings/never"); err != nil {
			return fmt.Errorf("Delete(missing) = %w", err)
		}
		return tx.Delete(t.Context(), a.Name)
	})

	// A name can be used again after a delete, from revision 1.
	create(t, s, a)
	wantRecord(t, s, withRev(a, 1))

	// Delete and re-create in one transaction.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Delete(t.Context(), b.Name); err != nil {
			return err
		}
		if _, err := tx.Get(t.Context(), b.Name); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("tx.Get(deleted) = %v, want ErrNotFound", err)
		}
		return tx.Create(t.Context(), b)
	})
	wantRecord(t, s, withRev(b, 1))
}

func testList(t *testing.T, s storage.Store) {
	seed := []storage.Record{
		rec(kindKey, "r1/keys/c", "r1", 0),
		rec(kindKey, "r1/keys/a", "r1", 5),
		rec(kindKey, "r1/keys/d", "r1", 0),
		rec(kindKey, "r1/keys/b", "r1", 0),
		rec(kindKey, "r2/keys/a", "r2", 0),
		rec(kindRing, "r1/rings/x", "r1", 0), // same parent, other kind
		rec(kindRing, "r1", "", 0),
		rec(kindRing, "r2", "", 0),
	}
	create(t, s, seed...)
	byName := map[string]storage.Record{}
	for _, r := range seed {
		byName[r.Name] = withRev(r, 1)
	}

	tests := []struct {
		name string
		opts storage.ListOptions
		want []string
	}{
		{"kind and parent", storage.ListOptions{Kind: kindKey, Parent: "r1"}, []string{"r1/keys/a", "r1/keys/b", "r1/keys/c", "r1/keys/d"}},
		{"other parent", storage.ListOptions{Kind: kindKey, Parent: "r2"}, []string{"r2/keys/a"}},
		{"other kind same parent", storage.ListOptions{Kind: kindRing, Parent: "r1"}, []string{"r1/rings/x"}},
		{"empty parent", storage.ListOptions{Kind: kindRing, Parent: ""}, []string{"r1", "r2"}},
		{"limit", storage.ListOptions{Kind: kindKey, Parent: "r1", Limit: 2}, []string{"r1/keys/a", "r1/keys/b"}},
		{"limit larger than the list", storage.ListOptions{Kind: kindKey, Parent: "r1", Limit: 10}, []string{"r1/keys/a", "r1/keys/b", "r1/keys/c", "r1/keys/d"}},
		{"after", storage.ListOptions{Kind: kindKey, Parent: "r1", After: "r1/keys/b"}, []string{"r1/keys/c", "r1/keys/d"}},
		{"after a name that is not stored", storage.ListOptions{Kind: kindKey, Parent: "r1", After: "r1/keys/bb"}, []string{"r1/keys/c", "r1/keys/d"}},
		{"after and limit", storage.ListOptions{Kind: kindKey, Parent: "r1", After: "r1/keys/a", Limit: 2}, []string{"r1/keys/b", "r1/keys/c"}},
		{"after the last", storage.ListOptions{Kind: kindKey, Parent: "r1", After: "r1/keys/d"}, nil},
		{"unknown parent", storage.ListOptions{Kind: kindKey, Parent: "r3"}, nil},
		{"unknown kind", storage.ListOptions{Kind: "test.Nothing", Parent: "r1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, reader := range []struct {
				name string
				list func(storage.ListOptions) ([]storage.Record, error)
			}{
				{"store", func(o storage.ListOptions) ([]storage.Record, error) { return s.List(t.Context(), o) }},
				{"tx", func(o storage.ListOptions) ([]storage.Record, error) {
					var out []storage.Record
					err := s.Update(t.Context(), func(tx storage.Tx) error {
						var err error
						out, err = tx.List(t.Context(), o)
						return err
					})
					return out, err
				}},
			} {
				got, err := reader.list(tc.opts)
				if err != nil {
					t.Fatalf("%s List(%+v) = %v", reader.name, tc.opts, err)
				}
				if diff := cmp.Diff(tc.want, names(got), equateEmpty); diff != "" {
					t.Errorf("%s List(%+v) names mismatch (-want +got):\n%s", reader.name, tc.opts, diff)
				}
				for _, r := range got {
					if diff := cmp.Diff(byName[r.Name], r, equateEmpty); diff != "" {
						t.Errorf("%s List(%+v) record %q mismatch (-want +got):\n%s", reader.name, tc.opts, r.Name, diff)
					}
				}
			}
		})
	}

	t.Run("tx lists its own writes", func(t *testing.T) {
		update(t, s, func(tx storage.Tx) error {
			if err := tx.Create(t.Context(), rec(kindKey, "r1/keys/bb", "r1", 0)); err != nil {
				return err
			}
			if err := tx.Delete(t.Context(), "r1/keys/c"); err != nil {
				return err
			}
			got, err := tx.List(t.Context(), storage.ListOptions{Kind: kindKey, Parent: "r1"})
			if err != nil {
				return err
			}
			want := []string{"r1/keys/a", "r1/keys/b", "r1/keys/bb", "r1/keys/d"}
			if diff := cmp.Diff(want, names(got)); diff != "" {
				return fmt.Errorf("tx.List() names mismatch (-want +got):\n%s", diff)
			}
			return nil
		})
	})
}

func testListPagination(t *testing.T, s storage.Store) {
	const n = 23
	var want []string
	var rs []storage.Record
	for i := range n {
		name := fmt.Sprintf("r/keys/%03d", (i*7)%n) // stored out of order
		rs = append(rs, rec(kindKey, name, "r", 0))
		want = append(want, name)
	}
	// Noise under other parents and kinds that must not leak into pages.
	rs = append(rs, rec(kindKey, "q/keys/000", "q", 0), rec(kindKey, "s/keys/000", "s", 0), rec(kindRing, "r/keys/0005", "r", 0))
	create(t, s, rs...)
	slices.Sort(want)

	for _, limit := range []int{1, 3, 5, 23, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			after := ""
			for page := 0; ; page++ {
				if page > n+1 {
					t.Fatalf("pagination does not end")
				}
				rs, err := s.List(t.Context(), storage.ListOptions{Kind: kindKey, Parent: "r", After: after, Limit: limit})
				if err != nil {
					t.Fatalf("List(after %q, limit %d) = %v", after, limit, err)
				}
				if len(rs) > limit {
					t.Fatalf("List(after %q, limit %d) returned %d records", after, limit, len(rs))
				}
				got = append(got, names(rs)...)
				if len(rs) < limit {
					break
				}
				after = rs[len(rs)-1].Name
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("paged names mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func testListOrder(t *testing.T, s storage.Store) {
	// Locale collations would put "B" after "a", ignore "-" or sort "ä"
	// next to "a"; byte order is the only one that both backends and Go's
	// own string comparison agree on.
	ns := []string{"k/a", "k/B", "k/a-1", "k/a/1", "k/a1", "k/ä", "k/_", "k/Z", "k/10", "k/9", "k/a b", "k/~"}
	var rs []storage.Record
	for _, n := range ns {
		rs = append(rs, rec(kindKey, n, "k", 0))
	}
	create(t, s, rs...)
	want := slices.Clone(ns)
	slices.Sort(want)
	got, err := s.List(t.Context(), storage.ListOptions{Kind: kindKey, Parent: "k"})
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	if diff := cmp.Diff(want, names(got)); diff != "" {
		t.Errorf("List() order mismatch (-want +got):\n%s", diff)
	}
	got, err = s.List(t.Context(), storage.ListOptions{Kind: kindKey, Parent: "k", After: "k/a"})
	if err != nil {
		t.Fatalf("List(after) = %v", err)
	}
	i := slices.Index(want, "k/a")
	if diff := cmp.Diff(want[i+1:], names(got)); diff != "" {
		t.Errorf("List(after %q) mismatch (-want +got):\n%s", "k/a", diff)
	}
}

// testWalk checks a store that implements storage.Walker (others skip it):
// every record, whatever its kind and parent, in byte order, a page at a
// time.
func testWalk(t *testing.T, s storage.Store) {
	w, ok := s.(storage.Walker)
	if !ok {
		t.Skip("the store is no storage.Walker")
	}
	create(t, s,
		rec(kindRing, "r/b", "", 0),
		rec(kindRing, "r/a", "", 0),
		rec(kindKey, "r/a/k/Z", "r/a", 7),
		rec(kindKey, "r/a/k/a", "r/a", 0),
		rec(kindKey, "r/b/k/ä", "r/b", 0),
		rec("other", "A", "x", 0),
	)
	want := []string{"A", "r/a", "r/a/k/Z", "r/a/k/a", "r/b", "r/b/k/ä"}
	all, err := w.Walk(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("Walk() = %v", err)
	}
	if diff := cmp.Diff(want, names(all)); diff != "" {
		t.Errorf("Walk() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rec(kindKey, "r/a/k/Z", "r/a", 7), all[2], cmpopts.IgnoreFields(storage.Record{}, "Rev")); diff != "" {
		t.Errorf("Walk() record mismatch (-want +got):\n%s", diff)
	}
	var paged []string
	after := ""
	for range len(want) + 1 {
		page, err := w.Walk(t.Context(), after, 4)
		if err != nil {
			t.Fatalf("Walk(%q, 4) = %v", after, err)
		}
		if len(page) > 4 {
			t.Fatalf("Walk(%q, 4) returned %d records", after, len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, names(page)...)
		after = page[len(page)-1].Name
	}
	if diff := cmp.Diff(want, paged); diff != "" {
		t.Errorf("Walk() by pages of 4 mismatch (-want +got):\n%s", diff)
	}
}

func testListDue(t *testing.T, s storage.Store) {
	create(t, s,
		rec(kindKey, "k/never", "k", 0),
		rec(kindKey, "k/negative", "k", -5),
		rec(kindKey, "k/40", "k", 40),
		rec(kindKey, "k/10", "k", 10),
		rec(kindKey, "k/30a", "k", 30),
		rec(kindKey, "k/20", "k", 20),
		rec(kindKey, "k/30b", "k", 30),
		rec(kindKey, "k/max", "k", math.MaxInt64),
		rec(kindRing, "r/15", "", 15), // other kind
	)

	tests := []struct {
		name   string
		kind   storage.Kind
		before int64
		limit  int
		want   []string // in Due order; equal Dues in any order
	}{
		{"before excludes later", kindKey, 25, 10, []string{"k/10", "k/20"}},
		{"before is inclusive", kindKey, 30, 10, []string{"k/10", "k/20", "k/30a", "k/30b"}},
		{"limit", kindKey, 100, 2, []string{"k/10", "k/20"}},
		{"limit 1", kindKey, 100, 1, []string{"k/10"}},
		{"nothing due yet", kindKey, 9, 10, nil},
		{"before zero", kindKey, 0, 10, nil},
		{"before negative", kindKey, -1, 10, nil},
		{"everything", kindKey, math.MaxInt64, 100, []string{"k/10", "k/20", "k/30a", "k/30b", "k/40", "k/max"}},
		{"other kind", kindRing, 100, 10, []string{"r/15"}},
		{"unknown kind", "test.Nothing", 100, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListDue(t.Context(), tc.kind, tc.before, tc.limit)
			if err != nil {
				t.Fatalf("ListDue(%q, %d, %d) = %v", tc.kind, tc.before, tc.limit, err)
			}
			for i := 1; i < len(got); i++ {
				if got[i-1].Due > got[i].Due {
					t.Errorf("ListDue(%q, %d, %d): %q (due %d) before %q (due %d)", tc.kind, tc.before, tc.limit, got[i-1].Name, got[i-1].Due, got[i].Name, got[i].Due)
				}
			}
			for _, r := range got {
				if r.Kind != tc.kind || r.Due <= 0 || r.Due > tc.before || r.Rev != 1 || !bytes.Equal(r.Data, []byte("data:"+r.Name)) {
					t.Errorf("ListDue(%q, %d, %d) returned %+v", tc.kind, tc.before, tc.limit, r)
				}
			}
			// Equal Dues may come in either order.
			gotNames, want := names(got), slices.Clone(tc.want)
			slices.Sort(gotNames)
			slices.Sort(want)
			if diff := cmp.Diff(want, gotNames, equateEmpty); diff != "" {
				t.Errorf("ListDue(%q, %d, %d) names mismatch (-want +got):\n%s", tc.kind, tc.before, tc.limit, diff)
			}
		})
	}
}

func testListDueFollowsPut(t *testing.T, s storage.Store) {
	a := rec(kindKey, "k/a", "k", 10)
	b := rec(kindKey, "k/b", "k", 20)
	create(t, s, a, b)
	// a is done (Due 0) and b moves earlier; then a is deleted entirely.
	a.Due, b.Due = 0, 5
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Put(t.Context(), withRev(a, 1)); err != nil {
			return err
		}
		return tx.Put(t.Context(), withRev(b, 1))
	})
	got, err := s.ListDue(t.Context(), kindKey, 100, 10)
	if err != nil {
		t.Fatalf("ListDue() = %v", err)
	}
	if diff := cmp.Diff([]string{"k/b"}, names(got)); diff != "" {
		t.Errorf("ListDue() after Put mismatch (-want +got):\n%s", diff)
	}
	update(t, s, func(tx storage.Tx) error { return tx.Delete(t.Context(), b.Name) })
	got, err = s.ListDue(t.Context(), kindKey, 100, 10)
	if err != nil {
		t.Fatalf("ListDue() = %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListDue() after Delete = %v, want none", names(got))
	}
}

func testUpdateRollback(t *testing.T, s storage.Store) {
	kept := rec(kindRing, "rings/kept", "", 0)
	changed := rec(kindRing, "rings/changed", "", 7)
	deleted := rec(kindRing, "rings/deleted", "", 0)
	create(t, s, kept, changed, deleted)

	wrapped := fmt.Errorf("doing things: %w", errBoom)
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Create(t.Context(), rec(kindRing, "rings/new", "", 3)); err != nil {
			return err
		}
		c := changed
		c.Data, c.Due = []byte("changed"), 99
		if err := tx.Put(t.Context(), withRev(c, 1)); err != nil {
			return err
		}
		if err := tx.Delete(t.Context(), deleted.Name); err != nil {
			return err
		}
		return wrapped
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("Update() = %v, want %v", err, errBoom)
	}
	wantMissing(t, s, "rings/new")
	wantRecord(t, s, withRev(kept, 1))
	wantRecord(t, s, withRev(changed, 1))
	wantRecord(t, s, withRev(deleted, 1))
	if got, err := s.ListDue(t.Context(), kindRing, 1000, 100); err != nil || len(got) != 1 || got[0].Due != 7 {
		t.Errorf("ListDue() after rollback = %+v, %v; want only %q", got, err, changed.Name)
	}
	got, err := s.List(t.Context(), storage.ListOptions{Kind: kindRing})
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	if diff := cmp.Diff([]string{"rings/changed", "rings/deleted", "rings/kept"}, names(got)); diff != "" {
		t.Errorf("List() after rollback mismatch (-want +got):\n%s", diff)
	}
}

func testUpdateFailureIsPerCall(t *testing.T, s storage.Store) {
	// Concurrent calls may share a physical commit; one call's failure must
	// not undo or fail the others.
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx storage.Tx) error {
				if err := tx.Create(t.Context(), rec(kindKey, fmt.Sprintf("k/%02d", i), "k", 0)); err != nil {
					return err
				}
				if i%2 == 1 {
					return fmt.Errorf("call %d: %w", i, errBoom)
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		name := fmt.Sprintf("k/%02d", i)
		if i%2 == 1 {
			if !errors.Is(err, errBoom) {
				t.Errorf("Update(%d) = %v, want %v", i, err, errBoom)
			}
			wantMissing(t, s, name)
			continue
		}
		if err != nil {
			t.Errorf("Update(%d) = %v, want nil", i, err)
		}
		wantRecord(t, s, withRev(rec(kindKey, name, "k", 0), 1))
	}
}

func testUpdateCanceled(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Update(ctx, func(tx storage.Tx) error {
		return tx.Create(ctx, rec(kindRing, "rings/a", "", 0))
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update(canceled) = %v, want context.Canceled", err)
	}
	wantMissing(t, s, "rings/a")
	// The store still works.
	create(t, s, rec(kindRing, "rings/b", "", 0))
}

func testTxOwnWrites(t *testing.T, s storage.Store) {
	r := rec(kindKey, "k/a", "k", 10)
	update(t, s, func(tx storage.Tx) error {
		ctx := t.Context()
		if err := tx.Create(ctx, r); err != nil {
			return err
		}
		got, err := tx.Get(ctx, r.Name)
		if err != nil {
			return fmt.Errorf("Get after Create: %w", err)
		}
		if diff := cmp.Diff(withRev(r, 1), got, equateEmpty); diff != "" {
			return fmt.Errorf("Get after Create mismatch (-want +got):\n%s", diff)
		}
		r2 := r
		r2.Data = []byte("second")
		if err := tx.Put(ctx, withRev(r2, 1)); err != nil {
			return fmt.Errorf("Put(rev 1) after Create: %w", err)
		}
		got, err = tx.Get(ctx, r.Name)
		if err != nil {
			return fmt.Errorf("Get after Put: %w", err)
		}
		if diff := cmp.Diff(withRev(r2, 2), got, equateEmpty); diff != "" {
			return fmt.Errorf("Get after Put mismatch (-want +got):\n%s", diff)
		}
		if err := tx.Put(ctx, withRev(r2, 1)); !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("Put(stale rev 1) = %v, want ErrConflict", err)
		}
		if err := tx.Delete(ctx, r.Name); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, r.Name); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		r.Data = []byte("third")
		return tx.Put(ctx, r)
	})
	wantRecord(t, s, withRev(r, 1))
}

func testUncommittedInvisible(t *testing.T, s storage.Store) {
	create(t, s, rec(kindKey, "k/old", "k", 0))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Create(ctx, rec(kindKey, "k/new", "k", 5)); err != nil {
			return err
		}
		// These reads go around the transaction. A backend whose store reads
		// waited for the writer would hang here until the timeout.
		if _, err := s.Get(ctx, "k/new"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("store Get(uncommitted) = %v, want ErrNotFound", err)
		}
		got, err := s.List(ctx, storage.ListOptions{Kind: kindKey, Parent: "k"})
		if err != nil {
			return fmt.Errorf("store List during update: %w", err)
		}
		if diff := cmp.Diff([]string{"k/old"}, names(got)); diff != "" {
			return fmt.Errorf("store List during update mismatch (-want +got):\n%s", diff)
		}
		due, err := s.ListDue(ctx, kindKey, 100, 100)
		if err != nil {
			return fmt.Errorf("store ListDue during update: %w", err)
		}
		if len(due) != 0 {
			return fmt.Errorf("store ListDue during update = %v, want none", names(due))
		}
		return nil
	})
	wantRecord(t, s, withRev(rec(kindKey, "k/new", "k", 5), 1))
}

func testConcurrentCounter(t *testing.T, s storage.Store) {
	const (
		workers = 50
		each    = 4
	)
	counter := rec(kindKey, "counters/c", "", 0)
	counter.Data = []byte("0")
	create(t, s, counter)

	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				errs <- s.Update(t.Context(), func(tx storage.Tx) error {
					r, err := tx.Get(t.Context(), counter.Name)
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(r.Data))
					if err != nil {
						return fmt.Errorf("counter holds %q: %w", r.Data, err)
					}
					r.Data = []byte(strconv.Itoa(n + 1))
					// The revision check turns a lost update into ErrConflict,
					// which fails the test: the backend must serialize or retry.
					return tx.Put(t.Context(), r)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update(increment) = %v, want nil", err)
		}
	}
	counter.Data = []byte(strconv.Itoa(workers * each))
	wantRecord(t, s, withRev(counter, 1+workers*each))
}

func testConcurrentCreates(t *testing.T, s storage.Store) {
	const (
		workers = 32
		each    = 8
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := rec(kindKey, fmt.Sprintf("k/%02d-%02d", w, i), "k", int64(1+w*each+i))
				errs <- s.Update(t.Context(), func(tx storage.Tx) error {
					return tx.Create(t.Context(), r)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update(Create) = %v, want nil", err)
		}
	}
	got, err := s.List(t.Context(), storage.ListOptions{Kind: kindKey, Parent: "k"})
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	if len(got) != workers*each {
		t.Errorf("List() returned %d records, want %d", len(got), workers*each)
	}
	for w := range workers {
		for i := range each {
			wantRecord(t, s, withRev(rec(kindKey, fmt.Sprintf("k/%02d-%02d", w, i), "k", int64(1+w*each+i)), 1))
		}
	}
}

func testConcurrentCreateSameName(t *testing.T, s storage.Store) {
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := rec(kindKey, "k/contested", "k", 0)
			r.Data = []byte(strconv.Itoa(i))
			errs[i] = s.Update(t.Context(), func(tx storage.Tx) error { return tx.Create(t.Context(), r) })
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("Create succeeded for both %d and %d", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Errorf("Update(Create(contested)) = %v, want nil or ErrExists", err)
		}
	}
	if winner < 0 {
		t.Fatalf("no Create succeeded")
	}
	got := mustGet(t, s, "k/contested")
	if string(got.Data) != strconv.Itoa(winner) || got.Rev != 1 {
		t.Errorf("Get(contested) = data %q rev %d, want data %q rev 1", got.Data, got.Rev, strconv.Itoa(winner))
	}
}

func testRoundTrip(t *testing.T, s storage.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name string
		r    storage.Record
	}{
		{"empty data and mac", storage.Record{Kind: kindKey, Name: "k/empty", Data: []byte{}, MAC: []byte{}}},
		{"nil data and mac", storage.Record{Kind: kindKey, Name: "k/nil"}},
		{"every byte value", storage.Record{Kind: kindKey, Name: "k/bytes", Parent: "k", Data: all, MAC: all[:32]}},
		{"nul and invalid utf-8", storage.Record{Kind: kindKey, Name: "k/nul", Data: []byte("\x00\xff\xfe\x00"), MAC: []byte{0}}},
		{"1 MiB", storage.Record{Kind: kindKey, Name: "k/big", Data: big, MAC: big[:64]}},
		{"odd names", storage.Record{Kind: "kind with 'quotes' and \"more\"", Name: "k/ünïcode/☃/'; DROP TABLE records; --", Parent: "p%_\\", Data: []byte("x"), MAC: []byte("y")}},
		{"extreme due", storage.Record{Kind: kindKey, Name: "k/maxdue", Due: math.MaxInt64, Data: []byte("x")}},
		{"negative due", storage.Record{Kind: kindKey, Name: "k/mindue", Due: math.MinInt64, Data: []byte("x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := withRev(tc.r, 1)
			update(t, s, func(tx storage.Tx) error {
				if err := tx.Create(t.Context(), tc.r); err != nil {
					return err
				}
				got, err := tx.Get(t.Context(), tc.r.Name)
				if err != nil {
					return err
				}
				if !equalRecord(want, got) {
					return fmt.Errorf("tx.Get(%q) does not match what was written", tc.r.Name)
				}
				return nil
			})
			got := mustGet(t, s, tc.r.Name)
			if !equalRecord(want, got) {
				t.Errorf("Get(%q) = kind %q parent %q due %d rev %d, %d data bytes, %d mac bytes; want kind %q parent %q due %d rev 1, %d data bytes, %d mac bytes (or bytes differ)",
					tc.r.Name, got.Kind, got.Parent, got.Due, got.Rev, len(got.Data), len(got.MAC),
					want.Kind, want.Parent, want.Due, len(want.Data), len(want.MAC))
			}
			list, err := s.List(t.Context(), storage.ListOptions{Kind: tc.r.Kind, Parent: tc.r.Parent})
			if err != nil {
				t.Fatalf("List() = %v", err)
			}
			i := slices.IndexFunc(list, func(r storage.Record) bool { return r.Name == tc.r.Name })
			if i < 0 || !equalRecord(want, list[i]) {
				t.Errorf("List() does not return %q as written", tc.r.Name)
			}
		})
	}
}

// equalRecord compares records without printing megabytes on failure.
func equalRecord(a, b storage.Record) bool {
	return a.Kind == b.Kind && a.Name == b.Name && a.Parent == b.Parent && a.Due == b.Due && a.Rev == b.Rev &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.MAC, b.MAC)
}

func testNoAliasing(t *testing.T, s storage.Store) {
	r := rec(kindKey, "k/a", "k", 0)
	data, mac := []byte("original data"), []byte("original mac")
	r.Data, r.MAC = data, mac
	create(t, s, r)
	// The caller owns its slices after Create returns.
	copy(data, "XXXXXXXX")
	copy(mac, "XXXXXXXX")
	got := mustGet(t, s, r.Name)
	if string(got.Data) != "original data" || string(got.MAC) != "original mac" {
		t.Fatalf("Get() after the caller changed its slices = %q, %q", got.Data, got.MAC)
	}
	// And owns what Get returned.
	copy(got.Data, "YYYYYYYY")
	copy(got.MAC, "YYYYYYYY")
	got = mustGet(t, s, r.Name)
	if string(got.Data) != "original data" || string(got.MAC) != "original mac" {
		t.Errorf("Get() after the caller changed a previous result = %q, %q", got.Data, got.MAC)
	}
}

func testClose(t *testing.T, s storage.Store) {
	create(t, s, rec(kindRing, "rings/a", "", 5))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "rings/a"); return err }},
		{"List", func() error { _, err := s.List(ctx, storage.ListOptions{Kind: kindRing}); return err }},
		{"ListDue", func() error { _, err := s.ListDue(ctx, kindRing, 10, 10); return err }},
		{"Update", func() error {
			ran := false
			err := s.Update(ctx, func(tx storage.Tx) error {
				ran = true
				return tx.Create(ctx, rec(kindRing, "rings/b", "", 0))
			})
			if ran && err == nil {
				return errors.New("Update ran and committed after Close")
			}
			return err
		}},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s after Close = %v, want ErrUnavailable", c.name, err)
		}
	}
	// A second Close must not panic; its error is not specified.
	_ = s.Close()
}
