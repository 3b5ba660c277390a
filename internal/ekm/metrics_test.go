// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"strings"
	"testing"
	"time"
)

func TestMetricsText(t *testing.T) {
	m := NewMetrics()
	m.observe("wrap", 200, 3*time.Millisecond, "", "billing")
	m.observe("wrap", 200, 30*time.Millisecond, "", "billing")
	m.observe("unwrap", 403, time.Millisecond, "justification_not_allowed", "billing")
	m.observe("unwrap", 403, time.Millisecond, "unknown_email", "")
	m.observe("unwrap", 401, 20*time.Second, "unauthenticated", `we"ird`)
	var b strings.Builder
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"# TYPE custos_ekm_requests_total counter\n",
		`custos_ekm_requests_total{method="wrap",code="200"} 2` + "\n",
		`custos_ekm_requests_total{method="unwrap",code="403"} 2` + "\n",
		"# TYPE custos_ekm_request_duration_seconds histogram\n",
		`custos_ekm_request_duration_seconds_bucket{method="wrap",le="0.001"} 0` + "\n",
		`custos_ekm_request_duration_seconds_bucket{method="wrap",le="0.005"} 1` + "\n",
		`custos_ekm_request_duration_seconds_bucket{method="wrap",le="0.05"} 2` + "\n",
		`custos_ekm_request_duration_seconds_bucket{method="wrap",le="+Inf"} 2` + "\n",
		`custos_ekm_request_duration_seconds_count{method="wrap"} 2` + "\n",
		`custos_ekm_request_duration_seconds_bucket{method="unwrap",le="10"} 2` + "\n",
		`custos_ekm_request_duration_seconds_bucket{method="unwrap",le="+Inf"} 3` + "\n",
		`custos_ekm_refusals_total{reason="justification_not_allowed",app="billing"} 1` + "\n",
		`custos_ekm_refusals_total{reason="unknown_email",app=""} 1` + "\n",
		`custos_ekm_refusals_total{reason="unauthenticated",app="we\"ird"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics text lacks %q; got:\n%s", want, text)
		}
	}
	s := m.Snapshot()
	if s.Requests["wrap 200"] != 2 || s.Refusals["justification_not_allowed billing"] != 1 || s.LatencyCount["unwrap"] != 3 {
		t.Errorf("Snapshot = %+v", s)
	}
}
