// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// blockWriter runs an Update whose function holds the writer until the
// returned release function is first called, so that the calls made meanwhile
// queue up and form the next batch together.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		finished <- s.Update(context.Background(), func(storage.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	var once sync.Once
	return func() {
		once.Do(func() {
			close(unblock)
			if err := <-finished; err != nil {
				t.Errorf("blocking Update() = %v", err)
			}
		})
	}
}

// waitQueued waits until n calls are queued for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.pending)
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// commitCounter counts the writer's commits through the beforeCommit hook.
// It must be installed before any Update runs.
func commitCounter(s *Store) *atomic.Int64 {
	var n atomic.Int64
	s.beforeCommit = func() error { n.Add(1); return nil }
	return &n
}

func TestGroupCommitBatches(t *testing.T) {
	s, _ := openTemp(t)
	commits := commitCounter(s)
	release := blockWriter(t, s)

	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Create(t.Context(), testRecord(fmt.Sprintf("k/%03d", i)))
			})
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Update(%d) = %v", i, err)
		}
	}
	// One commit for the blocker, one for the hundred queued behind it.
	if got := commits.Load(); got != 2 {
		t.Errorf("%d commits for 1+%d calls, want 2", got, n)
	}
	rs, err := s.List(t.Context(), storage.ListOptions{Kind: "test.CryptoKey", Parent: "parent"})
	if err != nil || len(rs) != n {
		t.Errorf("List() = %d records, %v; want %d", len(rs), err, n)
	}
}

func TestGroupCommitBatchCap(t *testing.T) {
	s, _ := openTemp(t)
	commits := commitCounter(s)
	release := blockWriter(t, s)
	n := maxBatch + 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Create(t.Context(), testRecord(fmt.Sprintf("k/%03d", i)))
			}); err != nil {
				t.Errorf("Update(%d) = %v", i, err)
			}
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	if got := commits.Load(); got != 3 {
		t.Errorf("%d commits for 1+%d calls with a cap of %d, want 3", got, n, maxBatch)
	}
}

func TestGroupCommitAnswersAfterCommit(t *testing.T) {
	s, _ := openTemp(t)
	const n = 50
	var (
		answered [n]atomic.Bool
		inBatch  []int // calls run since the last commit; writer only
		early    atomic.Int64
	)
	s.beforeCommit = func() error {
		// Give an early answer time to show.
		time.Sleep(2 * time.Millisecond)
		for _, i := range inBatch {
			if answered[i].Load() {
				early.Add(1)
			}
		}
		inBatch = inBatch[:0]
		return nil
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.Update(t.Context(), func(tx storage.Tx) error {
				inBatch = append(inBatch, i)
				return tx.Create(t.Context(), testRecord(fmt.Sprintf("k/%02d", i)))
			})
			answered[i].Store(true)
			if err != nil {
				t.Errorf("Update(%d) = %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := early.Load(); got != 0 {
		t.Errorf("%d callers answered before their batch committed", got)
	}
}

func TestGroupCommitCommitFailure(t *testing.T) {
	s, _ := openTemp(t)
	errDisk := errors.New("disk on fire")
	var commits atomic.Int64
	s.beforeCommit = func() error {
		// The first commit is the blocker's; the second, the batch queued
		// behind it, fails.
		if commits.Add(1) == 2 {
			return errDisk
		}
		return nil
	}
	release := blockWriter(t, s)
	errBoom := errors.New("boom")
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx storage.Tx) error {
				if err := tx.Create(t.Context(), testRecord(fmt.Sprintf("k/%02d", i))); err != nil {
					return err
				}
				if i == 3 {
					return errBoom
				}
				return nil
			})
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	for i, err := range errs {
		want := storage.ErrUnavailable
		if i == 3 {
			// Its function failed: it hears its own error, not the commit's.
			want = errBoom
		}
		if !errors.Is(err, want) {
			t.Errorf("Update(%d) = %v, want %v", i, err, want)
		}
		if i != 3 && !errors.Is(err, errDisk) {
			t.Errorf("Update(%d) = %v, want it to wrap the commit's error", i, err)
		}
		if _, err := s.Get(t.Context(), fmt.Sprintf("k/%02d", i)); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(k/%02d) after failed commit = %v, want ErrNotFound", i, err)
		}
	}
	// The store goes on working.
	update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("after")) })
	if _, err := s.Get(t.Context(), "after"); err != nil {
		t.Errorf("Get(after) = %v", err)
	}
}

