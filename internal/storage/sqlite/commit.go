// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"github.com/custos-kms/custos/internal/storage"
)

// writer is the one connection that writes, with its prepared statements.
// Only the writer goroutine uses it once Open has returned.
type writer struct {
	db   *sql.DB // a pool of one: conn
	conn *sql.Conn

	begin, commit, rollback        *sql.Stmt
	savepoint, release, rollbackTo *sql.Stmt
	get, list, listFrom            *sql.Stmt
	create, putRev, putAny, del    *sql.Stmt

	// broken is set when a statement of the current batch failed for a
	// reason other than the request (I/O, a full disk...). SQLite may then
	// have rolled back the whole transaction on its own, so the batch can
	// no longer be trusted: it is abandoned and nothing more runs in it.
	broken error
}

// writerStatements are the writer's statements, in the order of
// writer.stmts.
var writerStatements = []string{
	// IMMEDIATE takes the write lock at once, so that a batch can never
	// fail half way with SQLITE_BUSY because another process wrote.
	"BEGIN IMMEDIATE",
	"COMMIT",
	"ROLLBACK",
	// One savepoint name serves every call: each is released before the
	// next call's is opened.
	"SAVEPOINT call",
	"RELEASE call",
	"ROLLBACK TO call",
	sqlGet,
	sqlList,
	sqlListFrom,
	sqlCreate,
	sqlPutRev,
	sqlPutAny,
	sqlDelete,
}

// stmts returns pointers to the writer's statements, in the order of
// writerStatements.
func (w *writer) stmts() []**sql.Stmt {
	return []**sql.Stmt{
		&w.begin, &w.commit, &w.rollback,
		&w.savepoint, &w.release, &w.rollbackTo,
		&w.get, &w.list, &w.listFrom,
		&w.create, &w.putRev, &w.putAny, &w.del,
	}
}

// prepare prepares the writer's statements on its connection.
func (w *writer) prepare(ctx context.Context) error {
	for i, st := range w.stmts() {
		var err error
		if *st, err = w.conn.PrepareContext(ctx, writerStatements[i]); err != nil {
			return fmt.Errorf("%s: %w", writerStatements[i], err)
		}
	}
	return nil
}

// exec runs a statement on the writer's connection.
//
// It never passes a caller's context to the driver: a context canceled
// during a statement makes the driver call sqlite3_interrupt, and an
// interrupted write inside a transaction may roll back the whole
// transaction, that is, the writes of every other call in the batch.
// Callers' contexts are checked between statements instead (see tx.check).
func (w *writer) exec(stmt *sql.Stmt, args ...any) (sql.Result, error) {
	return stmt.ExecContext(context.Background(), args...)
}

// call is one Update call waiting for, or being run by, the writer.
type call struct {
	ctx context.Context
	fn  func(storage.Tx) error
	// scrub makes this call a WAL checkpoint (Scrub), run alone, not a
	// transaction.
	scrub bool

	// state moves from queued to running (the writer took it) or to
	// abandoned (the caller's context ended first), never both.
	state atomic.Int32

	// Set by the writer before it closes done.
	err      error
	panicked bool
	panicVal any
	answered bool // done is closed; only the writer reads or writes it
	done     chan struct{}
}

// answer tells the caller that c.err (or c.panicVal) is final.
func (c *call) answer() {
	c.answered = true
	close(c.done)
}

const (
	callQueued int32 = iota
	callRunning
	callAbandoned
)

// Update runs fn in a transaction, as part of the next batch of the writer
// (see the package documentation). It returns nil once fn's writes are
// committed and synced, or fn's error as it is, with nothing written. While
// the call is queued, the end of ctx abandons it with ctx's error; once fn
// has started, Update waits for the batch to commit, so that an error never
// hides a write that became durable. After Close, Update returns an error
// wrapping storage.ErrUnavailable.
func (s *Store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: update: %w", err)
	}
	c := &call{ctx: ctx, fn: fn, done: make(chan struct{})}
	if err := s.submit(c, "update"); err != nil {
		return err
	}
	if c.panicked {
		// fn panicked on the writer goroutine, which recovered so as to go
		// on serving the other calls; the panic belongs to this caller.
		panic(c.panicVal)
	}
	return c.err
}

