// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
)

func b64(b []byte) string  { return base64.StdEncoding.EncodeToString(b) }
func b64s(s string) string { return b64([]byte(s)) }

func crcString(b []byte) string { return strconv.FormatInt(crc32c(b).GetValue(), 10) }

func TestEncryptDecryptRequests(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testKey + ":encrypt": ok(`{"name":"` + testVersion + `","ciphertext":"` + b64s("CT") + `","ciphertextCrc32c":"` + crcString([]byte("CT")) + `"}`),
		"POST /v1/" + testKey + ":decrypt": ok(`{"plaintext":"` + b64s("hello") + `","usedPrimary":true}`),
	})
	r := runCLI(t, srv.srv.URL, "hello", "encrypt", testKey, "--aad", "ctx").mustSucceed(t)
	if r.stdout != "CT" {
		t.Errorf("encrypt stdout = %q, want the raw ciphertext", r.stdout)
	}
	want := map[string]any{
		"plaintext":                         b64s("hello"),
		"additionalAuthenticatedData":       b64s("ctx"),
		"plaintextCrc32c":                   crcString([]byte("hello")),
		"additionalAuthenticatedDataCrc32c": crcString([]byte("ctx")),
	}
	if diff := cmp.Diff(want, srv.last().Body); diff != "" {
		t.Errorf("encrypt body (-want +got):\n%s", diff)
	}

	dir := t.TempDir()
	aadFile := filepath.Join(dir, "aad")
	ctFile := filepath.Join(dir, "ct")
	ptFile := filepath.Join(dir, "pt")
	os.WriteFile(aadFile, []byte("ctx"), 0o600)
	os.WriteFile(ctFile, []byte("CT"), 0o600)
	runCLI(t, srv.srv.URL, "", "decrypt", testKey, "--in", ctFile, "--out", ptFile, "--aad-file", aadFile).mustSucceed(t)
	if got, _ := os.ReadFile(ptFile); string(got) != "hello" {
		t.Errorf("plaintext file = %q, want hello", got)
	}
	if fi, err := os.Stat(ptFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("plaintext file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	want = map[string]any{
		"ciphertext":                        b64s("CT"),
		"additionalAuthenticatedData":       b64s("ctx"),
		"ciphertextCrc32c":                  crcString([]byte("CT")),
		"additionalAuthenticatedDataCrc32c": crcString([]byte("ctx")),
	}
	if diff := cmp.Diff(want, srv.last().Body); diff != "" {
		t.Errorf("decrypt body (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.srv.URL, "", "decrypt", testKey, "--in", ctFile, "-o", "json").mustSucceed(t)
	if r.stdout != "{\n  \"plaintext\": \""+b64s("hello")+"\",\n  \"usedPrimary\": true\n}\n" {
		t.Errorf("decrypt -o json = %q", r.stdout)
	}
}

func TestEncryptDetectsCorruption(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testKey + ":encrypt": ok(`{"ciphertext":"` + b64s("CT") + `","ciphertextCrc32c":"12345"}`),
	})
	r := runCLI(t, srv.srv.URL, "x", "encrypt", testKey)
	if r.code != 1 || !strings.Contains(r.stderr, "corrupted in transit") || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 about corruption and no output", r.code, r.stdout, r.stderr)
	}
}

func TestRawEncryptDecrypt(t *testing.T) {
	iv := []byte("0123456789ab")
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testVersion + ":rawEncrypt": ok(`{"ciphertext":"` + b64s("RAWCT") + `","initializationVector":"` + b64(iv) + `","tagLength":16}`),
		"POST /v1/" + testVersion + ":rawDecrypt": ok(`{"plaintext":"` + b64s("hi") + `"}`),
	})
	dir := t.TempDir()
	ivFile, ctFile := filepath.Join(dir, "iv"), filepath.Join(dir, "ct")
	runCLI(t, srv.srv.URL, "hi", "encrypt", testVersion, "--raw", "--out", ctFile, "--iv-out", ivFile, "--aad", "a").mustSucceed(t)
	if got, _ := os.ReadFile(ivFile); string(got) != string(iv) {
		t.Errorf("iv file = %q, want %q", got, iv)
	}
	if got, _ := os.ReadFile(ctFile); string(got) != "RAWCT" {
		t.Errorf("ciphertext file = %q", got)
	}
	r := runCLI(t, srv.srv.URL, "", "decrypt", testVersion, "--raw", "--in", ctFile, "--iv", ivFile, "--aad", "a", "--tag-length", "16").mustSucceed(t)
	if r.stdout != "hi" {
		t.Errorf("raw decrypt stdout = %q", r.stdout)
	}
	body := srv.last().Body
	if body["initializationVector"] != b64(iv) || body["tagLength"] != float64(16) || body["ciphertext"] != b64s("RAWCT") {
		t.Errorf("rawDecrypt body = %v", body)
	}

	// JSON output carries the IV; --iv-out is then optional.
	r = runCLI(t, srv.srv.URL, "hi", "encrypt", testVersion, "--raw", "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"initializationVector": "`+b64(iv)+`"`) {
		t.Errorf("raw encrypt -o json = %s", r.stdout)
	}
}

func TestCryptoUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"decrypt needs a key or version", []string{"decrypt", testRing}},
		{"raw needs a version", []string{"encrypt", testKey, "--raw", "--iv-out", "x"}},
		{"raw encrypt needs --iv-out in text mode", []string{"encrypt", testVersion, "--raw"}},
		{"raw decrypt needs --iv", []string{"decrypt", testVersion, "--raw"}},
		{"iv without raw", []string{"encrypt", testKey, "--iv-out", "x"}},
		{"aad and aad-file", []string{"encrypt", testKey, "--aad", "a", "--aad-file", "f"}},
		{"asymmetric with aad", []string{"encrypt", testVersion, "--asymmetric", "--aad", "a"}},
		{"asymmetric decrypt with aad", []string{"decrypt", testVersion, "--aad", "a"}},
		{"two stdin inputs", []string{"decrypt", testVersion, "--raw", "--iv", "-"}},
		{"--out with json", []string{"encrypt", testKey, "-o", "json", "--out", "f"}},
		{"sign needs a version", []string{"sign", testKey}},
		{"verify needs --signature", []string{"verify", testVersion}},
		{"mac --verify and --out", []string{"mac", testVersion, "--verify", "m", "--out", "o"}},
		{"random needs --length", []string{"random", "projects/p/locations/l"}},
		{"random too long", []string{"random", "projects/p/locations/l", "--length", "1025"}},
		{"random needs a location", []string{"random", testRing, "--length", "8"}},
		{"public-key needs a version", []string{"public-key", testKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "http://127.0.0.1:1", "", tc.args...)
			if r.code != 2 {
				t.Fatalf("custos %s: exit %d, want 2; stderr:\n%s", strings.Join(tc.args, " "), r.code, r.stderr)
			}
		})
	}
}

// signer is a key of one algorithm, made with Go crypto, and its signing
// function (the way Cloud KMS signs: over the data's digest, DER for ECDSA).
type signer struct {
	alg  kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
	pub  crypto.PublicKey
	sign func(data []byte) []byte
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

func testSigners(t *testing.T) []signer {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rk := testRSAKey(t)
	digest := func(h crypto.Hash, data []byte) []byte {
		hh := h.New()
		hh.Write(data)
		return hh.Sum(nil)
	}
	must := func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []signer{
		{kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, &p256.PublicKey, func(d []byte) []byte {
			return must(ecdsa.SignASN1(rand.Reader, p256, digest(crypto.SHA256, d)))
		}},
		{kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384, &p384.PublicKey, func(d []byte) []byte {
			return must(ecdsa.SignASN1(rand.Reader, p384, digest(crypto.SHA384, d)))
		}},
		{kmspb.CryptoKeyVersion_EC_SIGN_ED25519, edPub, func(d []byte) []byte { return ed25519.Sign(edPriv, d) }},
		{kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256, &rk.PublicKey, func(d []byte) []byte {
			return must(rsa.SignPSS(rand.Reader, rk, crypto.SHA256, digest(crypto.SHA256, d), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))
		}},
		{kmspb.CryptoKeyVersion_RSA_SIGN_PSS_4096_SHA512, &rk.PublicKey, func(d []byte) []byte {
			return must(rsa.SignPSS(rand.Reader, rk, crypto.SHA512, digest(crypto.SHA512, d), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))
		}},
		{kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256, &rk.PublicKey, func(d []byte) []byte {
			return must(rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, digest(crypto.SHA256, d)))
		}},
		{kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA512, &rk.PublicKey, func(d []byte) []byte {
			return must(rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA512, digest(crypto.SHA512, d)))
		}},
		{kmspb.CryptoKeyVersion_RSA_SIGN_RAW_PKCS1_2048, &rk.PublicKey, func(d []byte) []byte {
			return must(rsa.SignPKCS1v15(rand.Reader, rk, 0, d))
		}},
	}
}

