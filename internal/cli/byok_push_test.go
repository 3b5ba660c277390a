// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestBYOKPushRefusesPlainHTTP: over plain http to another machine, whoever
// is on the path reads the cloud credentials (a bearer token, an AWS
// session token) and, worse, can answer with a wrapping key of its own
// (GetParametersForImport's PublicKey, the import job's public key), which
// the Custos server would wrap the key material under. So push takes http
// on loopback only (a local emulator), as the server's --ekm-jwks-url.
func TestBYOKPushRefusesPlainHTTP(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{})
	tokenFile := filepath.Join(t.TempDir(), "dest.token")
	os.WriteFile(tokenFile, []byte("dest-token\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"aws", []string{"--target", "aws", "--endpoint", "http://kms.example.com"}},
		{"aws, an address", []string{"--target", "aws", "--endpoint", "http://192.0.2.7:4599"}},
		{"gcp", []string{"--target", "gcp", "--gcp-key", testKey, "--dest-token-file", tokenFile, "--endpoint", "http://custos-b.example.com:8200"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, srv.srv.URL, "", append([]string{"byok", "push", "--key", testKey}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "--endpoint") || !strings.Contains(r.stderr, "plain http") {
				t.Errorf("exit %d, stderr %q; want a usage error asking for https", r.code, r.stderr)
			}
			if len(srv.requests()) != 0 {
				t.Error("a refused --endpoint still sent a request")
			}
		})
	}
	// A local emulator, or another Custos on this machine, stays usable.
	for _, o := range []byokPushOpts{
		{key: testKey, target: "aws", wrappingKeySpec: "RSA_4096", endpoint: "http://127.0.0.1:4599"},
		{key: testKey, target: "gcp", gcpKey: testKey, protectionLevel: "SOFTWARE", destTokenFile: tokenFile, endpoint: "http://localhost:8200"},
		{key: testKey, target: "gcp", gcpKey: testKey, protectionLevel: "SOFTWARE", destTokenFile: tokenFile, endpoint: "https://custos-b.example.com"},
	} {
		if err := o.check(); err != nil {
			t.Errorf("--endpoint %s: %v", o.endpoint, err)
		}
	}
}

// TestBYOKPushAWSEndpointFromEnvironment: the endpoint may also come from
// the AWS SDK's own settings (AWS_ENDPOINT_URL_KMS, endpoint_url in a
// profile); plain http to another machine is refused there too, before
// any request is signed.
func TestBYOKPushAWSEndpointFromEnvironment(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testKey: ok(`{"name":"` + testKey + `","purpose":"RAW_ENCRYPT_DECRYPT","primary":{"name":"` + testVersion + `","algorithm":"AES_256_GCM"}}`),
	})
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://kms.custos-test.invalid")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCUSTOSTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "custos-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "custos-test-session-token")
	t.Setenv("AWS_REGION", "eu-west-2")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	r := runCLI(t, srv.srv.URL, "", "byok", "push", "--target", "aws", "--key", testKey)
	if r.code != 1 || !strings.Contains(r.stderr, "plain http") || strings.Contains(r.stderr, "CreateKey") {
		t.Errorf("exit %d, stderr %q; want the plain http endpoint refused before CreateKey", r.code, r.stderr)
	}
}

// TestBYOKPushGCPNoADCToOtherHosts: Application Default Credentials are a
// Google access token; sent to an --endpoint that is not Google's (another
// Custos, say) they would hand that host the caller's Google identity. The
// destination's own token (--dest-token-file) is required there.
func TestBYOKPushGCPNoADCToOtherHosts(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{})
	r := runCLI(t, srv.srv.URL, "", "byok", "push", "--target", "gcp", "--key", testKey, "--gcp-key", testKey, "--endpoint", "https://custos-b.example.com")
	if r.code != 2 || !strings.Contains(r.stderr, "--dest-token-file") {
		t.Errorf("exit %d, stderr %q; want a usage error asking for --dest-token-file", r.code, r.stderr)
	}
	if len(srv.requests()) != 0 {
		t.Error("a usage error sent a request")
	}
	// Google's own endpoints (regional, private) take ADC: no usage error.
	if err := (&byokPushOpts{key: testKey, target: "gcp", gcpKey: testKey, protectionLevel: "SOFTWARE", endpoint: "https://cloudkms.europe-west1.rep.googleapis.com"}).check(); err != nil {
		t.Errorf("a googleapis.com endpoint without --dest-token-file: %v", err)
	}
}

// TestBYOKPushGCPNoRedirects: the Cloud KMS client's bearer token is added
// by its transport to every request, so a redirect would carry it to
// whatever host (or plain http URL) the answer names. Cloud KMS never
// redirects; push does not follow one.
func TestBYOKPushGCPNoRedirects(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	}))
	defer elsewhere.Close()
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer dest.Close()
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testKey: ok(`{"name":"` + testKey + `","purpose":"RAW_ENCRYPT_DECRYPT","primary":{"name":"` + testVersion + `","algorithm":"AES_256_GCM"}}`),
	})
	tokenFile := filepath.Join(t.TempDir(), "dest.token")
	os.WriteFile(tokenFile, []byte("dest-token\n"), 0o600)
	r := runCLI(t, srv.srv.URL, "", "byok", "push", "--target", "gcp", "--key", testKey, "--gcp-key", testKey,
		"--endpoint", dest.URL, "--dest-token-file", tokenFile)
	if r.code != 1 || !strings.Contains(r.stderr, "redirect") {
		t.Errorf("exit %d, stderr %q; want 1 and the redirect named", r.code, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) != 0 {
		t.Errorf("the redirect was followed, with Authorization %q", leaked)
	}
}
