// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	awstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// byokEnv is a server with exportable keys, wrapping keys made by openssl,
// and what each key's material is known to do, to check unwrapped
// material against without asking Custos for it.
type byokEnv struct {
	s       *server
	openssl string
	dir     string
	ring    string
	keys    map[string]string // role → key name
	// What the material must reproduce, recorded through the public API.
	rawCT, rawIV []byte // RawEncrypt of byokPlaintext with byokAAD
	mac          []byte // MacSign of byokPlaintext
	publicPEM    map[string]string
}

var (
	byokPlaintext = []byte("bring your own key, end to end")
	byokAAD       = []byte("byok-aad")
)

// custos runs the binary against s with token, and returns its stdout,
// stderr and exit code.
func (e *byokEnv) custos(t *testing.T, token string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return e.custosEnv(t, token, nil, args...)
}

// custosEnv is custos with more environment variables.
func (e *byokEnv) custosEnv(t *testing.T, token string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, custosBin, args...)
	cmd.Env = append(os.Environ(), "CUSTOS_ADDR=http://"+e.s.restAddr, "CUSTOS_TOKEN="+token, "CUSTOS_TOKEN_FILE=", "CUSTOS_OUTPUT=")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("custos %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (e *byokEnv) mustCustos(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := e.custos(t, e.s.token, args...)
	if code != 0 {
		t.Fatalf("custos %v = exit %d:\n%s", args, code, errs)
	}
	return out
}

func (e *byokEnv) ssl(t *testing.T, args ...string) []byte {
	t.Helper()
	var errb bytes.Buffer
	cmd := exec.Command(e.openssl, args...)
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, errb.String())
	}
	return out
}

func newBYOKEnv(t *testing.T) *byokEnv {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	e := &byokEnv{s: startServer(t), openssl: openssl, dir: t.TempDir(), keys: map[string]string{}, publicPEM: map[string]string{}}
	e.ring = "projects/byok/locations/global/keyRings/r"

	// Wrapping keys, as the providers hand them out: PEM (Cloud KMS, Azure),
	// DER (AWS, decoded), base64 of DER (AWS and Alibaba JSON), and an X.509
	// certificate (Compute Engine CSEK).
	for _, bits := range []string{"2048", "3072", "4096"} {
		priv := e.path("priv" + bits + ".pem")
		e.ssl(t, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:"+bits, "-out", priv)
		e.ssl(t, "pkey", "-in", priv, "-pubout", "-out", e.path("pub"+bits+".pem"))
		e.ssl(t, "pkey", "-in", priv, "-pubout", "-outform", "DER", "-out", e.path("pub"+bits+".der"))
		e.ssl(t, "base64", "-A", "-in", e.path("pub"+bits+".der"), "-out", e.path("pub"+bits+".b64"))
	}
	e.ssl(t, "req", "-x509", "-new", "-key", e.path("priv2048.pem"), "-subj", "/CN=csek-ingress-test", "-days", "1", "-out", e.path("csek.pem"))

	e.mustCustos(t, "keyrings", "create", e.ring)
	specs := []struct{ role, purpose, algorithm string }{
		{"raw", "RAW_ENCRYPT_DECRYPT", "AES_256_GCM"},
		{"sym", "ENCRYPT_DECRYPT", "GOOGLE_SYMMETRIC_ENCRYPTION"},
		{"hmac", "MAC", "HMAC_SHA256"},
		{"ec", "ASYMMETRIC_SIGN", "EC_SIGN_P384_SHA384"},
		{"rsa", "ASYMMETRIC_SIGN", "RSA_SIGN_PSS_2048_SHA256"},
	}
	for _, k := range specs {
		e.keys[k.role] = e.ring + "/cryptoKeys/" + k.role
		e.mustCustos(t, "keys", "create", e.keys[k.role], "--purpose", k.purpose, "--algorithm", k.algorithm, "--exportable")
		var got map[string]any
		if err := json.Unmarshal([]byte(e.mustCustos(t, "keys", "get", e.keys[k.role], "--output", "json")), &got); err != nil || got["exportable"] != true {
			t.Fatalf("custos keys get %s -o json = %v (%v), want \"exportable\": true", k.role, got, err)
		}
	}
	e.keys["plain"] = e.ring + "/cryptoKeys/plain"
	e.mustCustos(t, "keys", "create", e.keys["plain"])
	e.keys["kek"] = e.ring + "/cryptoKeys/kek"
	e.mustCustos(t, "keys", "create", e.keys["kek"], "--purpose", "ASYMMETRIC_DECRYPT", "--algorithm", "RSA_DECRYPT_OAEP_3072_SHA256")

	// What the material does, through the official client.
	ctx := testContext(t)
	c := e.s.grpcClient(t)
	enc, err := c.RawEncrypt(ctx, &kmspb.RawEncryptRequest{Name: e.keys["raw"] + "/cryptoKeyVersions/1", Plaintext: byokPlaintext, AdditionalAuthenticatedData: byokAAD})
	if err != nil {
		t.Fatalf("RawEncrypt = %v", err)
	}
	e.rawCT, e.rawIV = enc.GetCiphertext(), enc.GetInitializationVector()
	mac, err := c.MacSign(ctx, &kmspb.MacSignRequest{Name: e.keys["hmac"] + "/cryptoKeyVersions/1", Data: byokPlaintext})
	if err != nil {
		t.Fatalf("MacSign = %v", err)
	}
	e.mac = mac.GetMac()
	for _, role := range []string{"ec", "rsa"} {
		pk, err := c.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: e.keys[role] + "/cryptoKeyVersions/1"})
		if err != nil {
			t.Fatalf("GetPublicKey(%s) = %v", role, err)
		}
		e.publicPEM[role] = pk.GetPem()
	}
	return e
}

