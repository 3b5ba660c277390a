// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/keywrap"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

const byokRing = "projects/p/locations/global/keyRings/r"

// byokAuthz: the admin may do anything, app:exporter may export and read
// public keys, anyone else nothing.
type byokAuthz struct{}

func (byokAuthz) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := kms.CallerFrom(ctx)
	if c != nil && (c.Admin || (c.Principal == "app:exporter" && (perm == kms.PermExport || perm == kms.PermVersionsViewPublicKey))) {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

// byokAudit keeps the export events.
type byokAudit struct {
	mu     sync.Mutex
	events []kms.Event
}

func (a *byokAudit) Record(_ context.Context, e kms.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.Method == "ExportCryptoKeyVersion" {
		a.events = append(a.events, e)
	}
	return nil
}

func (a *byokAudit) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events)
}

type byokEnv struct {
	srv   *httptest.Server
	svc   *kms.Service
	audit *byokAudit
	ctx   context.Context
}

func newBYOKEnv(t *testing.T) *byokEnv {
	t.Helper()
	st, ks := sqlitetest.Open(t, 7)
	au := &byokAudit{}
	svc := kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: byokAuthz{}, Auditor: au})
	h := admin.New(iamRouteAuthenticate)
	admin.RegisterBYOK(h, svc)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	if _, err := svc.CreateKeyRing(ctx, "projects/p/locations/global", "r"); err != nil {
		t.Fatal(err)
	}
	return &byokEnv{srv: srv, svc: svc, audit: au, ctx: ctx}
}

func (e *byokEnv) key(t *testing.T, id string, k kms.CryptoKey) string {
	t.Helper()
	info, err := e.svc.CreateCryptoKey(e.ctx, kms.CreateKeyRequest{Parent: byokRing, ID: id, Key: k})
	if err != nil {
		t.Fatalf("CreateCryptoKey(%s) = %v", id, err)
	}
	return info.Key.Name
}

// material reads a version's material through the core, to compare.
func (e *byokEnv) material(t *testing.T, name string) []byte {
	t.Helper()
	m, _, _, err := e.svc.ExportMaterial(e.ctx, name, kms.ExportOptions{Target: "test"})
	if err != nil {
		t.Fatalf("ExportMaterial(%s) = %v", name, err)
	}
	return m
}

func (e *byokEnv) call(t *testing.T, token string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if s, ok := body.(string); ok {
		b = []byte(s)
	} else {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/v1/byok:wrap", bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("answer %q is not JSON", data)
	}
	return resp.StatusCode, out
}

func oaepOpen(t *testing.T, priv *rsa.PrivateKey, h crypto.Hash, ct []byte) []byte {
	t.Helper()
	hf := sha256.New()
	if h == crypto.SHA1 {
		hf = sha1.New()
	}
	pt, err := rsa.DecryptOAEP(hf, nil, priv, ct, nil)
	if err != nil {
		t.Fatalf("RSA-OAEP(%v) does not decrypt: %v", h, err)
	}
	return pt
}

func rsaAESOpen(t *testing.T, priv *rsa.PrivateKey, h crypto.Hash, blob []byte) []byte {
	t.Helper()
	kek := oaepOpen(t, priv, h, blob[:priv.Size()])
	pt, err := keywrap.UnwrapPad(kek, blob[priv.Size():])
	if err != nil {
		t.Fatalf("AES-KWP does not unwrap: %v", err)
	}
	return pt
}