// submit queues c for the writer and waits for its answer, or for the end
// of ctx while it is still queued.
func (s *Store) submit(c *call, op string) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errClosed(op)
	}
	s.pending = append(s.pending, c)
	s.mu.Unlock()
	s.signal()

	select {
	case <-c.done:
	case <-c.ctx.Done():
		if c.state.CompareAndSwap(callQueued, callAbandoned) {
			return fmt.Errorf("sqlite: %s: %w", op, c.ctx.Err())
		}
		<-c.done
	}
	return nil
}

// Scrub checkpoints the WAL into the database file and truncates it to
// nothing, so that the old page images it holds (of records since
// overwritten or deleted, such as the material of a destroyed key version)
// leave the files: the database file itself keeps no trace of them
// (secure_delete). It runs on the writer between two batches, and waits
// for readers to leave the WAL for a moment only (writes wait meanwhile):
// if they stay, it fails, wrapping storage.ErrUnavailable, and the caller
// tries again later.
func (s *Store) Scrub(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: scrub: %w", err)
	}
	c := &call{ctx: ctx, scrub: true, done: make(chan struct{})}
	if err := s.submit(c, "scrub"); err != nil {
		return err
	}
	return c.err
}

// scrubWaitMillis is how long a Scrub waits for readers to leave the WAL.
const scrubWaitMillis = 250

// runScrub runs a Scrub call.
func (s *Store) runScrub(c *call) {
	if !c.state.CompareAndSwap(callQueued, callRunning) {
		return
	}
	// Readers still on older snapshots make the checkpoint wait, and every
	// write with it: wait briefly, and let the caller try again later.
	ctx := context.Background()
	var busy, logFrames, checkpointed int
	_, err := s.w.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", scrubWaitMillis))
	if err == nil {
		err = s.w.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed)
		if _, rerr := s.w.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeoutMillis)); err == nil {
			err = rerr
		}
	}
	switch {
	case err != nil:
		c.err = fmt.Errorf("sqlite: scrub: %w: %w", storage.ErrUnavailable, err)
	case busy != 0:
		c.err = fmt.Errorf("sqlite: scrub: readers kept the WAL in use: %w", storage.ErrUnavailable)
	}
	c.answer()
}

// signal wakes the writer if it is not already due to wake.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeLoop is the writer goroutine: it runs the queued calls in batches
// until Close, then runs what is still queued and returns.
func (s *Store) writeLoop() {
	batch := make([]*call, 0, maxBatch)
	stopped := false
	defer func() {
		if stopped {
			close(s.writerDone)
			return
		}
		// A function called runtime.Goexit (t.Fatal in a test): it cannot
		// be stopped, but the batch it was in can be failed and the writer
		// replaced, so that no caller waits forever.
		s.abandon(batch)
		go s.writeLoop()
	}()
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.closing {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if len(s.pending) == 0 {
			s.mu.Unlock()
			stopped = true
			return
		}
		// Take the oldest calls first: calls run in arrival order. A
		// scrub runs alone, between batches.
		n := min(len(s.pending), maxBatch)
		for i, c := range s.pending[:n] {
			if c.scrub {
				n = max(i, 1)
				break
			}
		}
		batch = append(batch[:0], s.pending[:n]...)
		rest := copy(s.pending, s.pending[n:])
		clear(s.pending[rest:])
		s.pending = s.pending[:rest]
		s.mu.Unlock()

		if batch[0].scrub {
			s.runScrub(batch[0])
		} else {
			s.runBatch(batch)
		}
		clear(batch) // let the calls be collected
		batch = batch[:0]
	}
}

