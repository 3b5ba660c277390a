// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// sfEnv is a server with Salesforce cache-only keys and the BYOK
// certificate's private key, which only Salesforce would hold.
type sfEnv struct {
	s        *server
	dir      string
	certFile string
	priv     *rsa.PrivateKey
	plain    *http.Client
}

func newSFEnv(t *testing.T) *sfEnv {
	t.Helper()
	e := &sfEnv{s: startServer(t), dir: t.TempDir(), plain: &http.Client{Timeout: 30 * time.Second}}
	// Salesforce's BYOK certificates are self-signed RSA certificates.
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "BYOK_Cache_Only", Organization: []string{"salesforce.com"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	e.priv = priv
	e.certFile = writeTestFile(t, e.dir, "byok.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return e
}

// custos runs the binary as the admin and returns stdout, stderr, exit code.
func (e *sfEnv) custos(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, custosBin, args...)
	cmd.Env = append(os.Environ(), "CUSTOS_ADDR=http://"+e.s.restAddr, "CUSTOS_TOKEN="+e.s.token, "CUSTOS_TOKEN_FILE=", "CUSTOS_OUTPUT=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("custos %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// createKey runs "salesforce keys create" and returns the kid and the
// Named Credential URL it printed.
func (e *sfEnv) createKey(t *testing.T, name string, extra ...string) (kid, endpoint string) {
	t.Helper()
	out, stderr, code := e.custos(t, append([]string{"salesforce", "keys", "create", "--cert", e.certFile, "--name", name, "-o", "json"}, extra...)...)
	if code != 0 {
		t.Fatalf("custos salesforce keys create %s = exit %d:\n%s", name, code, stderr)
	}
	var k struct{ KID, Endpoint, CryptoKeyVersion string }
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("create -o json printed %q: %v", out, err)
	}
	if !strings.Contains(stderr, k.Endpoint) || !strings.Contains(stderr, k.KID) {
		t.Errorf("create: stderr %q does not give the Named Credential URL and the key identifier", stderr)
	}
	return k.KID, k.Endpoint
}

// fetch calls url as Salesforce's Named Credential does: GET with HTTP
// Basic authentication (none if user is empty), plus extra headers.
func (e *sfEnv) fetch(t *testing.T, u, user, pass string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.plain.Do(req)
	if err != nil {
		t.Fatalf("GET %s = %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// open decrypts an answer with the certificate's private key, with
// go-jose, and returns the DEK and the protected header.
func (e *sfEnv) open(t *testing.T, status int, h http.Header, body []byte, kid string) ([]byte, map[string]any) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("fetch = %d %s, want 200", status, body)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
	}
	var out struct {
		KID string `json:"kid"`
		JWE string `json:"jwe"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.KID != kid {
		t.Fatalf("answer %s (%v), want {kid: %s, jwe}", body, err, kid)
	}
	obj, err := jose.ParseEncrypted(out.JWE, []jose.KeyAlgorithm{jose.RSA_OAEP}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatalf("jose.ParseEncrypted = %v", err)
	}
	dek, err := obj.Decrypt(e.priv)
	if err != nil {
		t.Fatalf("the JWE does not open with the certificate's private key: %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(out.JWE, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	return dek, header
}

// TestSalesforceCacheOnlyKey drives the binary as Salesforce would: a
// cache-only key made with the CLI, fetched with HTTP Basic as an app,
// opened with go-jose, checked against RawEncrypt without exporting the
// key in plaintext; then every refusal and its audit entry.
func TestSalesforceCacheOnlyKey(t *testing.T) {
	t.Parallel()
	e := newSFEnv(t)
	head := e.s.auditHead(t)

	// The app Salesforce's Named Credential logs in as.
	e.s.mustCreateApp(t, "sfdc", "salesforce")
	_, apiKey := e.s.mustAPIKey(t, "sfdc")
	revokedID, revoked := e.s.mustAPIKey(t, "sfdc")
	e.s.mustCreateApp(t, "other", "salesforce")
	_, otherKey := e.s.mustAPIKey(t, "other")

	kid, endpoint := e.createKey(t, "fle")
	if endpoint != "http://"+e.s.restAddr+"/salesforce/v1/keys" {
		t.Errorf("Named Credential URL %q", endpoint)
	}
	key := "projects/salesforce/locations/global/keyRings/salesforce/cryptoKeys/fle"
	e.s.mustSetPolicy(t, key, map[string][]string{"roles/custos.exporter": {"app:sfdc"}})

	// What the key's material does, through the official client.
	ctx := testContext(t)
	c := e.s.grpcClient(t)
	plaintext, aad := []byte("salesforce field-level encryption"), []byte("sfdc-aad")
	enc, err := c.RawEncrypt(ctx, &kmspb.RawEncryptRequest{Name: key + "/cryptoKeyVersions/1", Plaintext: plaintext, AdditionalAuthenticatedData: aad})
	if err != nil {
		t.Fatalf("RawEncrypt = %v", err)
	}

	// The callout, as Salesforce makes it: {Named Credential URL}/{kid}.
	st, h, b := e.fetch(t, endpoint+"/"+kid, "sfdc", apiKey)
	dek, header := e.open(t, st, h, b, kid)
	if len(dek) != 32 {
		t.Fatalf("the DEK has %d bytes, want 32", len(dek))
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCM(block)
	if pt, err := gcm.Open(nil, enc.GetInitializationVector(), enc.GetCiphertext(), aad); err != nil || !bytes.Equal(pt, plaintext) {
		t.Fatalf("the DEK does not open RawEncrypt's ciphertext (%v): it is not the key's material", err)
	}
	if diff := cmp.Diff(map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": kid}, header); diff != "" {
		t.Errorf("protected header (-want +got):\n%s", diff)
	}

	// Replay detection: the nonce comes back as jti, however it is sent.
	const nonce = "e5ab58fd2ced013f2a46d5c8144dd439"
	ri := kid + nonce
	for _, form := range []struct {
		name   string
		url    string
		header []string
	}{
		{"path", endpoint + "/" + kid + "/" + ri, nil},
		{"query", endpoint + "/" + kid + "?requestIdentifier=" + url.QueryEscape(ri), nil},
		{"header", endpoint + "/" + kid, []string{"RequestIdentifier", ri}},
	} {
		t.Run("replay detection by "+form.name, func(t *testing.T) {
			st, h, b := e.fetch(t, form.url, "sfdc", apiKey, form.header...)
			got, header := e.open(t, st, h, b, kid)
			if !bytes.Equal(got, dek) {
				t.Error("another DEK")
			}
			if diff := cmp.Diff(map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": kid, "jti": nonce}, header); diff != "" {
				t.Errorf("protected header (-want +got):\n%s", diff)
			}
		})
	}

	// Refusals.
	noRoleKID, _ := e.createKey(t, "no-role")
	e.s.plainTarget().mustRevoke(t, e.s.token, "sfdc", revokedID)
	tests := []struct {
		name       string
		url        string
		user, pass string
		header     []string
		status     int
	}{
		{"no credential", endpoint + "/" + kid, "", "", nil, 401},
		{"another app's API key", endpoint + "/" + kid, "sfdc", otherKey, nil, 401},
		{"the app's API key under another app's name", endpoint + "/" + kid, "other", apiKey, nil, 401},
		{"the admin token as password", endpoint + "/" + kid, "sfdc", e.s.token, nil, 401},
		{"the admin token as bearer", endpoint + "/" + kid, "", "", []string{"Authorization", "Bearer " + e.s.token}, 401},
		{"the API key as bearer", endpoint + "/" + kid, "", "", []string{"Authorization", "Bearer " + apiKey}, 401},
		{"wrong password", endpoint + "/" + kid, "sfdc", apiKey + "x", nil, 401},
		{"revoked API key", endpoint + "/" + kid, "sfdc", revoked, nil, 401},
		{"unknown kid", endpoint + "/982c375b-f46b-4423-8c2d-4d1a69152a0b", "sfdc", apiKey, nil, 404},
		{"no exporter role", endpoint + "/" + noRoleKID, "sfdc", apiKey, nil, 403},
		{"malformed RequestIdentifier", endpoint + "/" + kid + "/not-a-nonce", "sfdc", apiKey, nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.fetch(t, tc.url, tc.user, tc.pass, tc.header...)
			if status != tc.status {
				t.Errorf("fetch = %d %s, want %d", status, body, tc.status)
			}
			if status == 401 && h.Get("WWW-Authenticate") != `Basic realm="custos"` {
				t.Errorf("401 with WWW-Authenticate %q", h.Get("WWW-Authenticate"))
			}
			for _, secret := range []string{apiKey, otherKey, e.s.token, revoked} {
				if bytes.Contains(body, []byte(secret)) {
					t.Errorf("the answer echoes a credential: %s", body)
				}
			}
		})
	}

	// A key that is not exportable cannot become a cache-only key.
	e.custosOK(t, "keyrings", "create", "projects/salesforce/locations/global/keyRings/plain")
	plain := "projects/salesforce/locations/global/keyRings/plain/cryptoKeys/dek"
	e.custosOK(t, "keys", "create", plain, "--purpose", "RAW_ENCRYPT_DECRYPT", "--algorithm", "AES_256_GCM")
	if _, stderr, code := e.custos(t, "salesforce", "keys", "create", "--cert", e.certFile, "--name", "plain", "--key", plain); code != 1 || !strings.Contains(stderr, "not exportable") || !strings.Contains(stderr, "(FAILED_PRECONDITION)") {
		t.Errorf("create on a key that is not exportable: exit %d, stderr %q; want 1 and FAILED_PRECONDITION", code, stderr)
	}

	// A disabled version makes Salesforce's fetch fail; enabled again, it works.
	e.custosOK(t, "versions", "disable", key+"/cryptoKeyVersions/1")
	if status, _, body := e.fetch(t, endpoint+"/"+kid, "sfdc", apiKey); status != 403 {
		t.Errorf("fetch of a disabled version = %d %s, want 403", status, body)
	}
	e.custosOK(t, "versions", "enable", key+"/cryptoKeyVersions/1")
	st, h, b = e.fetch(t, endpoint+"/"+kid, "sfdc", apiKey)
	e.open(t, st, h, b, kid)

	// Deleted, the kid is unknown.
	e.custosOK(t, "salesforce", "keys", "delete", "fle")
	if status, _, body := e.fetch(t, endpoint+"/"+kid, "sfdc", apiKey); status != 404 {
		t.Errorf("fetch of a deleted key = %d %s, want 404", status, body)
	}

	// Every fetch is in the audit log: the exports (allowed and refused)
	// with target salesforce, the refusals before them as SalesforceFetch.
	exports, fetches := map[string]int{}, map[string]int{}
	for _, en := range e.s.auditAfter(t, head) {
		switch en.Method {
		case "ExportCryptoKeyVersion":
			if en.Details["target"] != "salesforce" {
				t.Errorf("export entry %+v is not for salesforce", en)
			}
			if en.Status == "OK" && en.Principal != "app:sfdc" {
				t.Errorf("export entry %+v not by app:sfdc", en)
			}
			exports[en.Status]++
		case "SalesforceFetch":
			fetches[en.Status]++
		}
	}
	// OK: the first fetch, three replay forms, the one after re-enabling.
	if diff := cmp.Diff(map[string]int{"OK": 5, "PERMISSION_DENIED": 1, "FAILED_PRECONDITION": 1}, exports); diff != "" {
		t.Errorf("ExportCryptoKeyVersion entries by status (-want +got):\n%s", diff)
	}
	// UNAUTHENTICATED: the eight credential refusals for a known kid.
	if diff := cmp.Diff(map[string]int{"UNAUTHENTICATED": 8, "NOT_FOUND": 2, "INVALID_ARGUMENT": 1}, fetches); diff != "" {
		t.Errorf("SalesforceFetch entries by status (-want +got):\n%s", diff)
	}
}

func (e *sfEnv) custosOK(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := e.custos(t, args...)
	if code != 0 {
		t.Fatalf("custos %v = exit %d:\n%s", args, code, stderr)
	}
	return out
}
