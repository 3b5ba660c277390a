// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// applicationID marks a SQLite file as a Custos database, in the header
// field that SQLite reserves for that (PRAGMA application_id). It is
// "Cust" in ASCII.
const applicationID = 0x43757374

// schemaVersion is the version of the schema this code writes and reads,
// kept in meta under "schema_version". A database with a higher version is
// refused; a lower one would be migrated here.
const schemaVersion = 1

// schema creates an empty Custos database.
//
// STRICT makes SQLite check column types, so that a bug can never store a
// string where the store reads an integer. name is NOT NULL because SQLite,
// for historical reasons, lets a non-integer PRIMARY KEY be NULL.
// records_due is partial: most records are never due, and leaving them out
// keeps the index small; it includes name so that ties on due come out in
// name order without a sort.
var schema = []string{
	`CREATE TABLE records (
		name   TEXT    NOT NULL PRIMARY KEY,
		kind   TEXT    NOT NULL,
		parent TEXT    NOT NULL,
		due    INTEGER NOT NULL,
		rev    INTEGER NOT NULL,
		data   BLOB    NOT NULL,
		mac    BLOB    NOT NULL
	) STRICT`,
	`CREATE INDEX records_list ON records (kind, parent, name)`,
	`CREATE INDEX records_due ON records (kind, due, name) WHERE due > 0`,
	`CREATE TABLE meta (
		key   TEXT NOT NULL PRIMARY KEY,
		value TEXT
	) STRICT`,
	`INSERT INTO meta (key, value) VALUES ('schema_version', '` + strconv.Itoa(schemaVersion) + `')`,
	`PRAGMA application_id = ` + strconv.Itoa(applicationID),
}

// initSchema checks that the database on w's connection is a Custos
// database this code can use, creating the schema in an empty one, and
// then puts the connection in the durable WAL mode.
//
// Nothing is written to a file that turns out to belong to someone else:
// the journal mode, which is stored in the file, is set only once the file
// is known to be ours.
func (w *writer) initSchema(ctx context.Context) error {
	id, tables, err := w.identify(ctx)
	if err != nil {
		return err
	}
	if id == 0 && tables == 0 {
		if err := w.createSchema(ctx); err != nil {
			return err
		}
	} else if id != applicationID {
		return fmt.Errorf("application id %#x, %d tables: %w", id, tables, ErrNotDatabase)
	}

	var v string
	err = w.conn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	version, err := strconv.Atoi(v)
	switch {
	case err != nil || version < 1:
		return fmt.Errorf("invalid schema version %q", v)
	case version > schemaVersion:
		return fmt.Errorf("schema version %d, this version supports up to %d: %w", version, schemaVersion, ErrSchemaTooNew)
	}

	if err := w.setWAL(ctx); err != nil {
		return err
	}
	// FULL syncs the WAL on every commit: what Update acknowledged survives
	// a power loss, not only a crash of the process (NORMAL would not).
	if _, err := w.conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return fmt.Errorf("set synchronous mode: %w", err)
	}
	// Deleted and overwritten content is zeroed, in the page and on the
	// freelist, rather than left in the file: the material of a destroyed
	// version is gone once its record is rewritten and the WAL
	// checkpointed, not recoverable (with a valid MAC) from free space.
	if _, err := w.conn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return fmt.Errorf("set secure delete: %w", err)
	}
	return nil
}

// identify returns the application id and the number of tables and
// indexes of the database.
func (w *writer) identify(ctx context.Context) (id int64, tables int, err error) {
	if err := w.conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
		if notADatabase(err) {
			return 0, 0, fmt.Errorf("%w: %w", ErrNotDatabase, err)
		}
		return 0, 0, fmt.Errorf("read application id: %w", err)
	}
	if err := w.conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return 0, 0, fmt.Errorf("read schema: %w", err)
	}
	return id, tables, nil
}

// createSchema writes the schema into an empty database. Another process may be
// creating it at the same time; the write lock taken by BEGIN IMMEDIATE
// orders the two, and the second finds the schema done.
func (w *writer) createSchema(ctx context.Context) (err error) {
	// The journal mode cannot change inside a transaction, and setting it
	// first means the schema is written through the WAL as well.
	if err := w.setWAL(ctx); err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer func() {
		if err != nil {
			w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	id, tables, err := w.identify(ctx)
	if err != nil {
		return err
	}
	if id != 0 || tables != 0 {
		// Created meanwhile; initSchema checks what was created.
		_, err = w.conn.ExecContext(ctx, "COMMIT")
		return err
	}
	for _, stmt := range schema {
		if _, err := w.conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("create schema: commit: %w", err)
	}
	return nil
}

// setWAL switches the database to write-ahead logging, which lets readers
// go on while the writer commits, and checks that SQLite agreed.
func (w *writer) setWAL(ctx context.Context) error {
	var mode string
	if err := w.conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set WAL mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("set WAL mode: journal mode is still %q", mode)
	}
	return nil
}

// openWriter opens the writer's connection on the database file at path,
// checks or creates the schema, and prepares the statements.
func openWriter(path string) (_ *writer, err error) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(path, fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	w := &writer{db: db}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.conn, err = db.Conn(ctx); err != nil {
		if notADatabase(err) {
			err = fmt.Errorf("%w: %w", ErrNotDatabase, err)
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := w.initSchema(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := w.prepare(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
	}
	return w, nil
}

// close closes the writer's statements and connection.
func (w *writer) close() error {
	var errs []error
	// database/sql does not track statements prepared on a *sql.Conn: left
	// open, they would keep SQLite from closing the connection for real
	// (sqlite3_close_v2 leaves it a zombie), and the WAL would never be
	// checkpointed into the database file on close.
	for _, st := range w.stmts() {
		if *st != nil {
			errs = append(errs, (*st).Close())
		}
	}
	if w.conn != nil {
		errs = append(errs, w.conn.Close())
	}
	// SQLite checkpoints the WAL into the database file and removes it
	// when the last connection to the file closes.
	errs = append(errs, w.db.Close())
	return errors.Join(errs...)
}
