// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const byokPath = "POST /admin/v1/byok:wrap"

// byokFiles writes a wrapping key in three forms and returns their paths
// and the DER.
func byokFiles(t *testing.T) (der, b64, pemFile string, spki []byte) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ = x509.MarshalPKIXPublicKey(&priv.PublicKey)
	dir := t.TempDir()
	der = filepath.Join(dir, "WrappingPublicKey.bin")
	b64 = filepath.Join(dir, "PublicKey.b64")
	pemFile = filepath.Join(dir, "kek.pem")
	os.WriteFile(der, spki, 0o600)
	os.WriteFile(b64, []byte(base64.StdEncoding.EncodeToString(spki)+"\n"), 0o600)
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o600)
	return der, b64, pemFile, spki
}

func TestBYOKWrapRequests(t *testing.T) {
	der, b64, pemFile, spki := byokFiles(t)
	wrapped := []byte{0, 1, 2, 0xff, '\n', 9}
	answer := `{"wrapped":"` + base64.StdEncoding.EncodeToString(wrapped) + `","format":"aws RSA_AES_KEY_WRAP_SHA_256 EncryptedKeyMaterial (raw bytes)","version":"` + testVersion + `","algorithm":"AES_256_GCM","notes":["import it"]}`
	srv := newFakeServer(t, map[string]func(request) reply{byokPath: ok(answer)})
	pemText := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})))
	dir := t.TempDir()

	tests := []struct {
		name string
		args []string
		want map[string]any
	}{
		{"aws with a DER key file", []string{"--key", testKey, "--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256"},
			map[string]any{"key": testKey, "target": "aws", "wrappingKey": base64.StdEncoding.EncodeToString(spki), "wrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256"}},
		{"alibaba with a base64 key file and a version", []string{"--key", testKey, "--version", "3", "--target", "alibaba", "--wrapping-key", b64, "--wrapping-algorithm", "RSAES_OAEP_SHA_256"},
			map[string]any{"key": testKey, "version": "3", "target": "alibaba", "wrappingKey": base64.StdEncoding.EncodeToString(spki), "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}},
		{"azure with a PEM key and a kid", []string{"--key", testVersion, "--target", "azure", "--wrapping-key", pemFile, "--kid", "https://v.vault.azure.net/keys/kek/1"},
			map[string]any{"key": testVersion, "target": "azure", "wrappingKey": pemText, "kid": "https://v.vault.azure.net/keys/kek/1"}},
		{"gcp with a Custos wrapping key", []string{"--key", testKey, "--target", "gcp", "--wrapping-key-version", testKey + "2/cryptoKeyVersions/1", "--wrapping-algorithm", "RSA_OAEP_3072_SHA256_AES_256"},
			map[string]any{"key": testKey, "target": "gcp", "wrappingKeyVersion": testKey + "2/cryptoKeyVersions/1", "wrappingAlgorithm": "RSA_OAEP_3072_SHA256_AES_256"}},
		{"gcp-csek", []string{"--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile},
			map[string]any{"key": testKey, "target": "gcp-csek", "wrappingKey": pemText}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out"+string(rune('a'+i)))
			r := runCLI(t, srv.srv.URL, "", append([]string{"byok", "wrap", "--out", out}, tc.args...)...).mustSucceed(t)
			if diff := cmp.Diff(tc.want, srv.last().Body); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			got, err := os.ReadFile(out)
			if err != nil || string(got) != string(wrapped) {
				t.Errorf("--out holds %q, %v; want the wrapped bytes", got, err)
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("--out mode %v, %v; want 0600", fi.Mode(), err)
			}
			if r.stdout != "" || !strings.Contains(r.stderr, "custos: wrapped "+testVersion) || !strings.Contains(r.stderr, "custos: note: import it") {
				t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
			}
		})
	}

	t.Run("stdout", func(t *testing.T) {
		r := runCLI(t, srv.srv.URL, "", "byok", "wrap", "--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile, "--out", "-").mustSucceed(t)
		if r.stdout != string(wrapped) {
			t.Errorf("stdout = %q, want the wrapped bytes", r.stdout)
		}
	})
	t.Run("json", func(t *testing.T) {
		out := filepath.Join(dir, "json.bin")
		r := runCLI(t, srv.srv.URL, "", "byok", "wrap", "--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile, "--out", out, "-o", "json").mustSucceed(t)
		if !strings.Contains(r.stdout, `"format": "aws RSA_AES_KEY_WRAP_SHA_256`) {
			t.Errorf("stdout = %q, want the server's answer", r.stdout)
		}
	})
}

func TestBYOKWrapUsageErrors(t *testing.T) {
	der, _, pemFile, _ := byokFiles(t)
	srv := newFakeServer(t, map[string]func(request) reply{byokPath: ok(`{}`)})
	out := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--out", out}, "--key is required"},
		{"key ring as key", []string{"--key", "projects/p/locations/l/keyRings/r", "--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--out", out}, "not a key"},
		{"no target", []string{"--key", testKey, "--wrapping-key", der, "--out", out}, "--target is required"},
		{"unknown target", []string{"--key", testKey, "--target", "oci", "--wrapping-key", der, "--out", out}, "--target must be one of"},
		{"aws without algorithm", []string{"--key", testKey, "--target", "aws", "--wrapping-key", der, "--out", out}, "--wrapping-algorithm is required for aws"},
		{"gcp without algorithm", []string{"--key", testKey, "--target", "gcp", "--wrapping-key", pemFile, "--out", out}, "--wrapping-algorithm is required for gcp"},
		{"alibaba without algorithm", []string{"--key", testKey, "--target", "alibaba", "--wrapping-key", der, "--out", out}, "--wrapping-algorithm is required for alibaba"},
		{"aws with a gcp method", []string{"--key", testKey, "--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSA_OAEP_3072_SHA256", "--out", out}, "must be one of"},
		{"azure with an algorithm", []string{"--key", testKey, "--target", "azure", "--kid", "https://v.vault.azure.net/keys/k/1", "--wrapping-key", pemFile, "--wrapping-algorithm", "RSAES_OAEP_SHA_1", "--out", out}, "not used for azure"},
		{"gcp-csek with an algorithm", []string{"--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile, "--wrapping-algorithm", "RSAES_OAEP_SHA_1", "--out", out}, "not used for gcp-csek"},
		{"azure without kid", []string{"--key", testKey, "--target", "azure", "--wrapping-key", pemFile, "--out", out}, "--kid is required for azure"},
		{"kid for aws", []string{"--key", testKey, "--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--kid", "https://v.vault.azure.net/keys/k/1", "--out", out}, "--kid is only used for azure"},
		{"no wrapping key", []string{"--key", testKey, "--target", "gcp-csek", "--out", out}, "exactly one of --wrapping-key"},
		{"two wrapping keys", []string{"--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile, "--wrapping-key-version", testVersion, "--out", out}, "exactly one of --wrapping-key"},
		{"wrapping key version is a key", []string{"--key", testKey, "--target", "gcp-csek", "--wrapping-key-version", testKey, "--out", out}, "not a key version"},
		{"no out", []string{"--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile}, "--out is required"},
		{"bad version", []string{"--key", testKey, "--version", "v1", "--target", "gcp-csek", "--wrapping-key", pemFile, "--out", out}, "--version must be a version number"},
		{"version twice", []string{"--key", testVersion, "--version", "1", "--target", "gcp-csek", "--wrapping-key", pemFile, "--out", out}, "--version cannot be used"},
		{"stdout twice", []string{"--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile, "--out", "-", "-o", "json"}, "both write to stdout"},
		{"argument", []string{"extra", "--key", testKey, "--target", "gcp-csek", "--wrapping-key", pemFile, "--out", out}, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, srv.srv.URL, "", append([]string{"byok", "wrap"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "custos: error: ") {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
			if len(srv.requests()) != 0 {
				t.Errorf("a usage error sent a request")
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a usage error wrote --out")
			}
		})
	}

	r := runCLI(t, srv.srv.URL, "", "byok", "wrap", "--key", testKey, "--target", "aws", "--wrapping-key", filepath.Join(t.TempDir(), "missing"), "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--out", out)
	if r.code != 1 || !strings.Contains(r.stderr, "--wrapping-key:") {
		t.Errorf("a missing wrapping key file: exit %d, %q", r.code, r.stderr)
	}
}

func TestBYOKWrapRefusals(t *testing.T) {
	der, _, _, _ := byokFiles(t)
	tests := []struct {
		name   string
		status int
		body   string
		want   string
		hint   string
	}{
		{"not exportable", 400, `{"error":{"code":400,"message":"export not allowed: the key is not exportable","status":"FAILED_PRECONDITION"}}`,
			"custos: error: export not allowed: the key is not exportable (FAILED_PRECONDITION)\n", "--exportable"},
		{"no permission", 403, `{"error":{"code":403,"message":"Permission 'custos.cryptoKeyVersions.export' denied on resource 'k' (or it may not exist).","status":"PERMISSION_DENIED"}}`,
			"custos: error: export not allowed: Permission 'custos.cryptoKeyVersions.export' denied", "roles/custos.exporter"},
		{"no permission, worded by the server", 403, `{"error":{"code":403,"message":"export not allowed: Permission denied","status":"PERMISSION_DENIED"}}`,
			"custos: error: export not allowed: Permission denied (PERMISSION_DENIED)\n", "roles/custos.exporter"},
		{"wrong key type", 400, `{"error":{"code":400,"message":"key type not importable: AWS KMS does not accept RSAES_OAEP_SHA_256 for RSA private keys","status":"FAILED_PRECONDITION"}}`,
			"custos: error: key type not importable: AWS KMS", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{byokPath: func(request) reply { return reply{status: tc.status, body: tc.body} }})
			dir := t.TempDir()
			out := filepath.Join(dir, "EncryptedKeyMaterial.bin")
			r := runCLI(t, srv.srv.URL, "", "byok", "wrap", "--key", testKey, "--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--out", out)
			if r.code != 1 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, tc.hint) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refusal left files: %v", entries)
			}
		})
	}

	// An existing --out file is left as it was.
	srv := newFakeServer(t, map[string]func(request) reply{byokPath: func(request) reply { return reply{status: 400, body: tests[0].body} }})
	out := filepath.Join(t.TempDir(), "keep")
	os.WriteFile(out, []byte("old"), 0o600)
	runCLI(t, srv.srv.URL, "", "byok", "wrap", "--key", testKey, "--target", "aws", "--wrapping-key", der, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--out", out)
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("a refusal changed the existing --out file to %q", b)
	}
}

func TestBYOKPushUsageErrors(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"--target", "aws"}, "--key is required"},
		{"no target", []string{"--key", testKey}, "--target is required"},
		{"unknown target", []string{"--key", testKey, "--target", "oci"}, "--target must be aws or gcp"},
		{"gcp without --gcp-key", []string{"--key", testKey, "--target", "gcp"}, "--gcp-key is required"},
		{"gcp with a bad --gcp-key", []string{"--key", testKey, "--target", "gcp", "--gcp-key", "projects/p"}, "not a key"},
		{"gcp with an aws algorithm", []string{"--key", testKey, "--target", "gcp", "--gcp-key", testKey, "--wrapping-algorithm", "RSAES_OAEP_SHA_256"}, "--wrapping-algorithm for gcp"},
		{"gcp with a bad protection level", []string{"--key", testKey, "--target", "gcp", "--gcp-key", testKey, "--protection-level", "EXTERNAL"}, "--protection-level"},
		{"--gcp-key for aws", []string{"--key", testKey, "--target", "aws", "--gcp-key", testKey}, "only used for gcp"},
		{"bad algorithm", []string{"--key", testKey, "--target", "aws", "--wrapping-algorithm", "RSA_OAEP_3072_SHA256"}, "--wrapping-algorithm for aws"},
		{"bad wrapping key spec", []string{"--key", testKey, "--target", "aws", "--wrapping-key-spec", "RSA_1024"}, "--wrapping-key-spec"},
		{"bad endpoint", []string{"--key", testKey, "--target", "aws", "--endpoint", "localhost:4599"}, "--endpoint"},
		{"version twice", []string{"--key", testVersion, "--version", "2", "--target", "aws"}, "--version cannot be used"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, srv.srv.URL, "", append([]string{"byok", "push"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
			if len(srv.requests()) != 0 {
				t.Error("a usage error sent a request")
			}
		})
	}
}

func TestGCPPurposeOf(t *testing.T) {
	tests := map[string]string{
		"GOOGLE_SYMMETRIC_ENCRYPTION":  "ENCRYPT_DECRYPT",
		"AES_128_GCM":                  "RAW_ENCRYPT_DECRYPT",
		"HMAC_SHA256":                  "MAC",
		"EC_SIGN_ED25519":              "ASYMMETRIC_SIGN",
		"RSA_SIGN_PKCS1_2048_SHA256":   "ASYMMETRIC_SIGN",
		"RSA_DECRYPT_OAEP_3072_SHA256": "ASYMMETRIC_DECRYPT",
		"EXTERNAL_SYMMETRIC":           "CRYPTO_KEY_PURPOSE_UNSPECIFIED",
	}
	for a, want := range tests {
		if got := gcpPurposeOf(a).String(); got != want {
			t.Errorf("gcpPurposeOf(%s) = %s, want %s", a, got, want)
		}
	}
}

func TestAWSKeySpecOf(t *testing.T) {
	tests := []struct{ alg, spec, usage string }{
		{"GOOGLE_SYMMETRIC_ENCRYPTION", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"},
		{"AES_256_GCM", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"},
		{"HMAC_SHA384", "HMAC_384", "GENERATE_VERIFY_MAC"},
		{"EC_SIGN_P256_SHA256", "ECC_NIST_P256", "SIGN_VERIFY"},
		{"EC_SIGN_P384_SHA384", "ECC_NIST_P384", "SIGN_VERIFY"},
		{"RSA_SIGN_PSS_3072_SHA256", "RSA_3072", "SIGN_VERIFY"},
		{"RSA_DECRYPT_OAEP_4096_SHA1", "RSA_4096", "ENCRYPT_DECRYPT"},
		{"AES_128_GCM", "", ""},
		{"HMAC_SHA1", "", ""},
		{"EC_SIGN_ED25519", "", ""},
	}
	for _, tc := range tests {
		spec, usage, ok := awsKeySpecOf(tc.alg)
		if spec != tc.spec || usage != tc.usage || ok != (tc.spec != "") {
			t.Errorf("awsKeySpecOf(%s) = %q, %q, %v; want %q, %q", tc.alg, spec, usage, ok, tc.spec, tc.usage)
		}
	}
}

// TestBYOKAlgorithmOfTheExportedVersion: for a key without a primary
// version, push must prepare the destination (AWS key spec, Cloud KMS
// algorithm) for the version the server exports, its only ENABLED one,
// not for the key's version template, which may have changed since.
func TestBYOKAlgorithmOfTheExportedVersion(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testKey:                        ok(`{"name":"` + testKey + `","purpose":"ASYMMETRIC_SIGN","versionTemplate":{"algorithm":"EC_SIGN_P384_SHA384"}}`),
		"GET /v1/" + testKey + "/cryptoKeyVersions": ok(`{"cryptoKeyVersions":[{"name":"` + testKey + `/cryptoKeyVersions/1","state":"ENABLED","algorithm":"EC_SIGN_P256_SHA256"}],"totalSize":1}`),
	})
	base, _ := url.Parse(srv.srv.URL)
	c, err := newClient(base, testToken, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := byokAlgorithm(context.Background(), c, testKey, "")
	if err != nil || a != "EC_SIGN_P256_SHA256" {
		t.Fatalf("byokAlgorithm = %q, %v; want EC_SIGN_P256_SHA256, the only ENABLED version's", a, err)
	}
}
