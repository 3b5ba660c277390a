// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one request of a workload, as one worker sends it. It returns an
// error for a failed request (a transport error, an unexpected status or
// answer). Each worker has its own Op, so an Op may keep buffers and state
// without locking.
type Op func(ctx context.Context) error

// RunConfig bounds one run. Exactly one of Duration and Requests is set.
type RunConfig struct {
	// Name labels the progress line.
	Name string
	// Duration is how long requests are measured, after Warmup.
	Duration time.Duration
	// Requests is the number of requests to measure, after Warmup.
	Requests int64
	// Warmup is sent first and not measured (connections open, caches
	// fill).
	Warmup time.Duration
	// Progress receives a progress line every ProgressEvery (default 1 s);
	// nil for none. With ProgressCR the line is rewritten in place (a
	// terminal), otherwise each is its own line.
	Progress      io.Writer
	ProgressEvery time.Duration
	ProgressCR    bool
	// Grace bounds how long a request may still run once the run is over
	// (default 10 s): a stuck server cannot hold the run forever.
	Grace time.Duration
	// Limit bounds a run by count (default 10 min after the warm-up).
	Limit time.Duration
}

// Stats is what a run measured.
type Stats struct {
	Requests int64         // measured requests that succeeded
	Errors   int64         // measured requests that failed
	Elapsed  time.Duration // the measured window
	Hist     *Histogram    // latencies of the successful requests
	// Sent counts every request that completed, warm-up included: the
	// denominator of CPU time per request.
	Sent int64
	// FirstError is the first failure seen, for the report.
	FirstError error
}

// RPS returns the successful requests per second.
func (s *Stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// workerState is one worker's counters, read by the progress loop. It is
// padded so that workers do not share cache lines.
type workerState struct {
	done, errs atomic.Int64
	sumNs      atomic.Int64
	sent       atomic.Int64
	_          [32]byte
}

// runLoop sends requests with len(ops) concurrent workers, worker i calling
// ops[i] in a loop, until the duration has passed or the number of
// requests is done, or ctx ends. Latency is measured around each call.
// It never fails: failed requests are counted in Stats.
func runLoop(ctx context.Context, cfg RunConfig, ops []Op) *Stats {
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	// The calls' context ends a grace period after the planned end (for a
	// count, after a generous bound), so that a run always stops.
	limit := cfg.Warmup + cfg.Duration + cfg.Grace
	if cfg.Requests > 0 {
		if cfg.Limit <= 0 {
			cfg.Limit = 10 * time.Minute
		}
		limit = cfg.Warmup + cfg.Limit
	}
	callCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	var (
		stop     atomic.Bool
		issued   atomic.Int64 // measured requests started (count mode)
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	var measureTo time.Time // set when the run stops (duration mode)
	var stopMu sync.Mutex
	stopCh := make(chan struct{})
	states := make([]workerState, len(ops))
	hists := make([]*Histogram, len(ops))
	doStop := func() {
		stopMu.Lock()
		if !stop.Load() {
			measureTo = time.Now()
			stop.Store(true)
			close(stopCh)
		}
		stopMu.Unlock()
	}
	if cfg.Requests <= 0 {
		t := time.AfterFunc(cfg.Warmup+cfg.Duration, doStop)
		defer t.Stop()
	}
	go func() {
		<-callCtx.Done()
		doStop()
	}()

	for i, op := range ops {
		hists[i] = new(Histogram)
		wg.Add(1)
		go func(st *workerState, h *Histogram, op Op) {
			defer wg.Done()
			for !stop.Load() {
				t0 := time.Now()
				measured := !t0.Before(measureFrom)
				if measured && cfg.Requests > 0 && issued.Add(1) > cfg.Requests {
					return
				}
				err := op(callCtx)
				d := time.Since(t0)
				st.sent.Add(1)
				if !measured {
					continue
				}
				if cfg.Requests <= 0 && stop.Load() {
					// Finished after the end of the window: not counted.
					return
				}
				if err != nil {
					if callCtx.Err() != nil && stop.Load() {
						return
					}
					st.errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				h.Record(d)
				st.done.Add(1)
				st.sumNs.Add(int64(d))
			}
		}(&states[i], hists[i], op)
	}

	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go progress(cfg, states, start, measureFrom, stopCh, progressDone)
	} else {
		close(progressDone)
	}
	wg.Wait()
	end := time.Now()
	doStop()
	<-progressDone

	s := &Stats{Hist: new(Histogram), FirstError: firstErr}
	for i := range states {
		s.Requests += states[i].done.Load()
		s.Errors += states[i].errs.Load()
		s.Sent += states[i].sent.Load()
		s.Hist.Merge(hists[i])
	}
	to := end
	if cfg.Requests <= 0 {
		stopMu.Lock()
		to = measureTo
		stopMu.Unlock()
	}
	if s.Elapsed = to.Sub(measureFrom); s.Elapsed < 0 {
		s.Elapsed = 0
	}
	if s.FirstError == nil && ctx.Err() != nil {
		s.FirstError = ctx.Err()
	}
	return s
}

// progress prints a line every cfg.ProgressEvery until the run stops:
// elapsed time, requests done, the rate and mean latency over the last
// interval, and the errors.
func progress(cfg RunConfig, states []workerState, start, measureFrom time.Time, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	var lastN, lastSum int64
	last := time.Now()
	printed := false
	for {
		select {
		case <-stop:
			if printed && cfg.ProgressCR {
				fmt.Fprint(cfg.Progress, "\r\033[K")
			}
			return
		case <-tick.C:
		}
		var n, errs, sum int64
		for i := range states {
			n += states[i].done.Load()
			errs += states[i].errs.Load()
			sum += states[i].sumNs.Load()
		}
		now := time.Now()
		rate := float64(n-lastN) / now.Sub(last).Seconds()
		mean := time.Duration(0)
		if n > lastN {
			mean = time.Duration((sum - lastSum) / (n - lastN))
		}
		phase := ""
		if now.Before(measureFrom) {
			phase = " (warm-up)"
		}
		line := fmt.Sprintf("%s: %5.1fs%s  %d req  %.0f req/s  mean %s  %d errors",
			cfg.Name, now.Sub(start).Seconds(), phase, n, rate, fmtDur(mean), errs)
		if cfg.ProgressCR {
			fmt.Fprintf(cfg.Progress, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(cfg.Progress, line)
		}
		printed = true
		lastN, lastSum, last = n, sum, now
	}
}

// fmtDur formats a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
}

// errStatus is an unexpected answer.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// errCheck is an answer of the right status that lacks what it should hold.
var errCheck = errors.New("the answer lacks the expected field")