func TestGroupCommitPanic(t *testing.T) {
	s, _ := openTemp(t)
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	var otherErr error
	wg.Go(func() {
		otherErr = s.Update(t.Context(), func(tx storage.Tx) error {
			return tx.Create(t.Context(), testRecord("other"))
		})
	})
	var recovered any
	wg.Go(func() {
		defer func() { recovered = recover() }()
		s.Update(t.Context(), func(tx storage.Tx) error {
			if err := tx.Create(t.Context(), testRecord("panicker")); err != nil {
				return err
			}
			panic("fn panicked")
		})
	})
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	if recovered != "fn panicked" {
		t.Errorf("caller recovered %v, want the function's panic value", recovered)
	}
	if otherErr != nil {
		t.Errorf("Update(other) in the same batch = %v", otherErr)
	}
	if _, err := s.Get(t.Context(), "panicker"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(panicker) = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(t.Context(), "other"); err != nil {
		t.Errorf("Get(other) = %v", err)
	}
}

func TestGroupCommitGoexit(t *testing.T) {
	s, _ := openTemp(t)
	done := make(chan error)
	go func() {
		done <- s.Update(t.Context(), func(tx storage.Tx) error {
			if err := tx.Create(t.Context(), testRecord("goexit")); err != nil {
				return err
			}
			runtime.Goexit() // what t.Fatal does
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Update(Goexit) = %v, want ErrUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Update(Goexit) did not return")
	}
	if _, err := s.Get(t.Context(), "goexit"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(goexit) = %v, want ErrNotFound", err)
	}
	// A new writer took over.
	update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("after")) })
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

func TestUpdateAbandonedWhileQueued(t *testing.T) {
	s, _ := openTemp(t)
	release := blockWriter(t, s)
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	ran := atomic.Bool{}
	done := make(chan error)
	go func() {
		done <- s.Update(ctx, func(tx storage.Tx) error {
			ran.Store(true)
			return tx.Create(ctx, testRecord("abandoned"))
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Update(canceled while queued) = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Update did not return when its context was canceled")
	}
	release()
	update(t, s, func(tx storage.Tx) error { return nil })
	if ran.Load() {
		t.Errorf("the abandoned call's function ran")
	}
}

func TestReadsDoNotWaitForWriter(t *testing.T) {
	s, _ := openTemp(t)
	update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("a")) })
	release := blockWriter(t, s)
	defer release()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Errorf("Get() while the writer is busy = %v", err)
	}
	if _, err := s.List(ctx, storage.ListOptions{Kind: "test.CryptoKey", Parent: "parent"}); err != nil {
		t.Errorf("List() while the writer is busy = %v", err)
	}
}

func TestTxAfterReturn(t *testing.T) {
	s, _ := openTemp(t)
	var kept storage.Tx
	update(t, s, func(tx storage.Tx) error { kept = tx; return nil })
	ctx := t.Context()
	if _, err := kept.Get(ctx, "a"); !errors.Is(err, errTxDone) {
		t.Errorf("Get on a finished tx = %v, want errTxDone", err)
	}
	if err := kept.Create(ctx, testRecord("a")); !errors.Is(err, errTxDone) {
		t.Errorf("Create on a finished tx = %v, want errTxDone", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(a) = %v, want ErrNotFound", err)
	}
}

func TestCloseDrainsQueue(t *testing.T) {
	s, _ := openTemp(t)
	release := blockWriter(t, s)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Create(t.Context(), testRecord(fmt.Sprintf("k/%02d", i)))
			})
		})
	}
	waitQueued(t, s, n)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	// Close must wait for the queue; it cannot finish while the writer is
	// blocked.
	select {
	case err := <-closed:
		t.Fatalf("Close() = %v before the queue drained", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Errorf("Close() = %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Update(%d) queued before Close = %v, want nil", i, err)
		}
	}
}

func TestGroupCommitBrokenBatch(t *testing.T) {
	// A statement failing for a reason other than the request (I/O, a full
	// disk) may have rolled back the whole transaction in SQLite; the batch
	// is then abandoned. The failure is simulated through tx.fail, the path
	// every such statement error takes.
	s, _ := openTemp(t)
	release := blockWriter(t, s)
	errBoom := errors.New("boom")
	errIO := errors.New("simulated I/O error")
	var laterRan atomic.Bool
	fns := []struct {
		name string
		fn   func(tx storage.Tx) error
		want error
	}{
		{"before", func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("before")) }, storage.ErrUnavailable},
		{"failed on its own", func(tx storage.Tx) error {
			if err := tx.Create(t.Context(), testRecord("failed on its own")); err != nil {
				return err
			}
			return errBoom
		}, errBoom},
		{"breaker", func(stx storage.Tx) error {
			if err := stx.Create(t.Context(), testRecord("breaker")); err != nil {
				return err
			}
			stx.(*tx).fail("put", errIO)
			// Later statements of the batch are refused.
			if err := stx.Create(t.Context(), testRecord("breaker 2")); !errors.Is(err, storage.ErrUnavailable) {
				return fmt.Errorf("Create after the batch broke = %v, want ErrUnavailable", err)
			}
			return nil // swallowed: the caller must still hear of it
		}, storage.ErrUnavailable},
		{"later", func(tx storage.Tx) error {
			laterRan.Store(true)
			return tx.Create(t.Context(), testRecord("later"))
		}, storage.ErrUnavailable},
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Go(func() { errs[i] = s.Update(t.Context(), f.fn) })
		waitQueued(t, s, i+1) // queued in this order
	}
	release()
	wg.Wait()
	for i, f := range fns {
		if !errors.Is(errs[i], f.want) {
			t.Errorf("Update(%s) = %v, want %v", f.name, errs[i], f.want)
		}
		if _, err := s.Get(t.Context(), f.name); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", f.name, err)
		}
	}
	if laterRan.Load() {
		t.Errorf("a function queued after the break ran in the broken batch")
	}
	update(t, s, func(tx storage.Tx) error { return tx.Create(t.Context(), testRecord("after")) })
}
