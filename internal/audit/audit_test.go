// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

var _ Signer = (*keystore.Keystore)(nil)

// fixture is a log on a real SQLite store and keystore.
type fixture struct {
	log      *Log
	store    *sqlite.Store
	ks       *keystore.Keystore
	chainKey []byte
	heads    map[int64]storage.Record // head records saved by a test
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatalf("sqlite.Open = %v", err)
	}
	t.Cleanup(func() { store.Close() })
	root := make([]byte, 32)
	rand.Read(root)
	ks, err := keystore.Open(ctx, store, root)
	if err != nil {
		t.Fatalf("keystore.Open = %v", err)
	}
	f := &fixture{store: store, ks: ks, chainKey: ks.Derive(ChainKeyInfo, 32)}
	f.log = f.open(t)
	return f
}

// open opens another Log on the fixture's store (a restart, or a second
// node), closed when the test ends.
func (f *fixture) open(t testing.TB) *Log {
	t.Helper()
	return f.openWith(t, slog.New(slog.DiscardHandler))
}

func (f *fixture) openWith(t testing.TB, log *slog.Logger) *Log {
	t.Helper()
	l, err := Open(context.Background(), f.store, f.ks, f.chainKey, log)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

func (f *fixture) verify(t *testing.T) Report {
	t.Helper()
	rep, err := Verify(context.Background(), f.store, f.ks, f.chainKey)
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	return rep
}

func testEntry(i int) Entry {
	return Entry{
		Principal:     fmt.Sprintf("app:%d", i%3),
		AuthMethod:    "api-key",
		Method:        "CreateCryptoKey",
		Resource:      fmt.Sprintf("projects/p/locations/l/keyRings/r/cryptoKeys/k%d", i),
		Status:        "OK",
		RequestID:     fmt.Sprintf("req-%d", i),
		ClientAddress: "192.0.2.1:5000",
	}
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Append(context.Background(), testEntry(i)); err != nil {
			t.Fatalf("Append(%d) = %v", i, err)
		}
	}
}

func TestAppendAndVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if rep := f.verify(t); !rep.OK || rep.Entries != 0 {
		t.Fatalf("Verify(empty log) = %+v, want OK with 0 entries", rep)
	}
	when := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	in := Entry{
		Time: when, Principal: "admin", AuthMethod: "admin-token", Method: "UpdateCryptoKey",
		Resource: "projects/p/locations/l/keyRings/r/cryptoKeys/k", Status: "OK",
		RequestID: "req-1", ClientAddress: "[::1]:4242", Justification: "CUSTOMER_INITIATED_ACCESS",
		Details: map[string]string{"b": "2", "a": "1"},
	}
	if err := f.log.Append(ctx, in); err != nil {
		t.Fatalf("Append = %v", err)
	}
	appendN(t, f.log, 2, 4)

	got, err := f.log.List(ctx, Query{})
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	if len(got) != 5 {
		t.Fatalf("List returned %d entries, want 5", len(got))
	}
	for i, e := range got {
		if e.Seq != int64(i+1) || len(e.Hash) != 64 {
			t.Errorf("entry %d: seq %d, hash %q", i, e.Seq, e.Hash)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v is not UTC", i, e.Time)
		}
	}
	want := in
	want.Seq, want.Hash, want.Time = 1, got[0].Hash, when.UTC()
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("entry 1 (-want +got):\n%s", diff)
	}

	// A restarted log goes on with the same chain.
	f.log.Close()
	l2 := f.open(t)
	appendN(t, l2, 6, 3)
	if rep := f.verify(t); !rep.OK || rep.Entries != 8 {
		t.Errorf("Verify after restart = %+v, want OK with 8 entries", rep)
	}
	if rep, err := l2.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("Log.Verify = %+v, %v", rep, err)
	}
}

func TestEntryJSONFields(t *testing.T) {
	e := testEntry(1)
	e.Seq, e.Time, e.Hash = 7, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), strings.Repeat("ab", 32)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "time", "principal", "authMethod", "method", "resource", "status", "requestId", "clientAddress", "justification", "hash"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
	if _, ok := m["details"]; ok {
		t.Errorf("JSON %s has details, want it omitted when empty", b)
	}
	if m["time"] != "2026-01-02T03:04:05Z" {
		t.Errorf("time = %v, want RFC 3339 UTC", m["time"])
	}
}

