// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sampleSummary is a summary as a standard run makes it, with round
// figures.
func sampleSummary() *Summary {
	res := func(w, tr, target, phase string, rps, p99 float64) Result {
		ceiling := ""
		if target == "custos" {
			wl, _ := lookupWorkloads([]string{w})
			ceiling = wl[0].ceiling
		}
		return Result{Ceiling: ceiling, Workload: w, Transport: tr, Target: target, Phase: phase, Concurrency: 32, Connections: 32,
			Requests: int64(rps * 5), Seconds: 5, RPS: rps, Latency: Latency{P50: p99 / 4, P90: p99 / 2, P99: p99, Max: 2 * p99, Mean: p99 / 3},
			ServerCPUus: 80, ClientCPUus: 30}
	}
	s := &Summary{
		Schema: Schema, Command: "custos bench --start-server --standard", StartTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine:  Machine{CPUs: 2, GOMAXPROCS: 2, CPUModel: "Test CPU", GoVersion: "go1.26", OS: "linux", Arch: "amd64"},
		Settings: Settings{Concurrency: 32, GRPCConns: 4, Duration: "5s", Warmup: "1s", Standard: true, ScaleKeys: 100000, ScaleSmallKeys: 1000, ScaleConc: 8, FillConcurrency: 64},
		Server:   &ServerInfo{PID: 42, StartupSeconds: 0.05, Started: true},
		Results: []Result{
			res(ceilEcho32, REST, "echo", "", 20000, 8),
			res(wEncrypt32, REST, "custos", "", 13000, 10),
			res(ceilEcho32, GRPC, "echo", "", 18000, 8),
			res(wEncrypt32, GRPC, "custos", "", 9000, 16),
			res(wSignEC, REST, "custos", "", 5000, 20),
			res(wCreateKey, GRPC, "custos", "", 2500, 50),
			res(wCreateKey, GRPC, "custos", "fill", 900, 100),
			res(wEncrypt32, REST, "custos", "keys=1000", 4000, 5),
			res(wEncrypt32, REST, "custos", "keys=100000", 3900, 5),
		},
		RawCrypto: []RawResult{{Name: rawECDSAP256, OpsPerSecond: 10000, PerCore: 5000, Goroutines: 2, OneCore: 6000}},
		Scale:     &Scale{SmallKeys: 1000, Keys: 100000, BytesPerKey: 300, StartupSmallSeconds: 0.02, StartupSeconds: 0.03, RSSBytes: 30 << 20, RSSSmallBytes: 25 << 20},
	}
	s.Results[7].Latency.P50, s.Results[8].Latency.P50 = 1.0, 1.2
	r := &runner{s: s}
	r.attachCeilings()
	s.Targets = evaluate(s)
	return s
}

func TestTargets(t *testing.T) {
	s := sampleSummary()
	got := map[string]string{}
	for _, tg := range s.Targets {
		got[tg.ID] = tg.Status
	}
	want := map[string]string{
		"encrypt-32-rest":      statusMet,         // 65%, p99 1.25×
		"encrypt-32-grpc":      statusNotMet,      // 50%, p99 2×
		"ekm-wrap":             statusNotMeasured, // not landed
		"sign-ec-p256-rest":    statusNotMet,      // 50% of raw
		"sign-ec-p256-grpc":    statusNotMeasured,
		"sign-rsa-2048-rest":   statusNotMeasured,
		"sign-rsa-2048-grpc":   statusNotMeasured,
		"create-key-grpc":      statusMet,
		"create-key-grpc-fill": statusNotMet, // 900 keys/s
		"scale-encrypt-32":     statusNotMet, // p50 +20%
		"scale-get-key":        statusNotMeasured,
		"memory-per-key":       statusMet,
		"startup":              statusMet,
		"no-errors":            statusMet,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("target statuses (-want +got):\n%s", diff)
	}
	for _, tg := range s.Targets {
		if tg.Status == statusNotMet && tg.Detail == "" {
			t.Errorf("target %s is not met but says not by how much", tg.ID)
		}
	}
}

// TestSummaryJSONShape pins the field names that scripts read.
func TestSummaryJSONShape(t *testing.T) {
	b, err := json.Marshal(sampleSummary())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "command", "startTime", "seconds", "machine", "settings", "server", "results", "rawCrypto", "scale", "targets"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary has no %q", k)
		}
	}
	if m["schema"] != Schema {
		t.Errorf("schema = %v, want %s", m["schema"], Schema)
	}
	r := m["results"].([]any)[1].(map[string]any)
	for _, k := range []string{"workload", "transport", "target", "concurrency", "connections", "requests", "errors", "seconds", "requestsPerSecond", "latencyMs", "ceiling", "ceilingRequestsPerSecond", "ratio", "p99Ratio", "serverCpuUsPerRequest", "clientCpuUsPerRequest"} {
		if _, ok := r[k]; !ok {
			t.Errorf("result has no %q: %v", k, r)
		}
	}
	lat := r["latencyMs"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "max", "mean"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latencyMs has no %q", k)
		}
	}
	if r["ceiling"] != "echo-32/rest" || r["ratio"].(float64) != 0.65 {
		t.Errorf("encrypt-32/rest ceiling %v ratio %v, want echo-32/rest 0.65", r["ceiling"], r["ratio"])
	}
	for _, k := range []string{"cpus", "goVersion", "cpuModel"} {
		if _, ok := m["machine"].(map[string]any)[k]; !ok {
			t.Errorf("machine has no %q", k)
		}
	}
	tg := m["targets"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "goal", "figure", "status"} {
		if _, ok := tg[k]; !ok {
			t.Errorf("target has no %q", k)
		}
	}
	// Round trip: the report command reads what the bench writes.
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleSummary(), &back); diff != "" {
		t.Errorf("summary round trip (-want +got):\n%s", diff)
	}
}