func (e *byokEnv) path(name string) string { return filepath.Join(e.dir, name) }

// byokCase is one wrap to undo with openssl.
type byokCase struct {
	role, target, alg string
	bits              string
	keyForm           string // pem, der, b64 or cert
	md                string // OAEP and MGF1 digest for openssl
	rsaAES            bool
	decode            string // raw, b64 or azure
}

func (bc byokCase) name() string {
	return bc.target + " " + bc.alg + " RSA-" + bc.bits + " " + bc.keyForm + " " + bc.role
}

const byokKID = "https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef"

func (bc byokCase) args(e *byokEnv, out string) []string {
	key := e.path("pub" + bc.bits + "." + bc.keyForm)
	if bc.keyForm == "cert" {
		key = e.path("csek.pem")
	}
	a := []string{"byok", "wrap", "--key", e.keys[bc.role], "--target", bc.target, "--wrapping-key", key, "--out", out}
	if bc.alg != "" {
		a = append(a, "--wrapping-algorithm", bc.alg)
	}
	if bc.target == "azure" {
		a = append(a, "--kid", byokKID)
	}
	return a
}

// unwrap undoes what byok wrap wrote, with openssl only: `openssl pkeyutl
// -decrypt` with the OAEP options and, for the AES part, `openssl enc -d
// -id-aes256-wrap-pad -iv A65959A6` (OpenSSL 3 needs the IV given).
func (e *byokEnv) unwrap(t *testing.T, bc byokCase, out []byte) []byte {
	t.Helper()
	blob := out
	switch bc.decode {
	case "b64":
		if bytes.ContainsAny(out, "\n\r ") {
			t.Errorf("base64 output %q holds whitespace", out)
		}
		var err error
		if blob, err = base64.StdEncoding.DecodeString(string(out)); err != nil {
			t.Fatalf("output is not base64: %v", err)
		}
	case "azure":
		var f map[string]any
		if err := json.Unmarshal(out, &f); err != nil {
			t.Fatalf(".byok is not JSON: %v", err)
		}
		hdr, _ := f["header"].(map[string]any)
		ct, _ := f["ciphertext"].(string)
		if len(f) != 4 || f["schema_version"] != "1.0.0" || len(hdr) != 3 || hdr["kid"] != byokKID || hdr["alg"] != "dir" ||
			hdr["enc"] != "CKM_RSA_AES_KEY_WRAP" || !strings.HasPrefix(f["generator"].(string), "custos/") || strings.ContainsAny(ct, "+/=") {
			t.Errorf(".byok file does not follow the specification: %s", out)
		}
		var err error
		if blob, err = base64.RawURLEncoding.DecodeString(ct); err != nil {
			t.Fatalf("ciphertext is not base64url without padding: %v", err)
		}
	}
	k, _ := strconv.Atoi(bc.bits)
	rsaPart, aesPart := blob, []byte(nil)
	if bc.rsaAES {
		rsaPart, aesPart = blob[:k/8], blob[k/8:]
	}
	sub := t.TempDir()
	in := filepath.Join(sub, "rsa.bin")
	os.WriteFile(in, rsaPart, 0o600)
	pt := e.ssl(t, "pkeyutl", "-decrypt", "-inkey", e.path("priv"+bc.bits+".pem"), "-in", in,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+bc.md, "-pkeyopt", "rsa_mgf1_md:"+bc.md)
	if !bc.rsaAES {
		return pt
	}
	if len(pt) != 32 {
		t.Fatalf("the ephemeral key is %d bytes, want 32", len(pt))
	}
	in = filepath.Join(sub, "aes.bin")
	os.WriteFile(in, aesPart, 0o600)
	return e.ssl(t, "enc", "-d", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", hex.EncodeToString(pt), "-in", in)
}

// verify checks unwrapped material against what the key did through the
// API: it opens RawEncrypt's ciphertext, reproduces MacSign's tag, or has
// (by openssl) the public key GetPublicKey returned.
func (e *byokEnv) verify(t *testing.T, role string, material []byte) {
	t.Helper()
	switch role {
	case "raw":
		block, err := aes.NewCipher(material)
		if err != nil {
			t.Fatalf("unwrapped raw key: %v", err)
		}
		gcm, _ := cipher.NewGCM(block)
		pt, err := gcm.Open(nil, e.rawIV, e.rawCT, byokAAD)
		if err != nil || !bytes.Equal(pt, byokPlaintext) {
			t.Fatalf("the unwrapped key does not open RawEncrypt's ciphertext (%v)", err)
		}
	case "hmac":
		m := hmac.New(sha256.New, material)
		m.Write(byokPlaintext)
		if !hmac.Equal(m.Sum(nil), e.mac) {
			t.Fatal("the unwrapped key does not reproduce MacSign's tag")
		}
	case "ec", "rsa":
		in := filepath.Join(t.TempDir(), "pkcs8.der")
		os.WriteFile(in, material, 0o600)
		pub := e.ssl(t, "pkey", "-inform", "DER", "-in", in, "-pubout")
		if strings.TrimSpace(string(pub)) != strings.TrimSpace(e.publicPEM[role]) {
			t.Fatalf("the unwrapped PKCS#8 key's public key (openssl) is not GetPublicKey's:\n%s\n%s", pub, e.publicPEM[role])
		}
	default:
		t.Fatalf("no check for %s", role)
	}
}

// TestBYOKWrapThroughTheBinary wraps with `custos byok wrap` for every
// target and wrapping algorithm and unwraps with openssl.
func TestBYOKWrapThroughTheBinary(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t)
	cases := []byokCase{
		{"raw", "aws", "RSAES_OAEP_SHA_1", "2048", "der", "sha1", false, "raw"},
		{"raw", "aws", "RSAES_OAEP_SHA_256", "3072", "b64", "sha256", false, "raw"},
		{"hmac", "aws", "RSAES_OAEP_SHA_256", "2048", "der", "sha256", false, "raw"},
		{"ec", "aws", "RSA_AES_KEY_WRAP_SHA_1", "4096", "der", "sha1", true, "raw"},
		{"rsa", "aws", "RSA_AES_KEY_WRAP_SHA_256", "2048", "b64", "sha256", true, "raw"},
		{"hmac", "aws", "RSA_AES_KEY_WRAP_SHA_256", "3072", "der", "sha256", true, "raw"},
		{"raw", "gcp", "RSA_OAEP_3072_SHA1_AES_256", "3072", "pem", "sha1", true, "raw"},
		{"rsa", "gcp", "RSA_OAEP_4096_SHA1_AES_256", "4096", "pem", "sha1", true, "raw"},
		{"hmac", "gcp", "RSA_OAEP_3072_SHA256_AES_256", "3072", "pem", "sha256", true, "raw"},
		{"ec", "gcp", "RSA_OAEP_4096_SHA256_AES_256", "4096", "pem", "sha256", true, "raw"},
		{"raw", "gcp", "RSA_OAEP_3072_SHA256", "3072", "pem", "sha256", false, "raw"},
		{"ec", "gcp", "RSA_OAEP_4096_SHA256", "4096", "pem", "sha256", false, "raw"},
		{"raw", "gcp-csek", "", "2048", "cert", "sha1", false, "b64"},
		{"raw", "azure", "", "3072", "pem", "sha1", true, "azure"},
		{"ec", "azure", "", "2048", "pem", "sha1", true, "azure"},
		{"rsa", "azure", "", "4096", "pem", "sha1", true, "azure"},
		{"raw", "alibaba", "RSAES_OAEP_SHA_1", "2048", "b64", "sha1", false, "b64"},
		{"raw", "alibaba", "RSAES_OAEP_SHA_256", "2048", "der", "sha256", false, "b64"},
	}
	for _, bc := range cases {
		t.Run(bc.name(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "wrapped")
			_, stderr, code := e.custos(t, e.s.token, bc.args(e, out)...)
			if code != 0 {
				t.Fatalf("custos byok wrap = exit %d:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "custos: wrapped "+e.keys[bc.role]+"/cryptoKeyVersions/1") {
				t.Errorf("stderr %q does not say what was wrapped", stderr)
			}
			wrapped, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			e.verify(t, bc.role, e.unwrap(t, bc, wrapped))
		})
	}

	// A public key stored in Custos wraps (an ASYMMETRIC_DECRYPT version):
	// its RSA part is undone by Custos itself (custos decrypt), the AES
	// part by openssl.
	t.Run("wrapping key in Custos", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "wrapped")
		kek := e.keys["kek"] + "/cryptoKeyVersions/1"
		e.mustCustos(t, "byok", "wrap", "--key", e.keys["raw"], "--target", "aws", "--wrapping-key-version", kek, "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256", "--out", out)
		blob, _ := os.ReadFile(out)
		os.WriteFile(filepath.Join(dir, "rsa.bin"), blob[:384], 0o600)
		os.WriteFile(filepath.Join(dir, "aes.bin"), blob[384:], 0o600)
		e.mustCustos(t, "decrypt", kek, "--in", filepath.Join(dir, "rsa.bin"), "--out", filepath.Join(dir, "aes.key"))
		aesKey, _ := os.ReadFile(filepath.Join(dir, "aes.key"))
		e.verify(t, "raw", e.ssl(t, "enc", "-d", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", hex.EncodeToString(aesKey), "-in", filepath.Join(dir, "aes.bin")))
	})
}

