// SPDX-License-Identifier: Apache-2.0

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

type settings struct {
	Data, Listen, GRPCListen, TLSCert, TLSKey, PublicURL string
	Audiences                                            []string
	Cache                                                time.Duration
	Dev                                                  bool
}

func flagSet(s *settings) *pflag.FlagSet {
	f := pflag.NewFlagSet("server", pflag.ContinueOnError)
	f.StringVar(&s.Data, "data", "custos-data", "")
	f.StringVar(&s.Listen, "listen", "127.0.0.1:8200", "")
	f.StringVar(&s.GRPCListen, "grpc-listen", "127.0.0.1:8201", "")
	f.StringVar(&s.TLSCert, "tls-cert", "", "")
	f.StringVar(&s.TLSKey, "tls-key", "", "")
	f.StringVar(&s.PublicURL, "public-url", "", "")
	f.StringArrayVar(&s.Audiences, "ekm-audience", nil, "")
	f.DurationVar(&s.Cache, "ekm-cache-duration", 0, "")
	f.BoolVar(&s.Dev, "dev", true, "")
	f.String("config", "", "")
	return f
}

// TestFormatsLoadAlike: the fixture of every format loads to the same settings.
func TestFormatsLoadAlike(t *testing.T) {
	want := settings{
		Data: "/var/lib/custos", Listen: "0.0.0.0:8200", GRPCListen: "0.0.0.0:8201",
		TLSCert: "/etc/custos/cert.pem", TLSKey: "/etc/custos/key.pem", PublicURL: "https://kms.example.com:8200",
		Audiences: []string{"https://kms.example.com", "https://kms.example.com:8200"},
		Cache:     5 * time.Minute,
	}
	for _, file := range []string{"custos.yaml", "custos.toml", "custos.json"} {
		t.Run(file, func(t *testing.T) {
			var got settings
			if err := Load(filepath.Join("testdata", file), flagSet(&got)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load(%s) (-want +got):\n%s", file, diff)
			}
		})
	}
}

func TestCommandLineWins(t *testing.T) {
	var got settings
	f := flagSet(&got)
	if err := f.Parse([]string{"--listen", "127.0.0.1:9999"}); err != nil {
		t.Fatal(err)
	}
	if err := Load(filepath.Join("testdata", "custos.yaml"), f); err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:9999" || got.Data != "/var/lib/custos" {
		t.Fatalf("listen %q data %q: the flag must win, the file fill the rest", got.Listen, got.Data)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, content, want string
	}{
		{"unknown setting", "a.yaml", "listen: x\nlisten_adress: y\nverbose: true\n", `unknown setting "listen_adress"; unknown setting "verbose"`},
		{"bad duration", "b.yaml", "ekm-cache-duration: soon\n", "ekm-cache-duration"},
		{"table value", "c.toml", "[listen]\nhost = \"x\"\n", "not a table"},
		{"config inside config", "d.json", `{"config": "other.json"}`, `unknown setting "config"`},
		{"malformed", "e.yaml", "listen: [\n", "e.yaml"},
		{"unknown format", "f.ini", "listen=x", "unknown format"},
		{"null", "g.yaml", "listen:\n", "has no value"},
		// Settings that were silently dropped or overridden.
		{"json key twice", "h.json", `{"tls-cert": "/a", "listen": "x", "tls-cert": "/b"}`, `setting "tls-cert" given twice`},
		{"json after the object", "i.json", `{"listen": "x"} {"tls-client-ca": "/ca.pem"}`, "data after the JSON object"},
		{"json not an object", "j.json", `["listen"]`, "JSON object"},
		{"second yaml document", "k.yaml", "listen: x\n---\ntls-client-ca: /ca.pem\n", "more than one YAML document"},
		{"both spellings", "l.yaml", "tls-cert: /a.pem\ntls_cert: /b.pem\n", `setting "tls-cert" given twice`},
		{"list for one value", "m.yaml", "tls-cert: [/a.pem, /b.pem]\n", "tls-cert: takes one value, not a list"},
		{"empty list for one value", "n.toml", "listen = []\n", "listen: takes one value, not a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var s settings
			err := Load(p, flagSet(&s))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOneDocument: a YAML file may start with "---" or be empty; a JSON
// file is one object.
func TestOneDocument(t *testing.T) {
	dir := t.TempDir()
	for file, content := range map[string]string{
		"a.yaml": "---\nlisten: 127.0.0.1:1\n",
		"b.yaml": "listen: 127.0.0.1:1\n...\n",
		"c.json": "{\"listen\": \"127.0.0.1:1\"}\n\n",
		"d.yaml": "listen: 127.0.0.1:1\n---\n# nothing more\n",
	} {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var s settings
		if err := Load(p, flagSet(&s)); err != nil || s.Listen != "127.0.0.1:1" {
			t.Errorf("Load(%s) = %v, listen %q", file, err, s.Listen)
		}
	}
	p := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var s settings
	if err := Load(p, flagSet(&s)); err != nil || s.Listen != "127.0.0.1:8200" {
		t.Errorf("Load(empty.yaml) = %v, listen %q", err, s.Listen)
	}
}
