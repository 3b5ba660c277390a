// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/crypto/keywrap"
)

const testJob = testRing + "/importJobs/j"

// jobKey is the RSA-3072 key pair of the fake import jobs, made once.
var jobKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		panic(err)
	}
	return k
})

func jobJSON(t *testing.T, method, state string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&jobKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	j := map[string]any{
		"name": testJob, "importMethod": method, "protectionLevel": "SOFTWARE", "state": state,
		"createTime": "2030-01-01T00:00:00Z", "expireTime": "2030-01-04T00:00:00Z",
	}
	if state == "ACTIVE" {
		j["publicKey"] = map[string]any{"pem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	}
	b, _ := json.Marshal(j)
	return string(b)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// unwrapTest undoes wrapped_key with the job's private key, independently
// of wrapForImport.
func unwrapTest(t *testing.T, method string, wrapped []byte) []byte {
	t.Helper()
	var h hash.Hash = sha256.New()
	if strings.Contains(method, "SHA1") {
		h = sha1.New()
	}
	priv := jobKey()
	if !strings.HasSuffix(method, "_AES_256") {
		pt, err := rsa.DecryptOAEP(h, nil, priv, wrapped, nil)
		if err != nil {
			t.Fatalf("RSA-OAEP unwrap: %v", err)
		}
		return pt
	}
	k := priv.Size()
	kek, err := rsa.DecryptOAEP(h, nil, priv, wrapped[:k], nil)
	if err != nil || len(kek) != 32 {
		t.Fatalf("RSA-OAEP unwrap of the AES key: %d bytes, %v", len(kek), err)
	}
	pt, err := keywrap.UnwrapPad(kek, wrapped[k:])
	if err != nil {
		t.Fatalf("AES-KWP unwrap: %v", err)
	}
	return pt
}

func TestImportJobsRequests(t *testing.T) {
	job := jobJSON(t, "RSA_OAEP_3072_SHA256_AES_256", "ACTIVE")
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testRing + "/importJobs": ok(job),
		"GET /v1/" + testJob:                   ok(job),
		"GET /v1/" + testRing + "/importJobs":  ok(`{"importJobs":[` + job + `]}`),
	})
	runCLI(t, srv.srv.URL, "", "import-jobs", "create", testJob).mustSucceed(t)
	req := srv.last()
	if diff := cmp.Diff(url.Values{"importJobId": {"j"}}, req.Query); diff != "" {
		t.Errorf("create query (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"importMethod": "RSA_OAEP_3072_SHA256_AES_256", "protectionLevel": "SOFTWARE"}, req.Body); diff != "" {
		t.Errorf("create body (-want +got):\n%s", diff)
	}
	runCLI(t, srv.srv.URL, "", "import-jobs", "create", testJob, "--method", "rsa_oaep_4096_sha256").mustSucceed(t)
	if got := srv.last().Body["importMethod"]; got != "RSA_OAEP_4096_SHA256" {
		t.Errorf("--method rsa_oaep_4096_sha256 sent %v", got)
	}

	r := runCLI(t, srv.srv.URL, "", "import-jobs", "get", testJob).mustSucceed(t)
	for _, want := range []string{"State:             ACTIVE", "Import method:     RSA_OAEP_3072_SHA256_AES_256", "Expires:           2030-01-04T00:00:00Z", "-----BEGIN PUBLIC KEY-----"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import-jobs get output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "import-jobs", "get", testJob, "-o", "json").mustSucceed(t)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["name"] != testJob {
		t.Errorf("import-jobs get -o json = %q (%v)", r.stdout, err)
	}
	r = runCLI(t, srv.srv.URL, "", "import-jobs", "list", testRing, "--filter", "state=ACTIVE").mustSucceed(t)
	if !strings.Contains(r.stdout, testJob) || !strings.Contains(r.stdout, "RSA_OAEP_3072_SHA256_AES_256") {
		t.Errorf("import-jobs list output:\n%s", r.stdout)
	}
	if q := srv.last().Query; q.Get("filter") != "state=ACTIVE" {
		t.Errorf("list query = %v", q)
	}

	usage := [][]string{
		{"import-jobs", "create", testRing},
		{"import-jobs", "create", testRing + "/importJobs/a b"},
		{"import-jobs", "create", testJob, "--method", "RSA_OAEP_2048"},
		{"import-jobs", "create", testJob, "--protection-level", "NONE"},
		{"import-jobs", "get", testKey},
		{"import-jobs", "list", testJob},
		{"import-jobs", "lst"},
	}
	for _, args := range usage {
		if r := runCLI(t, srv.srv.URL, "", args...); r.code != 2 {
			t.Errorf("custos %v: exit %d, want 2 (usage); stderr %s", args, r.code, r.stderr)
		}
	}
}

// importServer is a fake server with one import job and an import route
// that answers with the version it was told to.
func importServer(t *testing.T, method, jobState, answer string) *fakeServer {
	return newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testJob: ok(jobJSON(t, method, jobState)),
		"POST /v1/" + testKey + "/cryptoKeyVersions:import": ok(answer),
	})
}