// TestBYOKIntoSecondCustos moves a GOOGLE_SYMMETRIC_ENCRYPTION key, whose
// material no other call shows, through a Cloud KMS import job of a second
// Custos with the official client, and decrypts there what the first one
// encrypted.
func TestBYOKIntoSecondCustos(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t)
	dst := startServer(t)
	ctx := testContext(t)
	c1, c2 := e.s.grpcClient(t), dst.restClient(t)

	if _, err := c2.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/byok/locations/global", KeyRingId: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: e.ring, CryptoKeyId: "sym", SkipInitialVersionCreation: true, CryptoKey: &kmspb.CryptoKey{
		Purpose:         kmspb.CryptoKey_ENCRYPT_DECRYPT,
		ImportOnly:      true,
		VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION},
	}}); err != nil {
		t.Fatal(err)
	}
	job, err := c2.CreateImportJob(ctx, &kmspb.CreateImportJobRequest{Parent: e.ring, ImportJobId: "job", ImportJob: &kmspb.ImportJob{
		ImportMethod: kmspb.ImportJob_RSA_OAEP_3072_SHA256_AES_256, ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); job.GetState() != kmspb.ImportJob_ACTIVE; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("import job still %v", job.GetState())
		}
		if job, err = c2.GetImportJob(ctx, &kmspb.GetImportJobRequest{Name: job.GetName()}); err != nil {
			t.Fatal(err)
		}
	}
	jobPEM := filepath.Join(t.TempDir(), "job.pem")
	os.WriteFile(jobPEM, []byte(job.GetPublicKey().GetPem()), 0o600)
	out := filepath.Join(t.TempDir(), "wrapped_key")
	e.mustCustos(t, "byok", "wrap", "--key", e.keys["sym"], "--target", "gcp", "--wrapping-key", jobPEM, "--wrapping-algorithm", "RSA_OAEP_3072_SHA256_AES_256", "--out", out)
	wrapped, _ := os.ReadFile(out)

	v, err := c2.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{
		Parent: e.keys["sym"], Algorithm: kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, ImportJob: job.GetName(),
		WrappedKey: wrapped,
	})
	if err != nil {
		t.Fatalf("ImportCryptoKeyVersion = %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); v.GetState() != kmspb.CryptoKeyVersion_ENABLED; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) || v.GetState() == kmspb.CryptoKeyVersion_IMPORT_FAILED {
			t.Fatalf("imported version is %v (%s)", v.GetState(), v.GetImportFailureReason())
		}
		if v, err = c2.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v.GetName()}); err != nil {
			t.Fatal(err)
		}
	}
	ct, err := c1.Encrypt(ctx, &kmspb.EncryptRequest{Name: e.keys["sym"], Plaintext: byokPlaintext, AdditionalAuthenticatedData: byokAAD})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := c2.Decrypt(ctx, &kmspb.DecryptRequest{Name: e.keys["sym"], Ciphertext: ct.GetCiphertext(), AdditionalAuthenticatedData: byokAAD})
	if err != nil || !bytes.Equal(pt.GetPlaintext(), byokPlaintext) {
		t.Fatalf("the second Custos decrypts the first one's ciphertext to %q, %v", pt.GetPlaintext(), err)
	}
}

