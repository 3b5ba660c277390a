// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/storagetest"
)

// openTemp opens a new store in a temporary directory, closed when the test
// ends, and returns it with its path.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "custos.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// testRecord returns a record whose bytes are derived from its name, so
// that a damaged or misplaced record is caught.
func testRecord(name string) storage.Record {
	sum := sha256.Sum256([]byte(name))
	return storage.Record{
		Kind:   "test.CryptoKey",
		Name:   name,
		Parent: "parent",
		Due:    int64(sum[0]) + 1,
		Data:   bytes.Repeat(sum[:], 4),
		MAC:    sum[:],
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestPersistence(t *testing.T) {
	s, path := openTemp(t)
	var want []storage.Record
	for i := range 20 {
		r := testRecord(fmt.Sprintf("keys/%02d", i))
		want = append(want, r)
	}
	update(t, s, func(tx storage.Tx) error {
		for _, r := range want {
			if err := tx.Create(t.Context(), r); err != nil {
				return err
			}
		}
		return nil
	})
	// A second revision of one record, and a deleted one.
	want[3].Data = []byte("revised")
	update(t, s, func(tx storage.Tx) error { return tx.Put(t.Context(), withRev(want[3], 1)) })
	update(t, s, func(tx storage.Tx) error { return tx.Delete(t.Context(), want[19].Name) })
	want = want[:19]
	for i := range want {
		want[i].Rev = 1
	}
	want[3].Rev = 2
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q) again = %v", path, err)
	}
	defer s.Close()
	got, err := s.List(t.Context(), storage.ListOptions{Kind: "test.CryptoKey", Parent: "parent"})
	if err != nil {
		t.Fatalf("List() after reopen = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List() after reopen mismatch (-want +got):\n%s", diff)
	}
	due, err := s.ListDue(t.Context(), "test.CryptoKey", 1<<62, 100)
	if err != nil || len(due) != len(want) {
		t.Errorf("ListDue() after reopen = %d records, %v; want %d", len(due), err, len(want))
	}
	// Revisions go on from where they were.
	update(t, s, func(tx storage.Tx) error { return tx.Put(t.Context(), want[3]) })
	if r, err := s.Get(t.Context(), want[3].Name); err != nil || r.Rev != 3 {
		t.Errorf("Get(%q) after Put = rev %d, %v; want rev 3", want[3].Name, r.Rev, err)
	}
}

func update(t *testing.T, s storage.Store, fn func(storage.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update() = %v", err)
	}
}

func withRev(r storage.Record, rev int64) storage.Record {
	r.Rev = rev
	return r
}

func TestFileMode(t *testing.T) {
	s, path := openTemp(t)
	update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("a")) })
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("Stat(%q) = %v", p, err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode of %s = %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	// The writer is idle: its connection can be borrowed for a query.
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"secure_delete", "1"},
		{"application_id", "1131770740"},
	} {
		var got string
		if err := s.w.conn.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s = %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

func TestOpenPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "custos db?.sqlite")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("a")) })
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	// The bytes of a real Custos database, to damage.
	goodBytes := func(t *testing.T) []byte {
		good := filepath.Join(t.TempDir(), "good.db")
		s, err := Open(good)
		if err != nil {
			t.Fatal(err)
		}
		update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("a")) })
		// Close checkpoints the WAL into the file, so the file alone holds
		// the whole database.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr error // nil: any error
		check   func(t *testing.T, path string)
	}{
		{
			name: "random bytes",
			setup: func(t *testing.T, path string) {
				writeFile(t, path, rand.Text()+rand.Text())
			},
			wantErr: ErrNotDatabase,
		},
		{
			name:    "short text file",
			setup:   func(t *testing.T, path string) { writeFile(t, path, "hello") },
			wantErr: ErrNotDatabase,
		},
		{
			name: "sqlite header then garbage",
			setup: func(t *testing.T, path string) {
				writeFile(t, path, sqliteMagic+strings.Repeat("\xff", 4096))
			},
			wantErr: ErrNotDatabase,
		},
		{
			name: "another application's database",
			setup: func(t *testing.T, path string) {
				execSQL(t, path, "CREATE TABLE foo (x TEXT)", "INSERT INTO foo VALUES ('theirs')")
			},
			wantErr: ErrNotDatabase,
			check: func(t *testing.T, path string) {
				// Refused without being touched: still in its own journal
				// mode, with its data.
				db := openRaw(t, path)
				var mode, x string
				if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "delete" {
					t.Errorf("journal_mode = %q, %v; want delete", mode, err)
				}
				if err := db.QueryRow("SELECT x FROM foo").Scan(&x); err != nil || x != "theirs" {
					t.Errorf("their row = %q, %v", x, err)
				}
			},
		},
		{
			name: "another application id",
			setup: func(t *testing.T, path string) {
				execSQL(t, path, "PRAGMA application_id = 42")
			},
			wantErr: ErrNotDatabase,
		},
		{
			name: "newer schema",
			setup: func(t *testing.T, path string) {
				writeFile(t, path, string(goodBytes(t)))
				execSQL(t, path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
			},
			wantErr: ErrSchemaTooNew,
		},
		{
			name: "damaged pages",
			setup: func(t *testing.T, path string) {
				b := goodBytes(t)
				for i := 100; i < len(b); i++ {
					b[i] ^= 0x5a
				}
				writeFile(t, path, string(b))
			},
		},
		{
			name: "truncated",
			setup: func(t *testing.T, path string) {
				writeFile(t, path, string(goodBytes(t)[:50]))
			},
			wantErr: ErrNotDatabase,
		},
		{
			name:  "a directory",
			setup: func(t *testing.T, path string) { os.Mkdir(path, 0o700) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "custos.db")
			tc.setup(t, path)
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatalf("Open() = nil error, want %v", tc.wantErr)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Open() = %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, path)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openRaw opens the file with the driver alone, bypassing Open's checks.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("Exec(%q) = %v", s, err)
		}
	}
}

func TestQueryPlans(t *testing.T) {
	// The indexes only help if SQLite uses them; a query rewritten in a
	// way it cannot match (an OR, a missing "due > 0") would silently scan.
	_, path := openTemp(t)
	db := openRaw(t, path)
	tests := []struct {
		query string
		args  []any
		index string
	}{
		{sqlGet, []any{"x"}, "sqlite_autoindex_records_1"},
		{sqlList, []any{"k", "p", 10}, "records_list"},
		{sqlListFrom, []any{"k", "p", "a", 10}, "records_list"},
		{sqlListDue, []any{"k", 100, 10}, "records_due"},
		{sqlWalk, []any{"a", 10}, "sqlite_autoindex_records_1"},
	}
	for _, tc := range tests {
		rows, err := db.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("EXPLAIN %q = %v", tc.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, tc.index) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("plan of %q = %q, want a search on %s and no sort", tc.query, p, tc.index)
		}
	}
}
