// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCount(t *testing.T) {
	var calls atomic.Int64
	ops := make([]Op, 4)
	for i := range ops {
		ops[i] = func(context.Context) error { calls.Add(1); return nil }
	}
	st := runLoop(context.Background(), RunConfig{Requests: 1000}, ops)
	if st.Requests != 1000 || st.Errors != 0 || calls.Load() != 1000 {
		t.Fatalf("runLoop(Requests: 1000) = %d requests, %d errors, %d calls; want 1000, 0, 1000", st.Requests, st.Errors, calls.Load())
	}
	if st.Hist.Count() != 1000 || st.Sent != 1000 {
		t.Errorf("histogram holds %d samples, Sent = %d; want 1000 each", st.Hist.Count(), st.Sent)
	}
	if st.Elapsed <= 0 || st.RPS() <= 0 {
		t.Errorf("Elapsed = %v, RPS = %v; want positive", st.Elapsed, st.RPS())
	}
}

func TestRunDurationStops(t *testing.T) {
	ops := []Op{func(ctx context.Context) error {
		time.Sleep(time.Millisecond)
		return nil
	}}
	start := time.Now()
	st := runLoop(context.Background(), RunConfig{Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond}, ops)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a 250 ms run took %v", el)
	}
	if st.Requests == 0 || st.Elapsed < 150*time.Millisecond || st.Elapsed > time.Second {
		t.Errorf("requests %d, measured window %v; want some requests in about 200 ms", st.Requests, st.Elapsed)
	}
	if st.Sent <= st.Requests {
		t.Errorf("Sent = %d, Requests = %d: the warm-up's requests are missing from Sent", st.Sent, st.Requests)
	}
}

func TestRunCountsErrors(t *testing.T) {
	boom := errors.New("boom")
	var n atomic.Int64
	ops := []Op{func(context.Context) error {
		if n.Add(1)%4 == 0 {
			return boom
		}
		return nil
	}}
	st := runLoop(context.Background(), RunConfig{Requests: 100}, ops)
	if st.Requests != 75 || st.Errors != 25 || !errors.Is(st.FirstError, boom) {
		t.Errorf("requests %d, errors %d, first error %v; want 75, 25, boom", st.Requests, st.Errors, st.FirstError)
	}
}

func TestRunStuckServerEnds(t *testing.T) {
	ops := []Op{func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	start := time.Now()
	runLoop(context.Background(), RunConfig{Duration: 50 * time.Millisecond, Grace: 100 * time.Millisecond}, ops)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a run whose requests never end took %v to stop", el)
	}
}

func TestRunProgress(t *testing.T) {
	var b strings.Builder
	ops := []Op{func(context.Context) error { time.Sleep(time.Millisecond); return nil }}
	runLoop(context.Background(), RunConfig{Name: "w/rest", Duration: 250 * time.Millisecond, Progress: &b, ProgressEvery: 50 * time.Millisecond}, ops)
	if !strings.Contains(b.String(), "w/rest:") || !strings.Contains(b.String(), "req/s") {
		t.Errorf("progress = %q, want lines naming the run with a rate", b.String())
	}
}