// TestBYOKRefusals: refusals exit 1 (or 2 for usage errors), write no
// output file, and every export refusal is in the audit log.
func TestBYOKRefusals(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t)
	head := e.s.auditHead(t)
	e.s.mustCreateApp(t, "byok-app", "byok")
	_, appKey := e.s.mustAPIKey(t, "byok-app")
	aws := func(key, out string, extra ...string) []string {
		return append([]string{"byok", "wrap", "--key", key, "--target", "aws", "--wrapping-key", e.path("pub2048.der"), "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--out", out}, extra...)
	}
	tests := []struct {
		name   string
		token  string
		args   func(out string) []string
		code   int
		stderr string
	}{
		{"key not exportable", e.s.token, func(out string) []string { return aws(e.keys["plain"], out) }, 1,
			"custos: error: export not allowed: the key is not exportable (FAILED_PRECONDITION)\ncustos: hint: "},
		{"caller without the permission", appKey, func(out string) []string { return aws(e.keys["raw"], out) }, 1,
			"custos: error: export not allowed: " + deniedMessage("custos.cryptoKeyVersions.export", e.keys["raw"]) + " (PERMISSION_DENIED)\ncustos: hint: "},
		{"missing key, caller without the permission", appKey, func(out string) []string { return aws(e.ring+"/cryptoKeys/none", out) }, 1,
			"custos: error: export not allowed: " + deniedMessage("custos.cryptoKeyVersions.export", e.ring+"/cryptoKeys/none") + " (PERMISSION_DENIED)"},
		{"RSA key with RSAES_OAEP for aws", e.s.token, func(out string) []string { return aws(e.keys["rsa"], out) }, 1,
			"custos: error: key type not importable: AWS KMS does not accept RSAES_OAEP_SHA_256 for RSA private keys"},
		{"EC key for gcp-csek", e.s.token, func(out string) []string {
			return []string{"byok", "wrap", "--key", e.keys["ec"], "--target", "gcp-csek", "--wrapping-key", e.path("csek.pem"), "--out", out}
		}, 1, "custos: error: key type not importable: "},
		{"wrapping key of the wrong size for the gcp method", e.s.token, func(out string) []string {
			return []string{"byok", "wrap", "--key", e.keys["raw"], "--target", "gcp", "--wrapping-key", e.path("pub2048.pem"), "--wrapping-algorithm", "RSA_OAEP_3072_SHA256", "--out", out}
		}, 1, "custos: error: wrappingKey: unusable wrapping key: a 2048-bit RSA key"},
		{"missing --kid", e.s.token, func(out string) []string {
			return []string{"byok", "wrap", "--key", e.keys["raw"], "--target", "azure", "--wrapping-key", e.path("pub2048.pem"), "--out", out}
		}, 2, "custos: error: --kid is required for azure"},
		{"missing --wrapping-algorithm", e.s.token, func(out string) []string {
			return []string{"byok", "wrap", "--key", e.keys["raw"], "--target", "aws", "--wrapping-key", e.path("pub2048.der"), "--out", out}
		}, 2, "custos: error: --wrapping-algorithm is required for aws"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, stderr, code := e.custos(t, tc.token, tc.args(filepath.Join(dir, "out"))...)
			if code != tc.code || !strings.HasPrefix(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refusal left %v", entries)
			}
		})
	}

	// With roles/custos.exporter on the key, the same app may export.
	e.s.mustSetPolicy(t, e.keys["raw"], map[string][]string{"roles/custos.exporter": {"app:byok-app"}})
	out := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := e.custos(t, appKey, aws(e.keys["raw"], out)...); code != 0 {
		t.Fatalf("export by a custos.exporter = exit %d:\n%s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	e.verify(t, "raw", e.unwrap(t, byokCase{bits: "2048", md: "sha256", decode: "raw"}, b))

	// Two enabled versions and no primary: the CLI asks for --version.
	if _, err := e.s.grpcClient(t).CreateCryptoKeyVersion(testContext(t), &kmspb.CreateCryptoKeyVersionRequest{Parent: e.keys["raw"], CryptoKeyVersion: &kmspb.CryptoKeyVersion{}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, stderr, code := e.custos(t, e.s.token, aws(e.keys["raw"], filepath.Join(dir, "out"))...); code != 1 || !strings.Contains(stderr, "--version") {
		t.Errorf("ambiguous version: exit %d, %q; want 1 and a hint at --version", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refusal left %v", entries)
	}
	e.mustCustos(t, aws(e.keys["raw"], filepath.Join(dir, "out"), "--version", "1")...)
	b, _ = os.ReadFile(filepath.Join(dir, "out"))
	e.verify(t, "raw", e.unwrap(t, byokCase{bits: "2048", md: "sha256", decode: "raw"}, b))

	// Every export, refused or not, is audited.
	want := map[string]int{"OK": 2, "PERMISSION_DENIED": 2, "FAILED_PRECONDITION": 3, "INVALID_ARGUMENT": 1}
	got := map[string]int{}
	for _, en := range e.s.auditAfter(t, head) {
		if en.Method != "ExportCryptoKeyVersion" {
			continue
		}
		if en.Details["target"] != "aws" && en.Details["target"] != "gcp-csek" {
			t.Errorf("audit entry %+v has no target", en)
		}
		got[en.Status]++
	}
	for st, n := range want {
		if got[st] != n {
			t.Errorf("%d ExportCryptoKeyVersion entries with status %s, want %d (all: %v)", got[st], st, n, got)
		}
	}
}

// localKMSVersion is the pinned AWS-KMS-compatible server the push test
// runs (it imports symmetric keys wrapped with RSAES_OAEP_SHA_1 or _256).
const localKMSVersion = "github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6"

// localKMS installs (once per machine, in the user cache) and starts
// local-kms on a free loopback port, and returns its URL.
func localKMS(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not installed: cannot install local-kms")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	binDir := filepath.Join(cache, "custos-e2e", strings.NewReplacer("/", "_", "@", "_").Replace(localKMSVersion))
	bin := filepath.Join(binDir, "local-kms")
	if _, err := os.Stat(bin); err != nil {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "install", localKMSVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+binDir, "GOFLAGS=-mod=mod")
		cmd.Dir = t.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go install %s: %v\n%s", localKMSVersion, err, out)
		}
	}
	addr := freePort(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "KMS_REGION=eu-west-2", "KMS_ACCOUNT_ID=111122223333", "KMS_DATA_PATH="+t.TempDir())
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start local-kms: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("local-kms output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms did not listen on %s:\n%s", addr, out.String())
		}
	}
}

