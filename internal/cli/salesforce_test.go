// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const sfKeyJSON = `{"kid":"982c375b-f46b-4423-8c2d-4d1a69152a0b","name":"fle","cryptoKeyVersion":"projects/salesforce/locations/global/keyRings/salesforce/cryptoKeys/fle/cryptoKeyVersions/1","certificate":"-----BEGIN CERTIFICATE-----\n...","certificateSha256":"ab12","certificateSubject":"CN=sfdc","certificateNotAfter":"2027-01-02T03:04:05Z","rsaBits":4096,"createTime":"2026-01-02T03:04:05.123Z","endpoint":"https://kms.example.com/salesforce/v1/keys"}`

func TestSalesforceKeys(t *testing.T) {
	dir := t.TempDir()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sfdc"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	pemFile, derFile, junkFile := filepath.Join(dir, "byok.crt"), filepath.Join(dir, "byok.der"), filepath.Join(dir, "junk")
	os.WriteFile(pemFile, []byte(certPEM), 0o600)
	os.WriteFile(derFile, der, 0o600)
	os.WriteFile(junkFile, []byte("not a certificate"), 0o600)

	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /admin/v1/salesforce/keys":    ok(sfKeyJSON + "\n"),
		"GET /admin/v1/salesforce/keys":     ok(`{"keys":[` + sfKeyJSON + `]}`),
		"GET /admin/v1/salesforce/keys/fle": ok(sfKeyJSON),
		"GET /admin/v1/salesforce/keys/nope": func(request) reply {
			return reply{status: 404, body: `{"error":{"code":404,"message":"Salesforce key \"nope\" not found","status":"NOT_FOUND"}}`}
		},
		"DELETE /admin/v1/salesforce/keys/fle": ok(`{}`),
	})

	// create: the kid alone on stdout, the Named Credential URL on stderr.
	r := runCLI(t, srv.srv.URL, "", "salesforce", "keys", "create", "--cert", pemFile, "--name", "fle").mustSucceed(t)
	if r.stdout != "982c375b-f46b-4423-8c2d-4d1a69152a0b\n" {
		t.Errorf("create: stdout %q, want the kid", r.stdout)
	}
	if !strings.Contains(r.stderr, "https://kms.example.com/salesforce/v1/keys") {
		t.Errorf("create: stderr %q lacks the Named Credential URL", r.stderr)
	}
	if diff := cmp.Diff(map[string]any{"name": "fle", "certificate": certPEM, "key": ""}, srv.last().Body); diff != "" {
		t.Errorf("create body (-want +got):\n%s", diff)
	}
	if got := srv.last().Auth; got != "Bearer "+testToken {
		t.Errorf("create: Authorization %q", got)
	}
	// A DER certificate is sent as PEM; --key is sent as given.
	key := "projects/p/locations/global/keyRings/r/cryptoKeys/dek"
	r = runCLI(t, srv.srv.URL, "", "salesforce", "keys", "create", "--cert", derFile, "--name", "fle", "--key", key, "-o", "json").mustSucceed(t)
	if diff := cmp.Diff(map[string]any{"name": "fle", "certificate": certPEM, "key": key}, srv.last().Body); diff != "" {
		t.Errorf("create --key body (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(r.stdout, "{\n  \"kid\": \"982c375b") || !strings.Contains(r.stdout, `"endpoint": "https://kms.example.com/salesforce/v1/keys"`) {
		t.Errorf("create -o json: stdout %q", r.stdout)
	}

	// A private key next to the certificate is never sent.
	keyDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	bundle := filepath.Join(dir, "bundle.pem")
	os.WriteFile(bundle, append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), certPEM...), 0o600)
	runCLI(t, srv.srv.URL, "", "salesforce", "keys", "create", "--cert", bundle, "--name", "fle").mustSucceed(t)
	if got := srv.last().Body["certificate"]; got != certPEM {
		t.Errorf("create with a key and a certificate sent %q, want the certificate alone", got)
	}

	r = runCLI(t, srv.srv.URL, "", "salesforce", "keys", "list").mustSucceed(t)
	for _, want := range []string{"KEY IDENTIFIER", "982c375b-f46b-4423-8c2d-4d1a69152a0b", "fle", "cryptoKeyVersions/1", "2027-01-02T03:04:05Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if r = runCLI(t, srv.srv.URL, "", "salesforce", "keys", "list", "-o", "json").mustSucceed(t); !strings.HasPrefix(r.stdout, "[\n") {
		t.Errorf("list -o json: stdout %q", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "salesforce", "keys", "get", "fle").mustSucceed(t)
	for _, want := range []string{"Key identifier:", "Named Credential URL:", "https://kms.example.com/salesforce/v1/keys", "RSA bits:", "4096"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if r = runCLI(t, srv.srv.URL, "", "salesforce", "keys", "get", "nope"); r.code != 1 || !strings.Contains(r.stderr, "(NOT_FOUND)") {
		t.Errorf("get missing: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, srv.srv.URL, "", "salesforce", "keys", "delete", "fle").mustSucceed(t)
	if req := srv.last(); req.Method != "DELETE" || req.Path != "/admin/v1/salesforce/keys/fle" {
		t.Errorf("delete sent %s %s", req.Method, req.Path)
	}

	// Usage errors, before any request.
	n := len(srv.requests())
	for _, args := range [][]string{
		{"salesforce"},
		{"salesforce", "keys"},
		{"salesforce", "keys", "create", "--name", "fle"},
		{"salesforce", "keys", "create", "--cert", pemFile},
		{"salesforce", "keys", "create", "--cert", pemFile, "--name", "a/b"},
		{"salesforce", "keys", "create", "--cert", pemFile, "--name", "fle", "--key", "projects/p"},
		{"salesforce", "keys", "create", "--cert", pemFile, "--name", "fle", "extra"},
		{"salesforce", "keys", "get"},
		{"salesforce", "keys", "get", "a/b"},
		{"salesforce", "keys", "delete", ".."},
	} {
		if r := runCLI(t, srv.srv.URL, "", args...); r.code != 2 {
			t.Errorf("custos %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"salesforce", "keys", "create", "--cert", junkFile, "--name", "fle"},
		{"salesforce", "keys", "create", "--cert", filepath.Join(dir, "missing"), "--name", "fle"},
	} {
		if r := runCLI(t, srv.srv.URL, "", args...); r.code != 1 {
			t.Errorf("custos %s: exit %d, want 1 (stderr %q)", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if got := len(srv.requests()); got != n {
		t.Errorf("usage errors sent %d requests", got-n)
	}
}
