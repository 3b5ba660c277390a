// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProductionMode: custos init makes a root key file and the first
// admin, whose token is printed once; a server started without --dev needs
// that file, writes no token file, and accepts the printed token.
func TestProductionMode(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	rootKey := filepath.Join(dir, "secrets", "root-key")
	if err := os.MkdirAll(filepath.Dir(rootKey), 0o700); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(custosBin, "init", "--data", data, "--root-key-file", rootKey).Output()
	if err != nil {
		t.Fatalf("custos init: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := lines[len(lines)-1]
	if !strings.HasPrefix(token, "custos_admin_") {
		t.Fatalf("custos init printed %q, want a token on its last line", out)
	}
	if st, err := os.Stat(rootKey); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	again, err := exec.Command(custosBin, "init", "--data", data, "--root-key-file", rootKey).Output()
	if err != nil || strings.Contains(string(again), "custos_admin_") {
		t.Fatalf("second custos init = %q, %v; want success and no new token", again, err)
	}

	refused := []struct {
		name string
		args []string
	}{
		{"no root key file", []string{"server", "--data", data}},
		{"missing root key file", []string{"server", "--data", data, "--root-key-file", filepath.Join(dir, "nope")}},
		{"root key inside the data folder at init", []string{"init", "--data", data, "--root-key-file", filepath.Join(data, "rk")}},
		{"root key inside the data folder at start", []string{"server", "--data", data, "--root-key-file", filepath.Join(data, "keys", "rk")}},
		{"short durations without --dev", []string{"server", "--data", data, "--root-key-file", rootKey, "--dev-allow-short-durations"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(custosBin, tc.args...)
			b, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("custos %v succeeded:\n%s", tc.args, b)
			}
			if !strings.Contains(string(b), "custos: error:") {
				t.Errorf("custos %v gave no clear error:\n%s", tc.args, b)
			}
		})
	}

	t.Run("wrong root key is refused", func(t *testing.T) {
		other := filepath.Join(dir, "other-key")
		if err := os.WriteFile(other, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := exec.Command(custosBin, "server", "--data", data, "--root-key-file", other,
			"--listen", freePort(t), "--grpc-listen", freePort(t)).CombinedOutput()
		if err == nil || !strings.Contains(string(b), "root key") {
			t.Fatalf("server with another root key = %v:\n%s", err, b)
		}
	})

	srv := startProduction(t, data, rootKey, token)
	rest, logs := srv.restAddr, srv.output
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", "http://"+rest+"/v1/projects/p/locations/global/keyRings", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(token); code != http.StatusOK {
		t.Fatalf("the token custos init printed answers %d, want 200", code)
	}
	if code := get(token + "x"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token answers %d, want 401", code)
	}
	if _, err := os.Stat(filepath.Join(data, "admin-token")); !os.IsNotExist(err) {
		t.Fatalf("a production server wrote an admin-token file (%v)", err)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the server log contains the admin token")
	}
}
