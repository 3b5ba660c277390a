// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custos-kms/custos/internal/storage"
)

// tx is the storage.Tx handed to one Update function. It runs on the
// writer's connection, inside the batch's transaction and the call's
// savepoint, so it reads its own writes and those of the calls before it
// in the batch. It must not be used from more than one goroutine at a time,
// nor after the function returns.
type tx struct {
	w    *writer
	done bool // the function has returned
}

var _ storage.Tx = (*tx)(nil)

// errTxDone is returned by a tx used after its function returned. The
// transaction it belonged to may have committed long ago.
var errTxDone = errors.New("sqlite: transaction used after its update function returned")

// check returns the error that stops an operation before it starts: the tx
// is finished, the batch is broken, or the caller's context has ended.
func (t *tx) check(ctx context.Context, op string) error {
	if t.done {
		return errTxDone
	}
	if t.w.broken != nil {
		return fmt.Errorf("sqlite: %s: batch abandoned: %w", op, storage.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return nil
}

// fail records that a statement failed for a reason other than the
// request, which breaks the batch (see writer.broken), and returns the
// error for the function.
func (t *tx) fail(op string, err error) error {
	t.w.broken = err
	return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrUnavailable, err)
}

// Get returns the record with that name as this transaction sees it, or an
// error wrapping storage.ErrNotFound.
func (t *tx) Get(ctx context.Context, name string) (storage.Record, error) {
	if err := t.check(ctx, "get"); err != nil {
		return storage.Record{}, err
	}
	// The statements run under the background context; see writer.exec.
	r, err := getRecord(context.Background(), t.w.get, name)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.Record{}, fmt.Errorf("sqlite: get: %w", err)
	case err != nil:
		return storage.Record{}, t.fail("get", err)
	}
	return r, nil
}

// List returns the records that match opts as this transaction sees them,
// ordered by name.
func (t *tx) List(ctx context.Context, opts storage.ListOptions) ([]storage.Record, error) {
	if err := t.check(ctx, "list"); err != nil {
		return nil, err
	}
	rs, err := listRecords(context.Background(), t.w.list, t.w.listFrom, opts)
	if err != nil {
		return nil, t.fail("list", err)
	}
	return rs, nil
}

// Create stores r at revision 1, whatever r.Rev is, or returns an error
// wrapping storage.ErrExists if a record has that name.
func (t *tx) Create(ctx context.Context, r storage.Record) error {
	if err := t.check(ctx, "create"); err != nil {
		return err
	}
	res, err := t.w.exec(t.w.create, r.Name, string(r.Kind), r.Parent, r.Due, blob(r.Data), blob(r.MAC))
	if err != nil {
		return t.fail("create", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.fail("create", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create %q: %w", r.Name, storage.ErrExists)
	}
	return nil
}

// Put replaces or creates r as described on storage.Tx. A non-zero r.Rev
// that is not the stored revision, including that of a missing record,
// gives an error wrapping storage.ErrConflict.
func (t *tx) Put(ctx context.Context, r storage.Record) error {
	if err := t.check(ctx, "put"); err != nil {
		return err
	}
	var (
		res sql.Result
		err error
	)
	if r.Rev == 0 {
		res, err = t.w.exec(t.w.putAny, r.Name, string(r.Kind), r.Parent, r.Due, blob(r.Data), blob(r.MAC))
	} else {
		res, err = t.w.exec(t.w.putRev, string(r.Kind), r.Parent, r.Due, blob(r.Data), blob(r.MAC), r.Name, r.Rev)
	}
	if err != nil {
		return t.fail("put", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.fail("put", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: put %q at revision %d: %w", r.Name, r.Rev, storage.ErrConflict)
	}
	return nil
}

// Delete removes the record with that name, if there is one.
func (t *tx) Delete(ctx context.Context, name string) error {
	if err := t.check(ctx, "delete"); err != nil {
		return err
	}
	if _, err := t.w.exec(t.w.del, name); err != nil {
		return t.fail("delete", err)
	}
	return nil
}