func wrappedKeyOf(t *testing.T, req request) []byte {
	t.Helper()
	s, _ := req.Body["wrappedKey"].(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("wrappedKey %q: %v", s, err)
	}
	return b
}

func TestKeysImportWrapsOnTheClient(t *testing.T) {
	enabled := `{"name":"` + testKey + `/cryptoKeyVersions/1","state":"ENABLED","algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION","importJob":"` + testJob + `"}`
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	file := writeFile(t, "aes.key", aesKey)
	methods := []string{
		"RSA_OAEP_3072_SHA1_AES_256", "RSA_OAEP_3072_SHA256_AES_256", "RSA_OAEP_3072_SHA256",
	}
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			srv := importServer(t, m, "ACTIVE", enabled)
			r := runCLI(t, srv.srv.URL, "", "keys", "import", testKey, "--job", testJob, "--key-file", file, "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION").mustSucceed(t)
			if !strings.Contains(r.stdout, "ENABLED") {
				t.Errorf("output:\n%s", r.stdout)
			}
			req := srv.last()
			if req.Path != "/v1/"+testKey+"/cryptoKeyVersions:import" {
				t.Fatalf("last request %s %s", req.Method, req.Path)
			}
			if req.Body["algorithm"] != "GOOGLE_SYMMETRIC_ENCRYPTION" || req.Body["importJob"] != testJob || req.Body["cryptoKeyVersion"] != nil {
				t.Errorf("import body = %v", req.Body)
			}
			raw, _ := json.Marshal(req.Body)
			if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(aesKey))) {
				t.Fatal("the plaintext key was sent")
			}
			if got := unwrapTest(t, m, wrappedKeyOf(t, req)); !bytes.Equal(got, aesKey) {
				t.Fatal("the wrapped key does not unwrap to the key file")
			}
		})
	}

	// A PEM EC key is sent as PKCS#8 DER; SEC 1 PEM is converted.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	files := map[string][]byte{
		"pkcs8.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"pkcs8.der": der,
		"sec1.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		// openssl ecparam -genkey writes the curve's EC PARAMETERS first.
		"ecparam.pem": append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...),
	}
	for name, data := range files {
		t.Run("EC key in "+name, func(t *testing.T) {
			srv := importServer(t, "RSA_OAEP_3072_SHA256", "ACTIVE", strings.ReplaceAll(enabled, "GOOGLE_SYMMETRIC_ENCRYPTION", "EC_SIGN_P256_SHA256"))
			runCLI(t, srv.srv.URL, "", "keys", "import", testKey, "--job", testJob, "--key-file", writeFile(t, name, data),
				"--algorithm", "EC_SIGN_P256_SHA256", "--version", "3").mustSucceed(t)
			req := srv.last()
			if req.Body["cryptoKeyVersion"] != testKey+"/cryptoKeyVersions/3" {
				t.Errorf("--version 3 sent cryptoKeyVersion %v", req.Body["cryptoKeyVersion"])
			}
			got := unwrapTest(t, "RSA_OAEP_3072_SHA256", wrappedKeyOf(t, req))
			k, err := x509.ParsePKCS8PrivateKey(got)
			if err != nil || !k.(*ecdsa.PrivateKey).Equal(ec) {
				t.Fatalf("the wrapped key is not the EC key as PKCS#8 (%v)", err)
			}
		})
	}
}