const goBenchOutput = `goos: linux
goarch: amd64
pkg: github.com/custos-kms/custos/internal/kms
cpu: Intel(R) Xeon(R) Processor
BenchmarkEncryptCacheHit/core-2         	  612345	      1890 ns/op	     560 B/op	       9 allocs/op
BenchmarkEncryptCacheHit/iam-2          	  400000	      2890 ns/op	     600 B/op	      11 allocs/op
PASS
ok  	github.com/custos-kms/custos/internal/kms	3.1s
pkg: github.com/custos-kms/custos/internal/audit
BenchmarkAppendParallel/callers=1xGOMAXPROCS-2   	    1000	   1234567 ns/op	    1500 entries/s	    2.5 entries/commit	   900 B/op	  12 allocs/op
`

func TestParseGoBench(t *testing.T) {
	got := ParseGoBench(strings.NewReader(goBenchOutput))
	if len(got) != 3 {
		t.Fatalf("ParseGoBench found %d benchmarks, want 3: %+v", len(got), got)
	}
	if got[0].Pkg != "github.com/custos-kms/custos/internal/kms" || got[0].Name != "BenchmarkEncryptCacheHit/core-2" || got[0].Iterations != 612345 {
		t.Errorf("first = %+v", got[0])
	}
	if v, ok := got[0].Get("allocs/op"); !ok || v != 9 {
		t.Errorf("allocs/op = %v, %v; want 9", v, ok)
	}
	if v, ok := got[2].Get("entries/commit"); !ok || v != 2.5 || got[2].Pkg != "github.com/custos-kms/custos/internal/audit" {
		t.Errorf("custom metric = %v, %v in %s; want 2.5 in internal/audit", v, ok, got[2].Pkg)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	in := ReportInput{GoBench: goBenchOutput, GoBenchCommand: "go test -bench . -benchmem", Script: "scripts/bench",
		Profiles: []Profile{{Title: "Encrypt over REST", Command: "go tool pprof -top", Top: "flat  flat%\n10ms 50% crypto/aes"}}}
	if err := WriteMarkdown(&b, sampleSummary(), in); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Custos benchmarks", "## Machine", "Test CPU", "## Targets", "## Load runs", "## Raw crypto ceiling",
		"## Scale, memory and start-up", "## Go micro-benchmarks", "BenchmarkEncryptCacheHit/core-2", "## Profiles",
		"crypto/aes", "| **not met** |", "| **met** |", "9 allocs", "custos bench --start-server --standard",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{{0, "0.00"}, {1.234, "1.23"}, {12.34, "12.3"}, {999.4, "999"}, {1234.5, "1,234"}, {1234567, "1,234,567"}, {-2500, "-2,500"}}
	for _, tc := range tests {
		if got := num(tc.v); got != tc.want {
			t.Errorf("num(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestBusyPhase checks that the runs at four times the connections are set
// beside the echo at that load, and named in the Encrypt target.
func TestBusyPhase(t *testing.T) {
	s := sampleSummary()
	echo := Result{Workload: ceilEcho32, Transport: REST, Target: "echo", Phase: "c=128", Concurrency: 128, RPS: 25000, Latency: Latency{P99: 20}}
	busy := Result{Workload: wEncrypt32, Transport: REST, Target: "custos", Phase: "c=128", Concurrency: 128, Ceiling: ceilEcho32,
		RPS: 15000, Latency: Latency{P99: 24}, AuditPerCommit: 40, AuditCommitMs: 1}
	s.Results = append(s.Results, echo, busy)
	r := &runner{s: s}
	r.attachCeilings()
	got := s.Results[len(s.Results)-1]
	if got.CeilingRPS != 25000 || got.Ratio != 0.6 || got.P99Ratio != 1.2 {
		t.Errorf("c=128 run against ceiling %v req/s, ratio %v, p99 ratio %v; want the c=128 echo: 25000, 0.6, 1.2", got.CeilingRPS, got.Ratio, got.P99Ratio)
	}
	if standard := s.Results[1]; standard.CeilingRPS != 20000 {
		t.Errorf("the standard run is set beside %v req/s, want the standard echo's 20000", standard.CeilingRPS)
	}
	for _, tg := range evaluate(s) {
		if tg.ID == "encrypt-32-rest" && !strings.Contains(tg.Detail, "at 128 connections (c=128) it makes 15,000 req/s, 60% of the echo's at that load (p99 1.20× the echo's), 40.0 entries per commit") {
			t.Errorf("encrypt-32-rest detail does not name the run at 128 connections: %s", tg.Detail)
		}
	}
}