// abandon rolls back the transaction of a batch cut short and fails every
// call of it that has not been answered.
func (s *Store) abandon(batch []*call) {
	s.w.exec(s.w.rollback)
	for _, c := range batch {
		if c != nil && c.state.Load() == callRunning && !c.answered {
			c.err = fmt.Errorf("sqlite: update: batch abandoned: an update function called runtime.Goexit: %w", storage.ErrUnavailable)
			c.answer()
		}
	}
}

// runBatch runs calls in one transaction and answers each of them.
func (s *Store) runBatch(batch []*call) {
	w := s.w
	live := batch[:0]
	for _, c := range batch {
		if !c.state.CompareAndSwap(callQueued, callRunning) {
			continue // abandoned: its caller has returned already
		}
		if err := c.ctx.Err(); err != nil {
			c.err = fmt.Errorf("sqlite: update: %w", err)
			c.answer()
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}

	w.broken = nil
	if _, err := w.exec(w.begin); err != nil {
		w.broken = err
	}
	// ok[i] records whether live[i]'s fn succeeded, so that its writes
	// depend on the COMMIT. A call whose fn failed keeps its own error
	// whatever happens to the batch: nothing of it was going to be written.
	var okBuf [maxBatch]bool
	ok := okBuf[:len(live)]
	alone := len(live) == 1
	for i, c := range live {
		if w.broken != nil {
			break
		}
		ok[i] = s.runCall(c, alone)
	}

	var failure error
	if alone && !ok[0] && w.broken == nil {
		// The one call failed: nothing is to be kept.
		if _, err := w.exec(w.rollback); err != nil {
			failure = fmt.Errorf("sqlite: update: rollback: %w: %w", storage.ErrUnavailable, err)
		}
	} else if w.broken != nil {
		failure = fmt.Errorf("sqlite: update: batch abandoned: %w: %w", storage.ErrUnavailable, w.broken)
		w.exec(w.rollback) // fails harmlessly if SQLite rolled back already
	} else {
		err := error(nil)
		if s.beforeCommit != nil {
			err = s.beforeCommit()
		}
		if err == nil {
			_, err = w.exec(w.commit)
		}
		if err != nil {
			failure = fmt.Errorf("sqlite: update: commit: %w: %w", storage.ErrUnavailable, err)
			w.exec(w.rollback)
		}
	}

	// Only now, with the batch durable or abandoned, does anyone hear.
	for i, c := range live {
		if failure != nil && (ok[i] || c.err == nil && !c.panicked) {
			c.err = failure
		}
		c.answer()
	}
}

// runCall runs one call's fn inside a savepoint and reports whether fn
// succeeded and its writes were kept in the transaction. On failure it
// sets c.err (or c.panicked) and rolls the savepoint back. A call alone in
// its batch needs no savepoint: if it fails, the caller rolls back the
// whole transaction, two statements fewer on the common path of a quiet
// server.
func (s *Store) runCall(c *call, alone bool) bool {
	w := s.w
	if !alone {
		if _, err := w.exec(w.savepoint); err != nil {
			w.broken = err
			return false
		}
	}
	t := &tx{w: w}
	c.err, c.panicked, c.panicVal = runFn(c.fn, t)
	t.done = true
	if w.broken != nil {
		return false
	}
	if alone {
		return c.err == nil && !c.panicked
	}
	if c.err == nil && !c.panicked {
		if _, err := w.exec(w.release); err != nil {
			w.broken = err
			return false
		}
		return true
	}
	// ROLLBACK TO undoes the call's writes but keeps the savepoint open;
	// RELEASE then closes it, with nothing left in it.
	if _, err := w.exec(w.rollbackTo); err != nil {
		w.broken = err
		return false
	}
	if _, err := w.exec(w.release); err != nil {
		w.broken = err
	}
	return false
}

// runFn calls fn, recovering a panic so that the writer goroutine, which
// serves every caller, survives it.
func runFn(fn func(storage.Tx) error, t *tx) (err error, panicked bool, val any) {
	defer func() {
		if panicked {
			val = recover()
		}
	}()
	panicked = true
	err = fn(t)
	panicked = false
	return err, false, nil
}
