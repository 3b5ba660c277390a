// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestMetrics: --metrics-listen serves Prometheus text with per-method
// counts and latency histograms, and with --debug-pprof the Go profiles;
// profiles are refused on a non-loopback address.
func TestMetrics(t *testing.T) {
	maddr := freePort(t)
	s := startServer(t, "--metrics-listen", maddr, "--debug-pprof")
	s.do(t, restCall{method: "POST", path: "/v1/projects/p/locations/global/keyRings?keyRingId=m1"}).wantOK(t, restCall{})
	s.do(t, restCall{method: "GET", path: "/v1/projects/p/locations/global/keyRings/nope"})
	s.do(t, restCall{method: "POST", path: "/admin/v1/store:verify"}).wantOK(t, restCall{})

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + maddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`custos_requests_total{method="CreateKeyRing",code="OK"} 1`,
		`custos_requests_total{method="GetKeyRing",code="NOT_FOUND"} 1`,
		`custos_request_duration_seconds_count{method="CreateKeyRing"} 1`,
		`custos_audit_write_failures_total 0`,
		`# TYPE custos_audit_commit_seconds_total counter`,
		`# TYPE custos_request_duration_seconds histogram`,
		`custos_integrity_scans_total{result="ok"} 1`,
		`custos_integrity_problems 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// CreateKeyRing is admin activity, always recorded: at least one entry
	// in at least one commit, and never more commits than entries.
	counter := func(name string) int {
		for line := range strings.Lines(body) {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("/metrics: %s %q: %v", name, v, err)
				}
				return n
			}
		}
		t.Fatalf("/metrics lacks %s", name)
		return 0
	}
	entries, commits := counter("custos_audit_entries_total"), counter("custos_audit_commits_total")
	if commits < 1 || entries < commits {
		t.Errorf("/metrics: %d audit entries in %d commits, want at least one, and no more commits than entries", entries, commits)
	}
	if strings.Contains(body, s.token) {
		t.Error("/metrics contains the admin token")
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Errorf("GET /debug/pprof/ = %d, want 200", code)
	}

	b, err := exec.Command(custosBin, "server", "--dev", "--data", t.TempDir(), "--listen", freePort(t), "--grpc-listen", freePort(t),
		"--metrics-listen", "0.0.0.0:0", "--debug-pprof").CombinedOutput()
	if err == nil || !strings.Contains(string(b), "--debug-pprof") {
		t.Fatalf("--debug-pprof on 0.0.0.0 = %v:\n%s", err, b)
	}
}
