// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the latency
// histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics counts the EKM endpoint's requests, their latency, and refusals
// by reason and app. Safe for concurrent use. Label values are bounded:
// methods and codes by the handler, reasons by [Refusal] and the handler's
// own list, apps by the apps that exist ("" when the caller is no app).
type Metrics struct {
	mu       sync.Mutex
	requests map[requestKey]uint64
	latency  map[string]*histogram
	refusals map[refusalKey]uint64
	// unaudited counts refusals of strangers over the audit budget.
	unaudited uint64
}

type requestKey struct {
	Method string // wrap, unwrap, get, info, other
	Code   int    // HTTP status
}

type refusalKey struct {
	Reason string
	App    string
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	sum    float64
	n      uint64
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{requests: map[requestKey]uint64{}, latency: map[string]*histogram{}, refusals: map[refusalKey]uint64{}}
}

// observe records one request.
func (m *Metrics) observe(method string, code int, d time.Duration, refusal, app string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[requestKey{method, code}]++
	h := m.latency[method]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		m.latency[method] = h
	}
	s := d.Seconds()
	i, _ := slices.BinarySearch(latencyBuckets, s)
	h.counts[i]++
	h.sum += s
	h.n++
	if refusal != "" {
		m.refusals[refusalKey{refusal, app}]++
	}
}

// unrecorded counts a refusal that went without an audit entry.
func (m *Metrics) unrecorded() {
	m.mu.Lock()
	m.unaudited++
	m.mu.Unlock()
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	// Requests counts requests by "method code", e.g. "wrap 200".
	Requests map[string]uint64
	// Refusals counts refusals by "reason app", e.g.
	// "justification_not_allowed billing" (app "" when unknown).
	Refusals map[string]uint64
	// LatencyCount and LatencySum are per method.
	LatencyCount map[string]uint64
	LatencySum   map[string]time.Duration
	// Unaudited counts refusals of strangers over the audit budget.
	Unaudited uint64
}

// Snapshot returns a copy of the counters.
func (m *Metrics) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{Requests: map[string]uint64{}, Refusals: map[string]uint64{}, LatencyCount: map[string]uint64{}, LatencySum: map[string]time.Duration{}}
	for k, v := range m.requests {
		s.Requests[k.Method+" "+strconv.Itoa(k.Code)] = v
	}
	for k, v := range m.refusals {
		s.Refusals[k.Reason+" "+k.App] = v
	}
	for k, h := range m.latency {
		s.LatencyCount[k] = h.n
		s.LatencySum[k] = time.Duration(h.sum * float64(time.Second))
	}
	s.Unaudited = m.unaudited
	return s
}

// WriteText writes the metrics in the Prometheus text exposition format
// (version 0.0.4), ready to be served at /metrics:
//
//	custos_ekm_requests_total{method,code}
//	custos_ekm_request_duration_seconds{method} (histogram)
//	custos_ekm_refusals_total{reason,app}
//	custos_ekm_unaudited_refusals_total
func (m *Metrics) WriteText(w io.Writer) error {
	m.mu.Lock()
	var b strings.Builder
	b.WriteString("# HELP custos_ekm_requests_total Cloud EKM requests by method and HTTP status.\n")
	b.WriteString("# TYPE custos_ekm_requests_total counter\n")
	for _, k := range slices.SortedFunc(maps.Keys(m.requests), func(a, b requestKey) int {
		return strings.Compare(a.Method+fmt.Sprintf("%03d", a.Code), b.Method+fmt.Sprintf("%03d", b.Code))
	}) {
		fmt.Fprintf(&b, "custos_ekm_requests_total{method=\"%s\",code=\"%d\"} %d\n", escapeLabel(k.Method), k.Code, m.requests[k])
	}
	b.WriteString("# HELP custos_ekm_request_duration_seconds Cloud EKM request latency.\n")
	b.WriteString("# TYPE custos_ekm_request_duration_seconds histogram\n")
	for _, method := range slices.Sorted(maps.Keys(m.latency)) {
		h := m.latency[method]
		lm := escapeLabel(method)
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "custos_ekm_request_duration_seconds_bucket{method=\"%s\",le=\"%s\"} %d\n", lm, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		cum += h.counts[len(latencyBuckets)]
		fmt.Fprintf(&b, "custos_ekm_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %d\n", lm, cum)
		fmt.Fprintf(&b, "custos_ekm_request_duration_seconds_sum{method=\"%s\"} %s\n", lm, strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "custos_ekm_request_duration_seconds_count{method=\"%s\"} %d\n", lm, h.n)
	}
	b.WriteString("# HELP custos_ekm_refusals_total Cloud EKM requests refused, by reason and app.\n")
	b.WriteString("# TYPE custos_ekm_refusals_total counter\n")
	for _, k := range slices.SortedFunc(maps.Keys(m.refusals), func(a, b refusalKey) int {
		if c := strings.Compare(a.Reason, b.Reason); c != 0 {
			return c
		}
		return strings.Compare(a.App, b.App)
	}) {
		fmt.Fprintf(&b, "custos_ekm_refusals_total{reason=\"%s\",app=\"%s\"} %d\n", escapeLabel(k.Reason), escapeLabel(k.App), m.refusals[k])
	}
	b.WriteString("# HELP custos_ekm_unaudited_refusals_total Refusals of Google identities that are no app, over the audit budget: counted, not recorded.\n")
	b.WriteString("# TYPE custos_ekm_unaudited_refusals_total counter\n")
	fmt.Fprintf(&b, "custos_ekm_unaudited_refusals_total %d\n", m.unaudited)
	m.mu.Unlock()
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeLabel escapes a label value: backslash, double quote and newline.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
