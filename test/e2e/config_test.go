// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigFile: `custos server --config F` takes its settings from the
// file (here YAML, with flag names as keys) and refuses unknown settings.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	rest, grpcAddr := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "custos.yaml")
	content := fmt.Sprintf("dev: true\ndata: %s\nlisten: %s\ngrpc-listen: %s\npublic-url: https://kms.example.com\n", data, rest, grpcAddr)
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(custosBin, "server", "--config", cfg)
	logs := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", logs)
		}
	}()
	deadline := time.Now().Add(startTimeout)
	var token []byte
	for {
		var err error
		if token, err = os.ReadFile(filepath.Join(data, "admin-token")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no admin token in %s: the file's data setting was not used", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := &server{restAddr: rest, token: strings.TrimSpace(string(token))}
	s.do(t, restCall{method: "POST", path: "/v1/projects/p/locations/global/keyRings?keyRingId=cfg"}).wantOK(t, restCall{})
	r := s.do(t, restCall{method: "POST", path: "/v1/projects/p/locations/global/keyRings/cfg/cryptoKeys?cryptoKeyId=k", body: `{"purpose":"ENCRYPT_DECRYPT"}`})
	if r.status != http.StatusOK || !strings.HasPrefix(fmt.Sprint(r.json["externalKeyUri"]), "https://kms.example.com/ekm/v0/keys/") {
		t.Fatalf("key created under the file's public-url = %d %s", r.status, r.raw)
	}

	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("dev = true\nlisten_adress = \"x\"\n"), 0o600)
	b, err := exec.Command(custosBin, "server", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(b), `unknown setting "listen_adress"`) {
		t.Fatalf("server --config with an unknown setting = %v:\n%s", err, b)
	}
}
