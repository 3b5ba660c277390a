// SPDX-License-Identifier: Apache-2.0

// Package metrics counts calls and their latency by method and result, and
// writes them, with any other registered figures, in the Prometheus text
// exposition format. It is lock-free on the hot path: each method's
// histogram is created once, then updated with atomics.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
)

// bounds are the upper bounds of the latency buckets, in seconds: from
// 100 µs to 10 s, doubling (a KMS call on loopback takes a few hundred µs).
var bounds = func() []float64 {
	var b []float64
	for v := 0.0001; v < 10; v *= 2 {
		b = append(b, v)
	}
	return append(b, 10)
}()

const numCodes = 17 // gRPC codes 0 (OK) to 16 (UNAUTHENTICATED)

type methodStats struct {
	buckets [32]atomic.Uint64 // len(bounds)+1 used; the last is +Inf
	sumNs   atomic.Uint64
	count   atomic.Uint64
	codes   [numCodes]atomic.Uint64
}

// Registry holds the figures of one server. Safe for concurrent use.
type Registry struct {
	methods sync.Map // string -> *methodStats

	mu      sync.Mutex
	writers []func(io.Writer) error
}

// New returns an empty registry.
func New() *Registry {
	if len(bounds)+1 > 32 {
		panic("metrics: internal error: too many buckets") // fixed at init
	}
	return &Registry{}
}

// Observe records one call of method that ended with code c after d.
func (r *Registry) Observe(method string, c codes.Code, d time.Duration) {
	v, ok := r.methods.Load(method)
	if !ok {
		v, _ = r.methods.LoadOrStore(method, new(methodStats))
	}
	m := v.(*methodStats)
	secs := d.Seconds()
	i := sort.SearchFloat64s(bounds, secs)
	m.buckets[i].Add(1)
	m.sumNs.Add(uint64(d))
	m.count.Add(1)
	if int(c) < numCodes {
		m.codes[c].Add(1)
	}
}

// AddWriter registers a function that writes more figures (already in the
// exposition format) after the registry's own.
func (r *Registry) AddWriter(w func(io.Writer) error) {
	r.mu.Lock()
	r.writers = append(r.writers, w)
	r.mu.Unlock()
}

// AddCounter registers a counter read from fn at each scrape.
func (r *Registry) AddCounter(name, help string, fn func() uint64) {
	r.AddWriter(func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, fn())
		return err
	})
}

// WriteText writes every figure in the Prometheus text format.
func (r *Registry) WriteText(w io.Writer) error {
	var names []string
	r.methods.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
	sort.Strings(names)
	fmt.Fprintf(w, "# HELP custos_requests_total Calls by method and gRPC code.\n# TYPE custos_requests_total counter\n")
	for _, n := range names {
		m := r.load(n)
		for c := 0; c < numCodes; c++ {
			if v := m.codes[c].Load(); v > 0 {
				fmt.Fprintf(w, "custos_requests_total{method=%q,code=%q} %d\n", n, code.Code(c).String(), v)
			}
		}
	}
	fmt.Fprintf(w, "# HELP custos_request_duration_seconds Latency of calls by method, inside the server.\n# TYPE custos_request_duration_seconds histogram\n")
	for _, n := range names {
		m := r.load(n)
		var cum uint64
		for i, b := range bounds {
			cum += m.buckets[i].Load()
			fmt.Fprintf(w, "custos_request_duration_seconds_bucket{method=%q,le=\"%g\"} %d\n", n, b, cum)
		}
		cum += m.buckets[len(bounds)].Load()
		fmt.Fprintf(w, "custos_request_duration_seconds_bucket{method=%q,le=\"+Inf\"} %d\n", n, cum)
		fmt.Fprintf(w, "custos_request_duration_seconds_sum{method=%q} %g\n", n, float64(m.sumNs.Load())/1e9)
		fmt.Fprintf(w, "custos_request_duration_seconds_count{method=%q} %d\n", n, m.count.Load())
	}
	r.mu.Lock()
	writers := append([]func(io.Writer) error(nil), r.writers...)
	r.mu.Unlock()
	for _, wr := range writers {
		if err := wr(w); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) load(name string) *methodStats {
	v, _ := r.methods.Load(name)
	return v.(*methodStats)
}

// Quantile estimates the q-quantile (0..1) of a method's latency from its
// histogram, for tests and the bench report; NaN when there is no data.
func (r *Registry) Quantile(method string, q float64) float64 {
	v, ok := r.methods.Load(method)
	if !ok {
		return math.NaN()
	}
	m := v.(*methodStats)
	total := m.count.Load()
	if total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for i, b := range bounds {
		cum += m.buckets[i].Load()
		if cum >= rank {
			return b
		}
	}
	return math.Inf(1)
}
