// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/bench"
	"github.com/custos-kms/custos/internal/server"
)

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"duration and requests", []string{"bench", "-d", "1s", "-n", "5"}, "mutually exclusive"},
		{"unknown workload", []string{"bench", "-w", "shred"}, `unknown workload "shred"`},
		{"unknown transport", []string{"bench", "-t", "quic"}, `unknown transport "quic"`},
		{"no workers", []string{"bench", "-c", "0"}, "--concurrency must be between"},
		{"standard without a server of its own", []string{"bench", "--standard"}, "add --start-server"},
		{"profile without a server of its own", []string{"bench", "--server-cpuprofile", "x"}, "needs --start-server"},
		{"not loopback", []string{"bench", "--addr", "http://192.0.2.1:8200"}, "loopback"},
		{"grpc not loopback", []string{"bench", "--grpc-addr", "192.0.2.1:8201"}, "loopback"},
		{"extra argument", []string{"bench", "now"}, `unexpected argument "now"`},
		{"report without summary", []string{"bench", "report"}, "--summary is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "http://127.0.0.1:1", "", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("custos %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.stderr)
			}
		})
	}
}

func TestBenchNeedsGRPCAddress(t *testing.T) {
	r := runCLI(t, "http://127.0.0.1:1", "", "bench", "-w", "encrypt-32")
	if r.code != 1 || !strings.Contains(r.stderr, "no gRPC address") || !strings.Contains(r.stderr, "custos: hint:") {
		t.Errorf("exit %d, stderr %q; want 1 and a hint about --grpc-addr", r.code, r.stderr)
	}
}

// TestBenchAgainstDevServer runs custos bench for 1 s with 2 connections
// against a dev server, and checks the JSON summary and the report made
// from it. It asserts no figure.
func TestBenchAgainstDevServer(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.Start(context.Background(), server.Options{
		Dev: true, DataDir: dir, Listen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	env := map[string]string{
		envAddr:      "http://" + srv.RESTAddr(),
		envTokenFile: filepath.Join(dir, "admin-token"),
		envGRPCAddr:  srv.GRPCAddr(),
	}
	r := runEnv(t, env, "", "bench", "-w", "encrypt-32,get-key", "-c", "2", "-d", "1s", "--warmup", "100ms", "--ceiling=false", "-o", "json")
	r.mustSucceed(t)
	var s bench.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("stdout is not one JSON summary: %v\n%s", err, r.stdout)
	}
	if s.Schema != bench.Schema || len(s.Results) != 4 || s.Machine.CPUs == 0 || s.Settings.Concurrency != 2 {
		t.Fatalf("summary = %+v", s)
	}
	for _, res := range s.Results {
		if res.Errors != 0 || res.Requests == 0 || res.Latency.P99 <= 0 || res.Concurrency != 2 {
			t.Errorf("%s/%s: %+v", res.Workload, res.Transport, res)
		}
	}
	if strings.Contains(s.Command, "Bearer") || !strings.HasPrefix(s.Command, "custos bench") {
		t.Errorf("command = %q", s.Command)
	}
	if !strings.Contains(r.stderr, "encrypt-32/rest") {
		t.Errorf("no progress on stderr: %q", r.stderr)
	}

	// The text output is tables.
	r = runEnv(t, env, "", "bench", "-w", "encrypt-32", "-t", "rest", "-c", "2", "-n", "20", "--warmup", "0s", "--ceiling=false", "-q")
	r.mustSucceed(t)
	if !strings.Contains(r.stdout, "WORKLOAD") || !strings.Contains(r.stdout, "encrypt-32") || r.stderr != "" {
		t.Errorf("text output: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	// The report renders the summary.
	summary := filepath.Join(t.TempDir(), "summary.json")
	if err := os.WriteFile(summary, []byte(r2json(t, &s)), 0o600); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "p.top")
	if err := os.WriteFile(prof, []byte("title: Encrypt\ncommand: go tool pprof -top\n\nflat flat%\n1s 50% crypto/aes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runEnv(t, env, "", "bench", "report", "--summary", summary, "--profile", prof)
	r.mustSucceed(t)
	for _, want := range []string{"# Custos benchmarks", "## Load runs", "### Encrypt", "crypto/aes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func r2json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