func pemOf(t *testing.T, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestVerifyThroughTheCLI signs with Go crypto and verifies through
// "custos verify", which fetches the public key from the fake server.
func TestVerifyThroughTheCLI(t *testing.T) {
	data := []byte("release 1.2.3")
	for _, s := range testSigners(t) {
		t.Run(s.alg.String(), func(t *testing.T) {
			p := pemOf(t, s.pub)
			pk, _ := json.Marshal(map[string]any{"pem": p, "algorithm": s.alg.String(), "pemCrc32c": crcString([]byte(p)), "name": testVersion})
			srv := newFakeServer(t, map[string]func(request) reply{"GET /v1/" + testVersion + "/publicKey": ok(string(pk))})
			dir := t.TempDir()
			sigFile := filepath.Join(dir, "sig")
			os.WriteFile(sigFile, s.sign(data), 0o600)

			r := runCLI(t, srv.srv.URL, string(data), "verify", testVersion, "--signature", sigFile).mustSucceed(t)
			if r.stdout != "signature valid\n" {
				t.Errorf("stdout = %q, want signature valid", r.stdout)
			}

			r = runCLI(t, srv.srv.URL, "release 1.2.4", "verify", testVersion, "--signature", sigFile)
			if r.code != 1 || r.stderr != "custos: error: signature invalid\n" {
				t.Errorf("tampered data: exit %d, stderr %q; want exit 1 and signature invalid", r.code, r.stderr)
			}

			r = runCLI(t, srv.srv.URL, "release 1.2.4", "verify", testVersion, "--signature", sigFile, "-o", "json")
			if r.code != 1 || !strings.Contains(r.stdout, `"valid": false`) {
				t.Errorf("tampered data, json: exit %d, stdout %q", r.code, r.stdout)
			}
		})
	}
}

func TestVerifySignatureMismatches(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		alg  kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
		pub  crypto.PublicKey
		sig  []byte
		want error // errSignatureInvalid, or nil for "some other error"
	}{
		{"garbage DER", kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, &p256.PublicKey, []byte("junk"), errSignatureInvalid},
		{"empty signature", kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, &p256.PublicKey, nil, errSignatureInvalid},
		{"curve does not fit", kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384, &p256.PublicKey, []byte("x"), nil},
		{"key type does not fit", kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256, &p256.PublicKey, []byte("x"), nil},
		{"not a signing algorithm", kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, &p256.PublicKey, []byte("x"), nil},
		{"unsupported signing algorithm", kmspb.CryptoKeyVersion_EC_SIGN_SECP256K1_SHA256, &p256.PublicKey, []byte("x"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifySignature(tc.alg, tc.pub, []byte("data"), tc.sig)
			switch {
			case err == nil:
				t.Fatalf("verifySignature = nil, want an error")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("verifySignature = %v, want %v", err, tc.want)
			case tc.want == nil && errors.Is(err, errSignatureInvalid):
				t.Fatalf("verifySignature = %v, want an error other than an invalid signature", err)
			}
		})
	}
}

func TestSignWritesRawSignature(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testVersion + ":asymmetricSign": ok(`{"signature":"` + b64s("SIG") + `","signatureCrc32c":"` + crcString([]byte("SIG")) + `","verifiedDataCrc32c":true}`),
	})
	r := runCLI(t, srv.srv.URL, "payload", "sign", testVersion).mustSucceed(t)
	if r.stdout != "SIG" {
		t.Errorf("stdout = %q", r.stdout)
	}
	want := map[string]any{"data": b64s("payload"), "dataCrc32c": crcString([]byte("payload"))}
	if diff := cmp.Diff(want, srv.last().Body); diff != "" {
		t.Errorf("asymmetricSign body (-want +got):\n%s", diff)
	}
}