func TestAppendConcurrent(t *testing.T) {
	f := newFixture(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- f.log.Append(context.Background(), testEntry(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Append = %v", err)
		}
	}
	got, err := f.log.List(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("List returned %d entries, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, i+1)
		}
	}
	if rep := f.verify(t); !rep.OK || rep.Entries != n {
		t.Errorf("Verify = %+v, want OK with %d entries", rep, n)
	}
	t.Logf("%d entries in %d commits", n, f.log.flushes.Load())
}

// TestTwoNodes has two logs (two nodes) append to one store at the same
// time: each must chain from the other's head, never fork.
func TestTwoNodes(t *testing.T) {
	f := newFixture(t)
	other := f.open(t)
	var wg sync.WaitGroup
	for i := range 100 {
		l := f.log
		if i%2 == 1 {
			l = other
		}
		wg.Go(func() {
			if err := l.Append(context.Background(), testEntry(i)); err != nil {
				t.Errorf("Append = %v", err)
			}
		})
	}
	wg.Wait()
	if rep := f.verify(t); !rep.OK || rep.Entries != 100 {
		t.Errorf("Verify = %+v, want OK with 100 entries", rep)
	}
}

// conflictStore fails the first n Updates with ErrConflict after running
// fn, as a PostgreSQL store does when another node moved the head.
type conflictStore struct {
	storage.Store
	mu sync.Mutex
	n  int
}

func (s *conflictStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	s.mu.Lock()
	fail := s.n > 0
	s.n--
	s.mu.Unlock()
	if fail {
		return s.Store.Update(ctx, func(tx storage.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return fmt.Errorf("injected: %w", storage.ErrConflict)
		})
	}
	return s.Store.Update(ctx, fn)
}

func TestConflictRetriesBatch(t *testing.T) {
	tests := []struct {
		name      string
		conflicts int
		wantErr   bool
	}{
		{"one conflict is retried", 1, false},
		{"conflicts past the attempts fail", maxAttempts, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			appendN(t, f.log, 0, 2)
			cs := &conflictStore{Store: f.store, n: tc.conflicts}
			l, err := Open(context.Background(), cs, f.ks, f.chainKey, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			err = l.Append(context.Background(), testEntry(9))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Append = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, storage.ErrConflict) {
				t.Errorf("Append = %v, want ErrConflict", err)
			}
			want := int64(3)
			if tc.wantErr {
				want = 2
			}
			if rep := f.verify(t); !rep.OK || rep.Entries != want {
				t.Errorf("Verify = %+v, want OK with %d entries", rep, want)
			}
		})
	}
}

func TestFailClosed(t *testing.T) {
	t.Run("closed store", func(t *testing.T) {
		f := newFixture(t)
		appendN(t, f.log, 0, 1)
		f.store.Close()
		before := f.log.Failures()
		err := f.log.Record(context.Background(), adminEvent("CreateKeyRing"))
		if err == nil {
			t.Fatal("Record on a closed store = nil, want an error")
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Record = %v, want it to wrap storage.ErrUnavailable", err)
		}
		if got := codeOf(err); got != "UNAVAILABLE" {
			t.Errorf("Record code = %s, want UNAVAILABLE", got)
		}
		if got := f.log.Failures(); got != before+1 {
			t.Errorf("Failures() = %d, want %d", got, before+1)
		}
	})
	t.Run("closed log", func(t *testing.T) {
		f := newFixture(t)
		f.log.Close()
		err := f.log.Append(context.Background(), testEntry(1))
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Append after Close = %v, want ErrClosed", err)
		}
		if f.log.Failures() != 1 {
			t.Errorf("Failures() = %d, want 1", f.log.Failures())
		}
	})
	t.Run("altered head refuses appends", func(t *testing.T) {
		f := newFixture(t)
		appendN(t, f.log, 0, 3)
		mutate(t, f, HeadName, func(r *storage.Record) { r.Data = bytes.Replace(r.Data, []byte(`"seq":3`), []byte(`"seq":2`), 1) })
		if err := f.log.Append(context.Background(), testEntry(4)); !errors.Is(err, ErrBroken) {
			t.Errorf("Append on an altered head = %v, want ErrBroken", err)
		}
		if f.log.Failures() != 1 {
			t.Errorf("Failures() = %d, want 1", f.log.Failures())
		}
		if _, err := Open(context.Background(), f.store, f.ks, f.chainKey, nil); !errors.Is(err, ErrBroken) {
			t.Errorf("Open on an altered head = %v, want ErrBroken", err)
		}
	})
}

