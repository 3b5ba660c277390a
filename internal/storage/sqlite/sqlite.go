// SPDX-License-Identifier: Apache-2.0

// Package sqlite is the SQLite storage backend: a [storage.Store] in one
// local file, for single-node deployments.
//
// It uses the pure-Go driver modernc.org/sqlite, so Custos builds without
// cgo.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: when [Store.Update]
// returns nil, the write-ahead log holding the transaction has been synced
// to disk, and the write survives a kill -9 of the process or a power loss.
// Where the system has it, the sync is fdatasync(2), as in SQLite's own
// builds for Linux: it writes the data and the size of the file, all a
// commit needs, without the timestamps that make fsync(2) go through the
// file system's journal (on ext4 this halves the CPU time of a commit).
//
// # Group commit
//
// A synced commit costs about one disk flush, whatever it holds. To reach
// thousands of acknowledged writes per second, every Update call is handed
// to one writer goroutine, which takes all the calls waiting (up to 256)
// and runs them in one SQLite transaction, each function inside
// its own SAVEPOINT, in arrival order. A function that fails is rolled back
// to its savepoint and only its caller hears the error; the others go on.
// One COMMIT then makes the whole batch durable, and only after it does any
// caller hear nil. If the COMMIT fails, every caller whose function had
// succeeded gets an error wrapping [storage.ErrUnavailable].
//
// Because the calls run one after another on one connection, a
// read-modify-write inside a function can never lose an update: Update
// never needs to retry, and never calls a function twice.
//
// # Reads
//
// Get, List and ListDue on the [Store] use a separate pool of read-only
// connections. WAL lets them read the last committed state while the writer
// works, so reads never wait for a batch. They do not see writes of a batch
// that has not committed yet.
//
// # Hazards
//
// The function given to Update runs on the writer goroutine, so while it
// runs no other Update makes progress. It must be quick, must not call
// Update or Close (that deadlocks: the call would wait for the writer that
// is running it), and must not call runtime.Goexit (t.Fatal in a test), which
// would stop the writer. A panic in it is recovered on the writer and
// raised again in the caller's goroutine, with nothing written.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/custos-kms/custos/internal/storage"
)

// Errors returned by [Open]. They are not wrapped in storage sentinels: they
// mean the file is wrong, not that the backend is unavailable.
var (
	// ErrNotDatabase means the file is not a Custos database: not SQLite
	// at all, or a SQLite database of another application.
	ErrNotDatabase = errors.New("sqlite: not a Custos database")
	// ErrSchemaTooNew means the database was written by a newer Custos
	// whose schema this version does not know.
	ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version of Custos supports")
)

// maxBatch bounds how many Update calls share one transaction. Past a few
// hundred the commit is no longer the cost that dominates, and a bigger
// batch only makes the callers at its start wait longer.
const maxBatch = 256

// busyTimeoutMillis is how long a connection waits for a lock held by another
// connection (in this process, a checkpoint; or another process that opened
// the same file) before it reports SQLITE_BUSY.
const busyTimeoutMillis = 10_000

// Store is a [storage.Store] on a SQLite database file. It is safe for
// concurrent use. Create it with [Open]; call Close when done.
type Store struct {
	path string

	// readDB is the pool of read-only connections for Store reads.
	readDB   *sql.DB
	get      *sql.Stmt
	list     *sql.Stmt
	listFrom *sql.Stmt
	listDue  *sql.Stmt
	walk     *sql.Stmt

	// w is the writer's connection and statements. Only the writer
	// goroutine uses it, from the end of Open until Close.
	w *writer

	// mu guards pending and closing: the Update calls waiting for the
	// writer, and whether Close has started.
	mu      sync.Mutex
	pending []*call
	closing bool
	// wake tells the writer that pending has grown or closing was set. It
	// holds at most one token: the writer rechecks pending under mu.
	wake chan struct{}
	// writerDone is closed when the writer goroutine has returned.
	writerDone chan struct{}

	// closed is set once Close has begun; every call then fails.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// beforeCommit, if set, runs on the writer just before each COMMIT; an
	// error it returns is treated as a failed COMMIT. Tests use it to check
	// that no caller is answered before the commit, and what callers hear
	// when a commit fails.
	beforeCommit func() error
}

var _ storage.Store = (*Store)(nil)

// Open opens the Custos database at path, creating the file (mode 0600) and
// its schema if the file does not exist or is empty. The mode of an existing
// file is left as it is. SQLite creates the -wal and -shm files beside it
// with the same mode.
//
// Open refuses, with an error wrapping [ErrNotDatabase], a file that is not
// a SQLite database or is the database of another application, and changes
// nothing in it. It refuses with [ErrSchemaTooNew] a database written by a
// newer version of Custos.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	useFdatasync.Do(func() {
		// Process-wide; refused where the system has no fdatasync, and
		// fsync then stays.
		sqlite.Fdatasync(true)
	})

	w, err := openWriter(abs)
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:       abs,
		w:          w,
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
	if err := s.openReaders(); err != nil {
		if s.readDB != nil {
			s.readDB.Close()
		}
		w.close()
		return nil, err
	}
	go s.writeLoop()
	return s, nil
}

// useFdatasync switches the driver to fdatasync once (see Durability).
var useFdatasync sync.Once