// TestBYOKPushAWS pushes exportable keys into an AWS-KMS-compatible server
// with `custos byok push --target aws` (AWS SDK for Go v2 inside), then uses
// them there with the AWS SDK.
func TestBYOKPushAWS(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t)
	endpoint := localKMS(t)
	awsEnv := []string{
		"AWS_ACCESS_KEY_ID=AKIDCUSTOSTEST", "AWS_SECRET_ACCESS_KEY=custos-test-secret", "AWS_SESSION_TOKEN=",
		"AWS_REGION=eu-west-2", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none"),
	}
	ctx := testContext(t)
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("eu-west-2"),
		awsconfig.WithCredentialsProvider(awscreds.NewStaticCredentialsProvider("AKIDCUSTOSTEST", "custos-test-secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	kc := awskms.NewFromConfig(cfg, func(o *awskms.Options) { o.BaseEndpoint = aws.String(endpoint) })

	for _, tc := range []struct{ role, alg string }{{"raw", ""}, {"sym", "RSAES_OAEP_SHA_1"}} {
		t.Run(tc.role+" "+tc.alg, func(t *testing.T) {
			// local-kms hands out RSA_2048 wrapping keys only (AWS KMS also
			// RSA_3072 and RSA_4096, the CLI's default).
			args := []string{"byok", "push", "--target", "aws", "--endpoint", endpoint, "--key", e.keys[tc.role], "--wrapping-key-spec", "RSA_2048", "--output", "json"}
			if tc.alg != "" {
				args = append(args, "--wrapping-algorithm", tc.alg)
			}
			stdout, stderr, code := e.custosEnv(t, e.s.token, awsEnv, args...)
			if code != 0 {
				t.Fatalf("custos byok push = exit %d:\n%s", code, stderr)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || got["awsKeyId"] == "" || got["keySpec"] != "SYMMETRIC_DEFAULT" {
				t.Fatalf("byok push -o json = %q (%v)", stdout, err)
			}
			d, err := kc.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(got["awsKeyId"])})
			if err != nil {
				t.Fatal(err)
			}
			if d.KeyMetadata.Origin != awstypes.OriginTypeExternal || d.KeyMetadata.KeyState != awstypes.KeyStateEnabled {
				t.Fatalf("the AWS key is %s, %s; want EXTERNAL and Enabled", d.KeyMetadata.Origin, d.KeyMetadata.KeyState)
			}
			enc, err := kc.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(got["awsKeyId"]), Plaintext: byokPlaintext})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := kc.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || !bytes.Equal(dec.Plaintext, byokPlaintext) {
				t.Fatalf("the imported key does not decrypt its own ciphertext: %v", err)
			}
		})
	}

	// A key that is not exportable: refused, and the AWS key created for it
	// is named so that it can be deleted.
	_, stderr, code := e.custosEnv(t, e.s.token, awsEnv, "byok", "push", "--target", "aws", "--endpoint", endpoint, "--wrapping-key-spec", "RSA_2048", "--key", e.keys["plain"])
	if code != 1 || !strings.Contains(stderr, "custos: error: export not allowed: the key is not exportable") || !strings.Contains(stderr, "left waiting for its key material") {
		t.Errorf("push of a key that is not exportable: exit %d, %q", code, stderr)
	}
}