func TestBYOKWrapFormats(t *testing.T) {
	e := newBYOKEnv(t)
	sym := e.key(t, "sym", kms.CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})
	ec := e.key(t, "ec", kms.CryptoKey{Purpose: alg.AsymmetricSign, Template: kms.VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}, Exportable: true})
	priv3072, _ := rsa.GenerateKey(rand.Reader, 3072)
	spki, _ := x509.MarshalPKIXPublicKey(&priv3072.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	b64Key := base64.StdEncoding.EncodeToString(spki)
	kid := "https://contoso.vault.azure.net/keys/kek/0123456789abcdef"

	tests := []struct {
		name   string
		body   map[string]string
		key    string
		decode func(t *testing.T, out []byte) []byte
	}{
		{"aws RSAES_OAEP_SHA_256, base64 DER key", map[string]string{"key": sym, "target": "aws", "wrappingKey": b64Key, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, sym + "/cryptoKeyVersions/1",
			func(t *testing.T, out []byte) []byte { return oaepOpen(t, priv3072, crypto.SHA256, out) }},
		{"aws RSA_AES_KEY_WRAP_SHA_1, EC key", map[string]string{"key": ec, "version": "1", "target": "aws", "wrappingKey": pemKey, "wrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_1"}, ec + "/cryptoKeyVersions/1",
			func(t *testing.T, out []byte) []byte { return rsaAESOpen(t, priv3072, crypto.SHA1, out) }},
		{"gcp RSA_OAEP_3072_SHA256_AES_256", map[string]string{"key": sym + "/cryptoKeyVersions/1", "target": "gcp", "wrappingKey": pemKey, "wrappingAlgorithm": "RSA_OAEP_3072_SHA256_AES_256"}, sym + "/cryptoKeyVersions/1",
			func(t *testing.T, out []byte) []byte { return rsaAESOpen(t, priv3072, crypto.SHA256, out) }},
		{"gcp-csek", map[string]string{"key": sym, "target": "gcp-csek", "wrappingKey": pemKey}, sym + "/cryptoKeyVersions/1",
			func(t *testing.T, out []byte) []byte {
				raw, err := base64.StdEncoding.DecodeString(string(out))
				if err != nil {
					t.Fatal(err)
				}
				return oaepOpen(t, priv3072, crypto.SHA1, raw)
			}},
		{"azure", map[string]string{"key": ec, "target": "azure", "wrappingKey": pemKey, "kid": kid}, ec + "/cryptoKeyVersions/1",
			func(t *testing.T, out []byte) []byte {
				var f struct {
					Header     map[string]string `json:"header"`
					Ciphertext string            `json:"ciphertext"`
				}
				if err := json.Unmarshal(out, &f); err != nil || f.Header["kid"] != kid {
					t.Fatalf(".byok file %s: %v", out, err)
				}
				raw, err := base64.RawURLEncoding.DecodeString(f.Ciphertext)
				if err != nil {
					t.Fatal(err)
				}
				return rsaAESOpen(t, priv3072, crypto.SHA1, raw)
			}},
		{"alibaba", map[string]string{"key": sym, "target": "alibaba", "wrappingKey": b64Key, "wrappingAlgorithm": "RSAES_OAEP_SHA_1"}, sym + "/cryptoKeyVersions/1",
			func(t *testing.T, out []byte) []byte {
				raw, err := base64.StdEncoding.DecodeString(string(out))
				if err != nil {
					t.Fatal(err)
				}
				return oaepOpen(t, priv3072, crypto.SHA1, raw)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.audit.count()
			code, body := e.call(t, "app:exporter", tc.body)
			if code != http.StatusOK {
				t.Fatalf("byok:wrap = %d %v", code, body)
			}
			if body["version"] != tc.key || body["format"] == "" || body["notes"] == nil {
				t.Errorf("answer %v", body)
			}
			out, err := base64.StdEncoding.DecodeString(body["wrapped"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.decode(t, out); !bytes.Equal(got, e.material(t, tc.key)) {
				t.Fatal("the wrapped material is not the version's")
			}
			if e.audit.count() != before+2 { // the wrap, and this test's own read
				t.Errorf("%d audit entries, want 1 for the wrap", e.audit.count()-before-1)
			}
			// The entry says to whom the material went.
			sum := sha256.Sum256(spki)
			if d := e.audit.events[before].Details; d["wrappingKeySha256"] != hex.EncodeToString(sum[:]) || d["target"] != tc.body["target"] || d["always"] != "true" {
				t.Errorf("export audit details = %v, want the wrapping key's SHA-256 %x", d, sum)
			}
		})
	}
}

// TestBYOKWrapWithCustosKey wraps under the public key of an
// ASYMMETRIC_DECRYPT version of this Custos and unwraps with it.
func TestBYOKWrapWithCustosKey(t *testing.T) {
	e := newBYOKEnv(t)
	sym := e.key(t, "sym", kms.CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})
	kek := e.key(t, "kek", kms.CryptoKey{Purpose: alg.AsymmetricDecrypt, Template: kms.VersionTemplate{Algorithm: "RSA_DECRYPT_OAEP_3072_SHA256"}})
	signer := e.key(t, "signer", kms.CryptoKey{Purpose: alg.AsymmetricSign, Template: kms.VersionTemplate{Algorithm: "RSA_SIGN_PSS_3072_SHA256"}})

	code, body := e.call(t, "app:exporter", map[string]string{"key": sym, "target": "aws", "wrappingKeyVersion": kek + "/cryptoKeyVersions/1", "wrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256"})
	if code != http.StatusOK {
		t.Fatalf("byok:wrap = %d %v", code, body)
	}
	out, _ := base64.StdEncoding.DecodeString(body["wrapped"].(string))
	aesKey, _, err := e.svc.AsymmetricDecrypt(e.ctx, kek+"/cryptoKeyVersions/1", out[:384])
	if err != nil {
		t.Fatalf("AsymmetricDecrypt of the RSA part = %v", err)
	}
	got, err := keywrap.UnwrapPad(aesKey, out[384:])
	if err != nil || !bytes.Equal(got, e.material(t, sym)) {
		t.Fatalf("unwrapped material differs (%v)", err)
	}
	if d := e.audit.events[0].Details; d["wrappingKeyVersion"] != kek+"/cryptoKeyVersions/1" || len(d["wrappingKeySha256"]) != 64 {
		t.Errorf("export audit details = %v, want the wrapping key version and its SHA-256", d)
	}

	code, body = e.call(t, "app:exporter", map[string]string{"key": sym, "target": "aws", "wrappingKeyVersion": signer + "/cryptoKeyVersions/1", "wrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256"})
	if code != http.StatusBadRequest || iamRouteErrStatus(body) != "INVALID_ARGUMENT" {
		t.Fatalf("wrapping with a signing key = %d %v, want INVALID_ARGUMENT", code, body)
	}
}

func TestBYOKWrapRefusals(t *testing.T) {
	e := newBYOKEnv(t)
	sym := e.key(t, "sym", kms.CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})
	plain := e.key(t, "plain", kms.CryptoKey{Purpose: alg.EncryptDecrypt})
	rsaKey := e.key(t, "rsa", kms.CryptoKey{Purpose: alg.AsymmetricSign, Template: kms.VersionTemplate{Algorithm: "RSA_SIGN_PSS_2048_SHA256"}, Exportable: true})
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	spki, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	wk := base64.StdEncoding.EncodeToString(spki)

	tests := []struct {
		name    string
		token   string
		body    any
		code    int
		status  string
		audited bool
		msgHead string
	}{
		{"no credential", "", map[string]string{"key": sym, "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 401, "UNAUTHENTICATED", false, ""},
		{"caller without the permission", "app:stranger", map[string]string{"key": sym, "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 403, "PERMISSION_DENIED", true, "export not allowed: "},
		{"missing key, caller without the permission", "app:stranger", map[string]string{"key": byokRing + "/cryptoKeys/nokey", "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 403, "PERMISSION_DENIED", true, "export not allowed: "},
		{"key not exportable", "app:exporter", map[string]string{"key": plain, "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 400, "FAILED_PRECONDITION", true, "export not allowed: the key is not exportable"},
		{"plaintext", "admin", map[string]string{"key": sym, "target": "plaintext"}, 400, "FAILED_PRECONDITION", true, "export not allowed: plaintext"},
		{"wrong key type for the target", "admin", map[string]string{"key": rsaKey, "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 400, "FAILED_PRECONDITION", true, ""},
		{"RSA key for gcp-csek", "admin", map[string]string{"key": rsaKey, "target": "gcp-csek", "wrappingKey": wk}, 400, "FAILED_PRECONDITION", true, ""},
		{"missing kid", "admin", map[string]string{"key": sym, "target": "azure", "wrappingKey": wk}, 400, "INVALID_ARGUMENT", false, ""},
		{"missing wrapping algorithm", "admin", map[string]string{"key": sym, "target": "aws", "wrappingKey": wk}, 400, "INVALID_ARGUMENT", false, ""},
		{"algorithm for azure", "admin", map[string]string{"key": sym, "target": "azure", "wrappingKey": wk, "kid": "https://v.vault.azure.net/keys/k/1", "wrappingAlgorithm": "RSAES_OAEP_SHA_1"}, 400, "INVALID_ARGUMENT", false, ""},
		{"unknown target", "admin", map[string]string{"key": sym, "target": "oci", "wrappingKey": wk}, 400, "INVALID_ARGUMENT", false, ""},
		{"no wrapping key", "admin", map[string]string{"key": sym, "target": "aws", "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 400, "INVALID_ARGUMENT", false, ""},
		{"both wrapping keys", "admin", map[string]string{"key": sym, "target": "aws", "wrappingAlgorithm": "RSAES_OAEP_SHA_256", "wrappingKey": wk, "wrappingKeyVersion": rsaKey + "/cryptoKeyVersions/1"}, 400, "INVALID_ARGUMENT", false, ""},
		{"garbage wrapping key", "admin", map[string]string{"key": sym, "target": "aws", "wrappingAlgorithm": "RSAES_OAEP_SHA_256", "wrappingKey": "not a key"}, 400, "INVALID_ARGUMENT", false, ""},
		{"gcp method and key size differ", "admin", map[string]string{"key": sym, "target": "gcp", "wrappingAlgorithm": "RSA_OAEP_4096_SHA256", "wrappingKey": wk}, 400, "INVALID_ARGUMENT", false, ""},
		{"bad version", "admin", map[string]string{"key": sym, "version": "x", "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 400, "INVALID_ARGUMENT", false, ""},
		{"version twice", "admin", map[string]string{"key": sym + "/cryptoKeyVersions/1", "version": "1", "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 400, "INVALID_ARGUMENT", false, ""},
		{"missing version", "admin", map[string]string{"key": sym, "version": "7", "target": "aws", "wrappingKey": wk, "wrappingAlgorithm": "RSAES_OAEP_SHA_256"}, 404, "NOT_FOUND", true, ""},
		{"no key", "admin", map[string]string{"target": "aws"}, 400, "INVALID_ARGUMENT", false, ""},
		{"unknown field", "admin", `{"key":"` + sym + `","target":"aws","material":"x"}`, 400, "INVALID_ARGUMENT", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.audit.count()
			code, body := e.call(t, tc.token, tc.body)
			if code != tc.code || iamRouteErrStatus(body) != tc.status {
				t.Fatalf("byok:wrap = %d %v, want %d %s", code, body, tc.code, tc.status)
			}
			msg, _ := body["error"].(map[string]any)["message"].(string)
			if !strings.HasPrefix(msg, tc.msgHead) {
				t.Errorf("message %q, want it to start %q", msg, tc.msgHead)
			}
			if _, ok := body["wrapped"]; ok {
				t.Error("a refusal carries wrapped material")
			}
			if got := e.audit.count() - before; (got == 1) != tc.audited || got > 1 {
				t.Errorf("%d audit entries, want audited=%v", got, tc.audited)
			}
		})
	}
}

// TestBYOKWrapUnusableExponent: a wrapping key that parses but that RSA-OAEP
// cannot use (public exponent 1 or even, even modulus) is refused before
// the material is unsealed, so that the audit log never records as done an
// export that did not take place.
func TestBYOKWrapUnusableExponent(t *testing.T) {
	e := newBYOKEnv(t)
	sym := e.key(t, "sym", kms.CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	evenN := new(big.Int).Add(priv.N, big.NewInt(1))
	for _, pub := range []*rsa.PublicKey{{N: priv.N, E: 1}, {N: priv.N, E: 65536}, {N: evenN, E: 65537}} {
		spki, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		before := len(e.audit.events)
		code, body := e.call(t, "app:exporter", map[string]string{"key": sym, "target": "aws", "wrappingAlgorithm": "RSAES_OAEP_SHA_256",
			"wrappingKey": base64.StdEncoding.EncodeToString(spki)})
		if code != http.StatusBadRequest || iamRouteErrStatus(body) != "INVALID_ARGUMENT" {
			t.Fatalf("e=%d: byok:wrap = %d %v, want INVALID_ARGUMENT", pub.E, code, body)
		}
		for _, ev := range e.audit.events[before:] {
			if ev.Err == nil {
				t.Errorf("e=%d: the audit log records a successful export of %s, but nothing was exported", pub.E, ev.Resource)
			}
		}
	}
}