func TestAppendCanceledStillWrites(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.log.Append(ctx, testEntry(1))
	// Either the flusher won the race or ctx did; the entry is written
	// in both cases.
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Append = %v", err)
	}
	f.log.Close() // flushes
	if rep := f.verify(t); !rep.OK || rep.Entries != 1 {
		t.Errorf("Verify = %+v, want 1 entry written", rep)
	}
}

func TestAppendRejectsTimeOutOfRange(t *testing.T) {
	f := newFixture(t)
	e := testEntry(1)
	e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := f.log.Append(context.Background(), e); err == nil {
		t.Error("Append(year 10000) = nil, want an error")
	}
}

func TestInvalidUTF8Verifies(t *testing.T) {
	f := newFixture(t)
	e := testEntry(1)
	e.Principal = "bad\xffname"
	e.Details = map[string]string{"k\xfe": "v\xc3"}
	if err := f.log.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK {
		t.Errorf("Verify = %+v, want OK", rep)
	}
}

// TestRepairedDetailsVerify checks entries whose detail keys or values
// need UTF-8 repair, including keys that become one after it, written
// together in one record beside entries whose details need none: the
// stored JSON and the hash agree, and the caller's maps are left as they
// were (the log repairs a copy).
func TestRepairedDetailsVerify(t *testing.T) {
	f := newFixture(t)
	colliding := map[string]string{"a\xff": "1", "a\xfe": "2", "a\uFFFD": "3", "b": "\x00\"\\\n\u2028"}
	badValue := map[string]string{"k": "v\xc3", "": ""}
	plain := map[string]string{"k": "v", "email": "x@example.com"}
	var es []Entry
	for i, d := range []map[string]string{colliding, plain, badValue, nil, {}, plain} {
		e := testEntry(i)
		e.Details = d
		es = append(es, e)
	}
	if err := f.log.append(context.Background(), es...); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK || rep.Entries != int64(len(es)) {
		t.Errorf("Verify = %+v, want OK with %d entries", rep, len(es))
	}
	if len(colliding) != 4 || colliding["a\xff"] != "1" || badValue["k"] != "v\xc3" {
		t.Errorf("the caller's maps were changed: %q, %q", colliding, badValue)
	}
}

func TestCanonicalIsInjective(t *testing.T) {
	base := Entry{Seq: 1, Time: time.Unix(0, 0)}
	tests := []struct {
		name string
		a, b Entry
	}{
		{"field boundary", Entry{Principal: "ab", AuthMethod: "c"}, Entry{Principal: "a", AuthMethod: "bc"}},
		{"field order", Entry{Method: "x"}, Entry{Resource: "x"}},
		{"detail boundary", Entry{Details: map[string]string{"ab": "c"}}, Entry{Details: map[string]string{"a": "bc"}}},
		{"seq", Entry{Seq: 2}, Entry{Seq: 3}},
		{"time", Entry{Time: time.Unix(1, 0)}, Entry{Time: time.Unix(1, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.a, tc.b
			if a.Seq == 0 {
				a.Seq, b.Seq = base.Seq, base.Seq
			}
			if a.Time.IsZero() {
				a.Time, b.Time = base.Time, base.Time
			}
			if bytes.Equal(appendCanonical(nil, &a, sortedKeys(nil, a.Details)), appendCanonical(nil, &b, sortedKeys(nil, b.Details))) {
				t.Errorf("%+v and %+v share a canonical encoding", a, b)
			}
		})
	}
	// Details are encoded in key order, whatever the map's order.
	e := Entry{Details: map[string]string{"z": "1", "a": "2", "m": "3"}}
	first := appendCanonical(nil, &e, sortedKeys(nil, e.Details))
	for range 20 {
		if !bytes.Equal(first, appendCanonical(nil, &e, sortedKeys(nil, e.Details))) {
			t.Fatal("canonical encoding depends on map order")
		}
	}
}

func TestRunHeadLogger(t *testing.T) {
	f := newFixture(t)
	appendN(t, f.log, 0, 3)
	var mu sync.Mutex
	var buf bytes.Buffer
	l := f.openWith(t, slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.RunHeadLogger(ctx, 5*time.Millisecond); close(done) }()
	last, _ := f.log.List(context.Background(), Query{AfterSeq: 2})
	want := fmt.Sprintf("audit head\" seq=3 hash=%s", last[0].Hash)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if strings.Contains(out, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log = %q, want it to contain %q", out, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