// TestBYOKPushGCP pushes exportable keys into a second Custos through the
// Cloud KMS v1 import-job API with `custos byok push --target gcp` (the
// official Google client inside), and uses them there.
func TestBYOKPushGCP(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t)
	dst := startServer(t)
	ctx := testContext(t)
	c1, c2 := e.s.grpcClient(t), dst.grpcClient(t)
	if _, err := c2.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/byok/locations/global", KeyRingId: "r"}); err != nil {
		t.Fatal(err)
	}
	push := func(t *testing.T, role string, extra ...string) map[string]string {
		t.Helper()
		args := append([]string{"byok", "push", "--target", "gcp", "--endpoint", "http://" + dst.restAddr,
			"--dest-token-file", filepath.Join(dst.dir, "admin-token"), "--key", e.keys[role], "--gcp-key", e.keys[role], "--output", "json"}, extra...)
		stdout, stderr, code := e.custos(t, e.s.token, args...)
		if code != 0 {
			t.Fatalf("custos byok push --target gcp = exit %d:\n%s", code, stderr)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || got["gcpVersion"] != e.keys[role]+"/cryptoKeyVersions/1" {
			t.Fatalf("byok push -o json = %q (%v)", stdout, err)
		}
		return got
	}

	t.Run("symmetric key, created import-only at the destination", func(t *testing.T) {
		push(t, "sym")
		ct, err := c1.Encrypt(ctx, &kmspb.EncryptRequest{Name: e.keys["sym"], Plaintext: byokPlaintext, AdditionalAuthenticatedData: byokAAD})
		if err != nil {
			t.Fatal(err)
		}
		pt, err := c2.Decrypt(ctx, &kmspb.DecryptRequest{Name: e.keys["sym"], Ciphertext: ct.GetCiphertext(), AdditionalAuthenticatedData: byokAAD})
		if err != nil || !bytes.Equal(pt.GetPlaintext(), byokPlaintext) {
			t.Fatalf("the destination decrypts the source's ciphertext to %q, %v", pt.GetPlaintext(), err)
		}
		k, err := c2.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: e.keys["sym"]})
		if err != nil || !k.GetImportOnly() {
			t.Errorf("destination key = %v, %v; want import-only", k, err)
		}
	})
	t.Run("EC key, direct RSA-OAEP method", func(t *testing.T) {
		push(t, "ec", "--wrapping-algorithm", "RSA_OAEP_4096_SHA256")
		pk, err := c2.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: e.keys["ec"] + "/cryptoKeyVersions/1"})
		if err != nil || pk.GetPem() != e.publicPEM["ec"] {
			t.Fatalf("the destination's public key differs from the source's (%v)", err)
		}
	})
	t.Run("RSA key with a direct method is refused", func(t *testing.T) {
		_, stderr, code := e.custos(t, e.s.token, "byok", "push", "--target", "gcp", "--endpoint", "http://"+dst.restAddr,
			"--dest-token-file", filepath.Join(dst.dir, "admin-token"), "--key", e.keys["rsa"], "--gcp-key", e.keys["rsa"], "--wrapping-algorithm", "RSA_OAEP_3072_SHA256")
		if code != 1 || !strings.Contains(stderr, "cannot wrap RSA keys") {
			t.Errorf("exit %d, %q; want 1 and the reason", code, stderr)
		}
	})
}