func TestKeysImportFailures(t *testing.T) {
	failed := `{"name":"` + testKey + `/cryptoKeyVersions/2","state":"IMPORT_FAILED","algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION",
		"importFailureReason":"The key material in the import request couldn't be unwrapped or wasn't formatted correctly"}`
	key32 := writeFile(t, "k32", bytes.Repeat([]byte{7}, 32))
	srv := importServer(t, "RSA_OAEP_3072_SHA256_AES_256", "ACTIVE", failed)
	r := runCLI(t, srv.srv.URL, "", "keys", "import", testKey, "--job", testJob, "--key-file", key32, "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION")
	if r.code != 1 || !strings.Contains(r.stderr, "custos: error: import failed: The key material") || !strings.Contains(r.stdout, "IMPORT_FAILED") {
		t.Errorf("IMPORT_FAILED answer: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	tests := []struct {
		name   string
		method string
		state  string
		args   []string
		code   int
		stderr string
	}{
		{"expired job", "RSA_OAEP_3072_SHA256_AES_256", "EXPIRED",
			[]string{"--key-file", key32, "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"}, 1, "is EXPIRED, not ACTIVE"},
		{"key of the wrong length", "RSA_OAEP_3072_SHA256_AES_256", "ACTIVE",
			[]string{"--key-file", writeFile(t, "k31", make([]byte, 31)), "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"}, 1, "31 bytes"},
		{"hex key", "RSA_OAEP_3072_SHA256_AES_256", "ACTIVE",
			[]string{"--key-file", writeFile(t, "hex", []byte(strings.Repeat("ab", 32))), "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"}, 1, "not hex or base64"},
		{"not a private key", "RSA_OAEP_3072_SHA256_AES_256", "ACTIVE",
			[]string{"--key-file", key32, "--algorithm", "EC_SIGN_P256_SHA256"}, 1, "not a PKCS#8 private key"},
		{"encrypted PEM", "RSA_OAEP_3072_SHA256_AES_256", "ACTIVE",
			[]string{"--key-file", writeFile(t, "enc.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})), "--algorithm", "EC_SIGN_P256_SHA256"}, 1, "encrypted"},
		{"RSA key too big for the direct method", "RSA_OAEP_3072_SHA256", "ACTIVE",
			[]string{"--key-file", writeFile(t, "rsa.der", rsaDER), "--algorithm", "RSA_SIGN_PSS_2048_SHA256"}, 1, "wraps at most"},
		{"missing --job", "", "", []string{"--key-file", key32, "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"}, 2, "--job is required"},
		{"missing --algorithm", "", "", []string{"--job", testJob, "--key-file", key32}, 2, "--algorithm is required"},
		{"bad --version", "", "", []string{"--job", testJob, "--key-file", key32, "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION", "--version", "01"}, 2, "--version"},
		{"job name of a key", "", "", []string{"--job", testKey, "--key-file", key32, "--algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"}, 2, "not an import job name"},
		{"algorithm not importable", "", "", []string{"--job", testJob, "--key-file", key32, "--algorithm", "EXTERNAL_SYMMETRIC_ENCRYPTION"}, 2, "cannot be imported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := importServer(t, tc.method, tc.state, failed)
			args := append([]string{"keys", "import", testKey}, tc.args...)
			if tc.method != "" && !strings.Contains(strings.Join(tc.args, " "), "--job") {
				args = append(args, "--job", testJob)
			}
			r := runCLI(t, srv.srv.URL, "", args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("custos %v: exit %d, stderr %q; want exit %d and %q", args, r.code, r.stderr, tc.code, tc.stderr)
			}
			for _, req := range srv.requests() {
				if req.Method == "POST" {
					t.Errorf("custos %v sent %s %s", args, req.Method, req.Path)
				}
			}
		})
	}
}
