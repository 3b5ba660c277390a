// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// TestAdminTokenFileAppearsOnlyWhenServing polls the data folder from the
// moment the process starts: whenever admin-token exists, a REST call and a
// gRPC call with its content succeed at once.
func TestAdminTokenFileAppearsOnlyWhenServing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		stale bool // an admin-token from an earlier run is in the folder
	}{{"fresh data folder", false}, {"stale token file in the folder", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tokenPath := filepath.Join(dir, "admin-token")
			if tc.stale {
				if err := os.WriteFile(tokenPath, []byte("custos_admin_stale\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := &server{dir: dir, restAddr: freePort(t), grpcAddr: freePort(t), output: new(syncBuffer), done: make(chan struct{})}
			s.cmd = exec.Command(custosBin, "server", "--dev", "--data", dir, "--listen", s.restAddr, "--grpc-listen", s.grpcAddr)
			s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
			if err := s.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("custos output:\n%s", s.output.String())
				}
				s.stop(t)
			})

			deadline := time.Now().Add(startTimeout)
			var content []byte
			for {
				if !s.alive() {
					t.Fatalf("custos exited before writing %s: %v", tokenPath, s.waitErr)
				}
				b, err := os.ReadFile(tokenPath)
				if err == nil && !(tc.stale && string(b) == "custos_admin_stale\n") {
					content = b
					break
				}
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("reading %s: %v", tokenPath, err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("no new %s after %v", tokenPath, startTimeout)
				}
				time.Sleep(2 * time.Millisecond)
			}
			tok, ok := strings.CutSuffix(string(content), "\n")
			if !ok || tok == "" || strings.ContainsAny(tok, "\n\r ") {
				t.Fatalf("%s = %q, want the token and one newline", tokenPath, content)
			}
			s.token = tok
			// At once, no retry: the listeners must already accept calls.
			c := restCall{method: "GET", path: "/v1/projects/startup/locations/global/keyRings"}
			if r := s.do(t, c); r.status != http.StatusOK {
				t.Errorf("GET %s right after %s appeared = %d %s, want 200", c.path, tokenPath, r.status, r.raw)
			}
			if _, err := s.grpcClient(t).GenerateRandomBytes(testContext(t), &kmspb.GenerateRandomBytesRequest{
				Location: "projects/startup/locations/global", LengthBytes: 8,
			}); err != nil {
				t.Errorf("gRPC GenerateRandomBytes right after %s appeared = %v, want success", tokenPath, err)
			}
			fi, err := os.Stat(tokenPath)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s has mode %v, want 0600", tokenPath, perm)
			}
			if err := s.stop(t); err != nil {
				t.Errorf("custos after SIGTERM exited with %v, want status 0", err)
			}
		})
	}
}

func TestAdminTokenFile(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	path := filepath.Join(s.dir, "admin-token")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != s.token+"\n" || s.token == "" {
		t.Errorf("%s = %q, want the token and a newline", path, b)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, perm)
	}
	// No temporary files left next to it.
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "admin-token") && e.Name() != "admin-token" {
			t.Errorf("data folder holds %s next to admin-token", e.Name())
		}
	}
	if err := s.stop(t); err != nil {
		t.Errorf("custos after SIGTERM exited with %v, want status 0", err)
	}
}

func TestServerRefusesToStart(t *testing.T) {
	t.Parallel()
	// A listener the test holds, so that its port is taken for sure.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	taken := held.Addr().String()
	_, takenPort, _ := net.SplitHostPort(taken)

	notAFolder := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notAFolder, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		args    func(dir string) []string
		mention string // the message names this, "" for no check
	}{
		{"REST port taken", func(dir string) []string {
			return []string{"--data", dir, "--listen", taken, "--grpc-listen", freePort(t)}
		}, taken},
		{"gRPC port taken", func(dir string) []string {
			return []string{"--data", dir, "--listen", freePort(t), "--grpc-listen", taken}
		}, taken},
		{"REST on 0.0.0.0 without TLS", func(dir string) []string {
			return []string{"--data", dir, "--listen", "0.0.0.0:" + takenPort, "--grpc-listen", freePort(t)}
		}, "0.0.0.0:" + takenPort},
		{"gRPC on a non-loopback address without TLS", func(dir string) []string {
			return []string{"--data", dir, "--listen", freePort(t), "--grpc-listen", "0.0.0.0:" + takenPort}
		}, "0.0.0.0:" + takenPort},
		{"data folder is a file", func(string) []string {
			return []string{"--data", notAFolder, "--listen", freePort(t), "--grpc-listen", freePort(t)}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"server", "--dev"}, tc.args(dir)...)
			out := runFailing(t, args...)
			if tc.mention != "" && !strings.Contains(out, tc.mention) {
				t.Errorf("custos %v says %q, want a message naming %s", args, out, tc.mention)
			}
			if _, err := os.Stat(filepath.Join(dir, "admin-token")); err == nil {
				t.Errorf("custos %v failed to start but wrote admin-token", args)
			}
		})
	}
}