func TestAsymmetricEncryptLocallyAndDecryptOnServer(t *testing.T) {
	rk := testRSAKey(t)
	p := pemOf(t, &rk.PublicKey)
	pk, _ := json.Marshal(map[string]any{"pem": p, "algorithm": "RSA_DECRYPT_OAEP_2048_SHA256"})
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testVersion + "/publicKey": ok(string(pk)),
		"POST /v1/" + testVersion + ":asymmetricDecrypt": func(req request) reply {
			ct, _ := base64.StdEncoding.DecodeString(req.Body["ciphertext"].(string))
			pt, err := rsa.DecryptOAEP(crypto.SHA256.New(), nil, rk, ct, nil)
			if err != nil {
				return reply{status: 400, body: `{"error":{"code":400,"message":"bad ciphertext","status":"INVALID_ARGUMENT"}}`}
			}
			return reply{body: `{"plaintext":"` + b64(pt) + `"}`}
		},
	})
	dir := t.TempDir()
	ctFile := filepath.Join(dir, "ct")
	runCLI(t, srv.srv.URL, "wrapped key", "encrypt", testVersion, "--asymmetric", "--out", ctFile).mustSucceed(t)
	r := runCLI(t, srv.srv.URL, "", "decrypt", testVersion, "--in", ctFile).mustSucceed(t)
	if r.stdout != "wrapped key" {
		t.Errorf("round trip = %q", r.stdout)
	}
}

func TestMAC(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testVersion + ":macSign": ok(`{"mac":"` + b64s("TAG") + `"}`),
		"POST /v1/" + testVersion + ":macVerify": func(req request) reply {
			return reply{body: `{"success":` + strconv.FormatBool(req.Body["mac"] == b64s("TAG")) + `}`}
		},
	})
	dir := t.TempDir()
	macFile := filepath.Join(dir, "mac")
	runCLI(t, srv.srv.URL, "msg", "mac", testVersion, "--out", macFile).mustSucceed(t)
	r := runCLI(t, srv.srv.URL, "msg", "mac", testVersion, "--verify", macFile).mustSucceed(t)
	if r.stdout != "mac valid\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	os.WriteFile(macFile, []byte("BAD"), 0o600)
	r = runCLI(t, srv.srv.URL, "msg", "mac", testVersion, "--verify", macFile)
	if r.code != 1 || r.stderr != "custos: error: mac invalid\n" {
		t.Errorf("bad mac: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestPublicKeyAndRandom(t *testing.T) {
	data := []byte("0123456789abcdef")
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testVersion + "/publicKey":               ok(`{"pem":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----","algorithm":"EC_SIGN_P256_SHA256"}`),
		"POST /v1/projects/p/locations/l:generateRandomBytes": ok(`{"data":"` + b64(data) + `","dataCrc32c":"` + crcString(data) + `"}`),
	})
	r := runCLI(t, srv.srv.URL, "", "public-key", testVersion).mustSucceed(t)
	if r.stdout != "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" {
		t.Errorf("public-key = %q", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "random", "projects/p/locations/l", "--length", "16", "--protection-level", "hsm").mustSucceed(t)
	if r.stdout != b64(data)+"\n" {
		t.Errorf("random = %q", r.stdout)
	}
	if diff := cmp.Diff(map[string]any{"lengthBytes": float64(16), "protectionLevel": "HSM"}, srv.last().Body); diff != "" {
		t.Errorf("generateRandomBytes body (-want +got):\n%s", diff)
	}
	r = runCLI(t, srv.srv.URL, "", "random", "projects/p/locations/l", "--length", "8")
	if r.code != 1 || !strings.Contains(r.stderr, "sent 16 random bytes, not 8") {
		t.Errorf("short answer: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestDecryptOutFileExisting: --out into an existing file that others may
// read leaves the plaintext private (mode 0600), as a new file is.
func TestDecryptOutFileExisting(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/" + testKey + ":decrypt": ok(`{"plaintext":"` + b64s("hello") + `"}`),
	})
	dir := t.TempDir()
	ctFile := filepath.Join(dir, "ct")
	ptFile := filepath.Join(dir, "pt")
	os.WriteFile(ctFile, []byte("CT"), 0o600)
	if err := os.WriteFile(ptFile, []byte("an older, longer content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ptFile, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	runCLI(t, srv.srv.URL, "", "decrypt", testKey, "--in", ctFile, "--out", ptFile).mustSucceed(t)
	if got, _ := os.ReadFile(ptFile); string(got) != "hello" {
		t.Errorf("plaintext file = %q, want hello", got)
	}
	if fi, err := os.Stat(ptFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("plaintext file mode = %v, %v; want 0600", fi.Mode(), err)
	}
}
