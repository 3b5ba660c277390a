// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custos-kms/custos/internal/storage"
)

// The statements on the records table, shared by the read pool and the
// writer. Names compare with SQLite's default BINARY collation, which is
// byte order, the order storagetest pins down.
const (
	recordColumns = "name, kind, parent, due, rev, data, mac"

	sqlGet = "SELECT " + recordColumns + " FROM records WHERE name = ?"

	// Two list statements rather than one with "(? = '' OR name > ?)": an
	// OR in the range term would keep SQLite from seeking the index.
	sqlList     = "SELECT " + recordColumns + " FROM records WHERE kind = ? AND parent = ? ORDER BY name LIMIT ?"
	sqlListFrom = "SELECT " + recordColumns + " FROM records WHERE kind = ? AND parent = ? AND name > ? ORDER BY name LIMIT ?"

	// The integrity scan's pages, in the primary key's order.
	sqlWalk = "SELECT " + recordColumns + " FROM records WHERE name > ? ORDER BY name LIMIT ?"

	// "due > 0" is spelled out so that SQLite can use the partial index
	// records_due, whose WHERE clause is the same term.
	sqlListDue = "SELECT " + recordColumns + " FROM records WHERE kind = ? AND due > 0 AND due <= ? ORDER BY due, name LIMIT ?"

	// Create and Put report "exists" and "conflict" through the number of
	// rows changed rather than through a constraint error, so that the
	// expected outcomes never take an error path in SQLite.
	sqlCreate = "INSERT INTO records (name, kind, parent, due, rev, data, mac) VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (name) DO NOTHING"
	sqlPutRev = "UPDATE records SET kind = ?, parent = ?, due = ?, rev = rev + 1, data = ?, mac = ? WHERE name = ? AND rev = ?"
	sqlPutAny = "INSERT INTO records (name, kind, parent, due, rev, data, mac) VALUES (?, ?, ?, ?, 1, ?, ?) " +
		"ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, parent = excluded.parent, due = excluded.due, " +
		"rev = records.rev + 1, data = excluded.data, mac = excluded.mac"
	sqlDelete = "DELETE FROM records WHERE name = ?"
)

// getRecord runs a prepared sqlGet.
func getRecord(ctx context.Context, get *sql.Stmt, name string) (storage.Record, error) {
	var r storage.Record
	var kind string
	err := get.QueryRowContext(ctx, name).Scan(&r.Name, &kind, &r.Parent, &r.Due, &r.Rev, &r.Data, &r.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Record{}, fmt.Errorf("%q: %w", name, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Record{}, err
	}
	r.Kind = storage.Kind(kind)
	return r, nil
}

// listRecords runs the prepared sqlList or sqlListFrom that opts calls for.
func listRecords(ctx context.Context, list, listFrom *sql.Stmt, opts storage.ListOptions) ([]storage.Record, error) {
	if opts.After == "" {
		return queryRecords(ctx, list, opts.Limit, string(opts.Kind), opts.Parent, sqlLimit(opts.Limit))
	}
	return queryRecords(ctx, listFrom, opts.Limit, string(opts.Kind), opts.Parent, opts.After, sqlLimit(opts.Limit))
}

// queryRecords runs a prepared query that selects recordColumns. limit is
// only a hint for the size of the result.
func queryRecords(ctx context.Context, stmt *sql.Stmt, limit int, args ...any) ([]storage.Record, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Record
	if limit > 0 {
		out = make([]storage.Record, 0, min(limit, 64))
	}
	for rows.Next() {
		var r storage.Record
		var kind string
		if err := rows.Scan(&r.Name, &kind, &r.Parent, &r.Due, &r.Rev, &r.Data, &r.MAC); err != nil {
			return nil, err
		}
		r.Kind = storage.Kind(kind)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// sqlLimit turns a limit where 0 or less means none into SQLite's, where a
// negative LIMIT means none.
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return -1
	}
	return int64(limit)
}

// blob returns b, or an empty slice for nil: the driver binds a nil slice
// as NULL, which the NOT NULL columns refuse, and nil and empty mean the
// same to the store.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
