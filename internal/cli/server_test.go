// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerConfigRefusesClientSettings: the configuration file holds the
// server's settings only. The client's connection flags (--ca-cert,
// --token, --output ...) are flags of every command, so the server's flag
// set holds them too; taking them from the file would accept a mistaken
// "ca-cert" (meant for tls-client-ca) and silently leave mTLS off.
func TestServerConfigRefusesClientSettings(t *testing.T) {
	dir := t.TempDir()
	for _, key := range []string{"ca-cert", "token", "token_file", "addr", "output", "timeout"} {
		t.Run(key, func(t *testing.T) {
			p := filepath.Join(dir, key+".yaml")
			content := "data: " + filepath.Join(dir, "data") + "\n" + key + ": x\n"
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runEnv(t, nil, "", "server", "--config", p)
			if r.code == 0 || !strings.Contains(r.stderr, `unknown setting "`+key+`"`) {
				t.Fatalf("custos server --config with %q: exit %d, stderr:\n%s\nwant the setting refused as unknown", key, r.code, r.stderr)
			}
		})
	}
}

// TestServerConfigPrecedence: the command line wins over the file, the file
// over the environment (README, "custos server"). Each case ends in a
// refusal to start that names the address that won.
func TestServerConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "custos.json")
	content := `{"dev": true, "data": "` + filepath.Join(dir, "data") + `", "listen": "0.0.0.0:4", "grpc_listen": "0.0.0.0:5"}`
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CUSTOS_LISTEN", "127.0.0.1:6")
	t.Setenv("CUSTOS_GRPC_LISTEN", "127.0.0.1:7")
	r := runEnv(t, nil, "", "server", "--config", p, "--grpc-listen", "0.0.0.0:8")
	if r.code != 1 || !strings.Contains(r.stderr, "--listen 0.0.0.0:4") || !strings.Contains(r.stderr, "--grpc-listen 0.0.0.0:8") {
		t.Fatalf("exit %d, stderr:\n%s\nwant a refusal naming --listen 0.0.0.0:4 (the file over the environment) and --grpc-listen 0.0.0.0:8 (the flag over the file)", r.code, r.stderr)
	}
}