// createFile creates the database file with mode 0600 if it does not exist,
// before SQLite would create it with a wider mode, and refuses early a file
// that does not start with a whole SQLite header. An empty file is a new
// database.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer f.Close()
	var header [sqliteHeaderSize]byte
	n, err := io.ReadFull(f, header[:])
	switch {
	case n == 0 && err == io.EOF:
		return nil
	case err == io.ErrUnexpectedEOF || err == nil && string(header[:len(sqliteMagic)]) != sqliteMagic:
		return fmt.Errorf("sqlite: open %s: %w (no SQLite header)", path, ErrNotDatabase)
	case err != nil:
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return nil
}

// sqliteMagic starts every SQLite 3 database file, whose header is
// sqliteHeaderSize bytes long.
// See https://www.sqlite.org/fileformat2.html#the_database_header.
const (
	sqliteMagic      = "SQLite format 3\x00"
	sqliteHeaderSize = 100
)

// dsn returns the data source name for the database at path with the given
// driver parameters. The path is a SQLite URI so that characters such as
// '?' and '#' in it are not taken for a query or a fragment.
func dsn(path string, params ...string) string {
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(path); i++ {
		c := path[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	for i, p := range params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p)
	}
	return b.String()
}

// openReaders opens the read pool and prepares its statements.
func (s *Store) openReaders() error {
	db, err := sql.Open("sqlite", dsn(s.path,
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis),
		// A reader that tried to write would take the write lock away from
		// the writer; query_only makes that an error instead.
		"_pragma=query_only(1)",
	))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	s.readDB = db
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.get, sqlGet},
		{&s.list, sqlList},
		{&s.listFrom, sqlListFrom},
		{&s.listDue, sqlListDue},
		{&s.walk, sqlWalk},
	} {
		if *p.stmt, err = db.Prepare(p.query); err != nil {
			return fmt.Errorf("sqlite: open %s: prepare: %w", s.path, err)
		}
	}
	return nil
}

// Get returns the committed record with that name, or an error wrapping
// storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (storage.Record, error) {
	if s.closed.Load() {
		return storage.Record{}, errClosed("get")
	}
	r, err := getRecord(ctx, s.get, name)
	if err != nil {
		return storage.Record{}, s.mapReadErr("get", err)
	}
	return r, nil
}

// List returns the committed records that match opts, ordered by name
// (byte order).
func (s *Store) List(ctx context.Context, opts storage.ListOptions) ([]storage.Record, error) {
	if s.closed.Load() {
		return nil, errClosed("list")
	}
	rs, err := listRecords(ctx, s.list, s.listFrom, opts)
	if err != nil {
		return nil, s.mapReadErr("list", err)
	}
	return rs, nil
}

// Walk returns up to limit committed records (0 or less: no limit) whose
// names come after after, ordered by name (byte order): see storage.Walker.
func (s *Store) Walk(ctx context.Context, after string, limit int) ([]storage.Record, error) {
	if s.closed.Load() {
		return nil, errClosed("walk")
	}
	rs, err := queryRecords(ctx, s.walk, limit, after, sqlLimit(limit))
	if err != nil {
		return nil, s.mapReadErr("walk", err)
	}
	return rs, nil
}

// ListDue returns up to limit committed records of the kind whose Due is in
// (0, before], ordered by Due, then by name. A limit of 0 or less means no
// limit.
func (s *Store) ListDue(ctx context.Context, kind storage.Kind, before int64, limit int) ([]storage.Record, error) {
	if s.closed.Load() {
		return nil, errClosed("list due")
	}
	rs, err := queryRecords(ctx, s.listDue, limit, string(kind), before, sqlLimit(limit))
	if err != nil {
		return nil, s.mapReadErr("list due", err)
	}
	return rs, nil
}

// mapReadErr wraps an error of a Store read. A read that raced with Close
// fails on a closed pool; that is reported as ErrUnavailable like any read
// after Close.
func (s *Store) mapReadErr(op string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if s.closed.Load() {
		return errClosed(op)
	}
	return wrapErr(op, err)
}

// Close waits for the Update calls already queued to finish, stops the
// writer, and closes the database. Update calls made after Close has begun,
// and every call made after it has returned, fail with an error wrapping
// storage.ErrUnavailable. Calling Close again returns the result of the
// first call.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.signal()
		// The writer drains what is queued, so every caller already waiting
		// gets a real answer rather than a spurious failure.
		<-s.writerDone
		s.closed.Store(true)
		// database/sql waits for reads in flight before closing the pool.
		err := s.readDB.Close()
		if werr := s.w.close(); err == nil {
			err = werr
		}
		if err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// errClosed is the error of a call made after Close.
func errClosed(op string) error {
	return fmt.Errorf("sqlite: %s: store is closed: %w", op, storage.ErrUnavailable)
}

// wrapErr wraps an error from the driver. Errors that come from the
// environment rather than from the request (a lock held too long, I/O,
// a full disk, no memory) also wrap storage.ErrUnavailable, so that callers
// can tell the request may succeed later.
func wrapErr(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// unavailable reports whether err is a SQLite error caused by the
// environment.
func unavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// notADatabase reports whether err is SQLite saying the file is not a
// database (or is encrypted, or its header is damaged).
func notADatabase(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB
}
