// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Key import is tested against wrappings made independently of Custos:
// RSA-OAEP from crypto/rsa, and the RFC 5649 AES key wrap with padding from
// the openssl command line (openssl enc -id-aes256-wrap-pad; OpenSSL 3
// needs the RFC 5649 initial value A65959A6 given as -iv). Private keys to
// import are made by openssl genpkey, and their public keys derived by
// openssl pkey.

// importMethodInfo is how the test wraps for an import method.
type importMethodInfo struct {
	hash crypto.Hash
	aes  bool
}

var importMethodInfos = map[kmspb.ImportJob_ImportMethod]importMethodInfo{
	kmspb.ImportJob_RSA_OAEP_3072_SHA1_AES_256:   {crypto.SHA1, true},
	kmspb.ImportJob_RSA_OAEP_4096_SHA1_AES_256:   {crypto.SHA1, true},
	kmspb.ImportJob_RSA_OAEP_3072_SHA256_AES_256: {crypto.SHA256, true},
	kmspb.ImportJob_RSA_OAEP_4096_SHA256_AES_256: {crypto.SHA256, true},
	kmspb.ImportJob_RSA_OAEP_3072_SHA256:         {crypto.SHA256, false},
	kmspb.ImportJob_RSA_OAEP_4096_SHA256:         {crypto.SHA256, false},
}

func needOpenSSL(t *testing.T) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	return openssl
}

// opensslWrapPad wraps material under kek with RFC 5649 (AES-KWP), by
// openssl.
func opensslWrapPad(t *testing.T, openssl string, kek, material []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "enc", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", hex.EncodeToString(kek))
	cmd.Stdin = bytes.NewReader(material)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl enc -id-aes256-wrap-pad: %v\n%s", err, stderr.String())
	}
	if want := 8 + (len(material)+7)/8*8; len(out) != want {
		t.Fatalf("openssl wrapped %d bytes into %d, want %d", len(material), len(out), want)
	}
	return out
}

// wrapForJob wraps material for an import job as its method says, with
// crypto/rsa and openssl only.
func wrapForJob(t *testing.T, openssl string, job *kmspb.ImportJob, material []byte) []byte {
	t.Helper()
	info, ok := importMethodInfos[job.GetImportMethod()]
	if !ok {
		t.Fatalf("no wrapping for %v", job.GetImportMethod())
	}
	block, _ := pem.Decode([]byte(job.GetPublicKey().GetPem()))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("import job %s has no PEM public key: %q", job.GetName(), job.GetPublicKey().GetPem())
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := pk.(*rsa.PublicKey)
	if !info.aes {
		ct, err := rsa.EncryptOAEP(info.hash.New(), rand.Reader, pub, material, nil)
		if err != nil {
			t.Fatalf("RSA-OAEP of %d bytes: %v", len(material), err)
		}
		return ct
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	head, err := rsa.EncryptOAEP(info.hash.New(), rand.Reader, pub, kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append(head, opensslWrapPad(t, openssl, kek, material)...)
}

// opensslECKey makes a P-256 private key with openssl genpkey and returns
// it as PKCS#8 DER and the SubjectPublicKeyInfo PEM of its public key, as
// openssl pkey derives it.
func opensslECKey(t *testing.T, openssl string) (pkcs8 []byte, pubPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	// genpkey writes PKCS#8 as PEM (its DER output is SEC 1 for EC keys
	// in OpenSSL 3.0); pkcs8 -topk8 gives the DER that Cloud KMS takes.
	if out, err := runOpenSSL(t, openssl, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	key := filepath.Join(dir, "ec.der")
	if out, err := runOpenSSL(t, openssl, dir, "pkcs8", "-topk8", "-nocrypt", "-in", "ec.pem", "-outform", "DER", "-out", key); err != nil {
		t.Fatalf("openssl pkcs8 -topk8: %v\n%s", err, out)
	}
	if out, err := runOpenSSL(t, openssl, dir, "pkey", "-inform", "DER", "-in", key, "-pubout", "-out", "pub.pem"); err != nil {
		t.Fatalf("openssl pkey -pubout: %v\n%s", err, out)
	}
	der, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return der, pub
}

func createImportJob(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, ring, id string, m kmspb.ImportJob_ImportMethod) *kmspb.ImportJob {
	t.Helper()
	j, err := c.CreateImportJob(ctx, &kmspb.CreateImportJobRequest{
		Parent: ring, ImportJobId: id,
		ImportJob: &kmspb.ImportJob{ImportMethod: m, ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE},
	})
	if err != nil {
		t.Fatalf("CreateImportJob(%s, %v) = %v", id, m, err)
	}
	return j
}

func emptyKey(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, ring, id string, ck *kmspb.CryptoKey) string {
	t.Helper()
	k, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: id, CryptoKey: ck, SkipInitialVersionCreation: true})
	if err != nil {
		t.Fatalf("CreateCryptoKey(%s) = %v", id, err)
	}
	return k.GetName()
}

func importVersion(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, key string, a algorithm, job *kmspb.ImportJob, wrapped []byte) *kmspb.CryptoKeyVersion {
	t.Helper()
	v, err := c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{Parent: key, Algorithm: a, ImportJob: job.GetName(), WrappedKey: wrapped})
	if err != nil {
		t.Fatalf("ImportCryptoKeyVersion(%s, %v) = %v", key, a, err)
	}
	return v
}

// checkRawKey checks that a RAW_ENCRYPT_DECRYPT version holds exactly key:
// what it encrypts, AES-GCM with key opens.
func checkRawKey(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, version string, key []byte) {
	t.Helper()
	pt, aad := []byte("encrypted by the imported version"), []byte("aad")
	enc, err := c.RawEncrypt(ctx, &kmspb.RawEncryptRequest{Name: version, Plaintext: pt, AdditionalAuthenticatedData: aad})
	if err != nil {
		t.Fatalf("RawEncrypt(%s) = %v", version, err)
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	got, err := gcm.Open(nil, enc.GetInitializationVector(), enc.GetCiphertext(), aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("AES-GCM with the original key cannot open what %s encrypted (%v)", version, err)
	}
}

// TestImportThroughOfficialClients imports an AES-256 key and an EC P-256
// key made by openssl through both official clients, uses them, and checks
// clean failures.
func TestImportThroughOfficialClients(t *testing.T) {
	t.Parallel()
	openssl := needOpenSSL(t)
	s := startServer(t)
	forEachClient(t, s, "import", func(t *testing.T, cl client, loc string) {
		c := cl.kms
		ctx := testContext(t)
		ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: loc, KeyRingId: "import"})
		if err != nil {
			t.Fatalf("CreateKeyRing = %v", err)
		}
		job := createImportJob(t, ctx, c, ring.GetName(), "job", kmspb.ImportJob_RSA_OAEP_3072_SHA256_AES_256)
		if job.GetState() != kmspb.ImportJob_ACTIVE || job.GetProtectionLevel() != kmspb.ProtectionLevel_SOFTWARE ||
			job.GetAttestation() != nil || job.GetPublicKey().GetPem() == "" ||
			job.GetExpireTime().AsTime().Sub(job.GetCreateTime().AsTime()) != 72*time.Hour || job.GetExpireEventTime() != nil {
			t.Fatalf("CreateImportJob = %v", job)
		}
		got, err := c.GetImportJob(ctx, &kmspb.GetImportJobRequest{Name: job.GetName()})
		if err != nil || got.GetPublicKey().GetPem() != job.GetPublicKey().GetPem() || got.GetState() != kmspb.ImportJob_ACTIVE {
			t.Fatalf("GetImportJob = %v, %v", got, err)
		}
		var listed []string
		it := c.ListImportJobs(ctx, &kmspb.ListImportJobsRequest{Parent: ring.GetName()})
		for {
			j, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatalf("ListImportJobs = %v", err)
			}
			listed = append(listed, j.GetName())
		}
		if len(listed) != 1 || listed[0] != job.GetName() {
			t.Errorf("ListImportJobs = %v, want [%s]", listed, job.GetName())
		}
		_, err = c.CreateImportJob(ctx, &kmspb.CreateImportJobRequest{Parent: ring.GetName(), ImportJobId: "hsm",
			ImportJob: &kmspb.ImportJob{ImportMethod: kmspb.ImportJob_RSA_OAEP_3072_SHA256, ProtectionLevel: kmspb.ProtectionLevel_HSM}})
		wantCode(t, "CreateImportJob(HSM)", err, codes.InvalidArgument)
		_, err = c.GetImportJob(ctx, &kmspb.GetImportJobRequest{Name: ring.GetName() + "/importJobs/missing"})
		wantCode(t, "GetImportJob(missing)", err, codes.NotFound)

		t.Run("AES-256", func(t *testing.T) {
			material := make([]byte, 32)
			rand.Read(material)
			key := emptyKey(t, ctx, c, ring.GetName(), "aes", &kmspb.CryptoKey{Purpose: encryptDecrypt, ImportOnly: true})
			v := importVersion(t, ctx, c, key, kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, job, wrapForJob(t, openssl, job, material))
			if v.GetState() != enabled || v.GetImportJob() != job.GetName() || v.GetImportTime() == nil || v.GetGenerateTime() == nil ||
				v.GetName() != versionName(key, 1) || v.GetImportFailureReason() != "" {
				t.Fatalf("ImportCryptoKeyVersion = %v", v)
			}
			pt := []byte("encrypted with an imported key")
			enc, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt})
			if err != nil || enc.GetName() != v.GetName() {
				t.Fatalf("Encrypt(%s) = %v, %v; want the imported version as primary", key, enc, err)
			}
			dec, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: enc.GetCiphertext()})
			if err != nil || !bytes.Equal(dec.GetPlaintext(), pt) {
				t.Fatalf("Decrypt = %v, %v", dec, err)
			}
			// The same bytes as a raw AES-256-GCM key: AES-GCM with
			// the original key must open what the version encrypts.
			raw := emptyKey(t, ctx, c, ring.GetName(), "raw", &kmspb.CryptoKey{Purpose: rawEncryptDecrypt,
				VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_AES_256_GCM}})
			rv := importVersion(t, ctx, c, raw, kmspb.CryptoKeyVersion_AES_256_GCM, job, wrapForJob(t, openssl, job, material))
			checkRawKey(t, ctx, c, rv.GetName(), material)
		})

		t.Run("EC P-256 from openssl", func(t *testing.T) {
			der, pubPEM := opensslECKey(t, openssl)
			key := emptyKey(t, ctx, c, ring.GetName(), "ec", &kmspb.CryptoKey{Purpose: asymmetricSign,
				VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256}})
			v := importVersion(t, ctx, c, key, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, job, wrapForJob(t, openssl, job, der))
			if v.GetState() != enabled {
				t.Fatalf("ImportCryptoKeyVersion(EC) = %v", v)
			}
			block, _ := pem.Decode(pubPEM)
			pk, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			want := pk.(*ecdsa.PublicKey)
			served, _ := getPublicKey(t, ctx, c, v.GetName())
			if !want.Equal(served) {
				t.Errorf("GetPublicKey(%s) is not the public key openssl derives from the imported key", v.GetName())
			}
			msg := []byte("signed by an imported key")
			d := sha256.Sum256(msg)
			resp, err := c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: v.GetName(), Digest: &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: d[:]}}})
			if err != nil {
				t.Fatalf("AsymmetricSign(%s) = %v", v.GetName(), err)
			}
			if !ecdsa.VerifyASN1(want, d[:], resp.GetSignature()) {
				t.Error("the signature of the imported EC key does not verify with the public key of the original private key")
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "pub.pem"), pubPEM, 0o600)
			os.WriteFile(filepath.Join(dir, "sig"), resp.GetSignature(), 0o600)
			os.WriteFile(filepath.Join(dir, "data"), msg, 0o600)
			if out, err := runOpenSSL(t, openssl, dir, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "data"); err != nil {
				t.Errorf("openssl rejects the signature of the imported key: %v\n%s", err, out)
			}
		})

		t.Run("failures are clean", func(t *testing.T) {
			key := emptyKey(t, ctx, c, ring.GetName(), "failing", &kmspb.CryptoKey{Purpose: encryptDecrypt})
			good := wrapForJob(t, openssl, job, bytes.Repeat([]byte{0x42}, 32))
			cases := []struct {
				name    string
				wrapped []byte
				reason  string
			}{
				{"wrong length", good[:len(good)-8], "invalid length"},
				{"31-byte key", wrapForJob(t, openssl, job, make([]byte, 31)), "31 bytes"},
				{"bad padding", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), "couldn't be unwrapped"},
			}
			for i, tc := range cases {
				v := importVersion(t, ctx, c, key, kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, job, tc.wrapped)
				if v.GetState() != kmspb.CryptoKeyVersion_IMPORT_FAILED || !strings.Contains(v.GetImportFailureReason(), tc.reason) ||
					v.GetName() != versionName(key, i+1) {
					t.Errorf("import with %s = %v, want IMPORT_FAILED with %q", tc.name, v, tc.reason)
				}
				_, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: v.GetName(), Plaintext: []byte("x")})
				wantCode(t, "Encrypt with an IMPORT_FAILED version", err, codes.FailedPrecondition)
			}
			k, err := c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
			if err != nil || k.GetPrimary() != nil {
				t.Errorf("GetCryptoKey after failed imports = primary %v, %v; want none", k.GetPrimary(), err)
			}
			_, err = c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{Parent: key,
				Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, ImportJob: job.GetName(), WrappedKey: good})
			wantCode(t, "ImportCryptoKeyVersion(algorithm of another purpose)", err, codes.InvalidArgument)
			_, err = c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{Parent: key,
				Algorithm: kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, ImportJob: ring.GetName() + "/importJobs/missing", WrappedKey: good})
			wantCode(t, "ImportCryptoKeyVersion(missing job)", err, codes.NotFound)
			_, err = c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{Parent: key,
				Algorithm: kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, ImportJob: job.GetName()})
			wantCode(t, "ImportCryptoKeyVersion(no wrapped key)", err, codes.InvalidArgument)
			vs := listVersions(t, ctx, c, &kmspb.ListCryptoKeyVersionsRequest{Parent: key})
			if len(vs) != len(cases) {
				t.Errorf("the key has versions %v, want %d IMPORT_FAILED ones", vs, len(cases))
			}
		})

		t.Run("legacy rsa_aes_wrapped_key", func(t *testing.T) {
			material := make([]byte, 32)
			rand.Read(material)
			key := emptyKey(t, ctx, c, ring.GetName(), "legacy", &kmspb.CryptoKey{Purpose: rawEncryptDecrypt,
				VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_AES_256_GCM}})
			v, err := c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{Parent: key,
				Algorithm: kmspb.CryptoKeyVersion_AES_256_GCM, ImportJob: job.GetName(),
				WrappedKeyMaterial: &kmspb.ImportCryptoKeyVersionRequest_RsaAesWrappedKey{RsaAesWrappedKey: wrapForJob(t, openssl, job, material)}})
			if err != nil || v.GetState() != enabled {
				t.Fatalf("ImportCryptoKeyVersion(rsa_aes_wrapped_key) = %v, %v", v, err)
			}
			checkRawKey(t, ctx, c, v.GetName(), material)
		})
	})
}

// TestImportEachMethod imports with each of the six import methods (the
// three RSA-4096 ones in this one test, as their keys take seconds), and
// re-imports a destroyed version, on a server with short destroy delays.
func TestImportEachMethod(t *testing.T) {
	t.Parallel()
	openssl := needOpenSSL(t)
	s := startServer(t, "--dev-allow-short-durations")
	c := s.grpcClient(t)
	ctx := testContext(t)
	ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/methods/locations/global", KeyRingId: "methods"})
	if err != nil {
		t.Fatalf("CreateKeyRing = %v", err)
	}
	methods := []kmspb.ImportJob_ImportMethod{
		kmspb.ImportJob_RSA_OAEP_3072_SHA1_AES_256, kmspb.ImportJob_RSA_OAEP_3072_SHA256_AES_256, kmspb.ImportJob_RSA_OAEP_3072_SHA256,
		kmspb.ImportJob_RSA_OAEP_4096_SHA1_AES_256, kmspb.ImportJob_RSA_OAEP_4096_SHA256_AES_256, kmspb.ImportJob_RSA_OAEP_4096_SHA256,
	}
	t.Run("methods", func(t *testing.T) {
		for _, m := range methods {
			t.Run(m.String(), func(t *testing.T) {
				t.Parallel()
				id := strings.ToLower(m.String())
				job := createImportJob(t, ctx, c, ring.GetName(), id, m)
				block, _ := pem.Decode([]byte(job.GetPublicKey().GetPem()))
				pk, err := x509.ParsePKIXPublicKey(block.Bytes)
				if bits := pk.(*rsa.PublicKey).N.BitLen(); err != nil || !strings.Contains(m.String(), fmt.Sprint(bits)) {
					t.Errorf("the job's public key has %d bits for %v", bits, m)
				}
				material := make([]byte, 32)
				rand.Read(material)
				key := emptyKey(t, ctx, c, ring.GetName(), id, &kmspb.CryptoKey{Purpose: rawEncryptDecrypt,
					VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_AES_256_GCM}})
				v := importVersion(t, ctx, c, key, kmspb.CryptoKeyVersion_AES_256_GCM, job, wrapForJob(t, openssl, job, material))
				if v.GetState() != enabled {
					t.Fatalf("ImportCryptoKeyVersion with %v = %v", m, v)
				}
				checkRawKey(t, ctx, c, v.GetName(), material)
			})
		}
	})

	t.Run("re-import of a destroyed version", func(t *testing.T) {
		job := createImportJob(t, ctx, c, ring.GetName(), "reimport", kmspb.ImportJob_RSA_OAEP_3072_SHA256_AES_256)
		key := emptyKey(t, ctx, c, ring.GetName(), "reimport", &kmspb.CryptoKey{Purpose: encryptDecrypt, ImportOnly: true,
			DestroyScheduledDuration: durationpb.New(time.Second)})
		material := make([]byte, 32)
		rand.Read(material)
		v := importVersion(t, ctx, c, key, kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, job, wrapForJob(t, openssl, job, material))
		enc, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("kept across destruction")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: v.GetName()}); err != nil {
			t.Fatal(err)
		}
		var last *kmspb.CryptoKeyVersion
		if !poll(ctx, func() bool {
			last, err = c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v.GetName()})
			return err == nil && last.GetState() == destroyed
		}) {
			t.Fatalf("GetCryptoKeyVersion = %v, %v; want DESTROYED", last, err)
		}
		if !last.GetReimportEligible() {
			t.Errorf("destroyed imported version has reimport_eligible false")
		}
		reimport := func(m []byte) (*kmspb.CryptoKeyVersion, error) {
			return c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{Parent: key, CryptoKeyVersion: v.GetName(),
				Algorithm: kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION, ImportJob: job.GetName(), WrappedKey: wrapForJob(t, openssl, job, m)})
		}
		other := make([]byte, 32)
		rand.Read(other)
		_, err = reimport(other)
		wantCode(t, "re-import of other material", err, codes.InvalidArgument)
		if got, _ := c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v.GetName()}); got.GetState() != destroyed {
			t.Fatalf("a refused re-import left the version %v", got.GetState())
		}
		back, err := reimport(material)
		if err != nil || back.GetState() != enabled || back.GetReimportEligible() || back.GetDestroyEventTime() != nil {
			t.Fatalf("re-import of the same material = %v, %v", back, err)
		}
		dec, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: enc.GetCiphertext()})
		if err != nil || string(dec.GetPlaintext()) != "kept across destruction" {
			t.Fatalf("Decrypt of a ciphertext from before the destruction = %v, %v", dec, err)
		}
	})
}

// TestKeysImportCLI drives "custos import-jobs" and "custos keys import"
// (which wraps on the client) with the real binary, and checks the result
// with the official client and AES-GCM.
func TestKeysImportCLI(t *testing.T) {
	t.Parallel()
	openssl := needOpenSSL(t)
	s := startServer(t)
	c := s.grpcClient(t)
	ctx := testContext(t)
	ring := "projects/cli/locations/global/keyRings/cli"
	if _, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/cli/locations/global", KeyRingId: "cli"}); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, custosBin, args...)
		cmd.Env = append(os.Environ(), "CUSTOS_ADDR=http://"+s.restAddr, "CUSTOS_TOKEN="+s.token)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("custos %v: %v\n%s", args, err, stderr.String())
		}
		return string(out), nil
	}
	job := ring + "/importJobs/cli"
	if _, err := cli("import-jobs", "create", job, "--method", "RSA_OAEP_3072_SHA1_AES_256"); err != nil {
		t.Fatal(err)
	}
	out, err := cli("import-jobs", "get", job, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		State        string `json:"state"`
		ImportMethod string `json:"importMethod"`
		PublicKey    struct {
			Pem string `json:"pem"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.State != "ACTIVE" || got.ImportMethod != "RSA_OAEP_3072_SHA1_AES_256" || got.PublicKey.Pem == "" {
		t.Fatalf("import-jobs get -o json = %s (%v)", out, err)
	}
	if out, err := cli("import-jobs", "list", ring); err != nil || !strings.Contains(out, job) {
		t.Fatalf("import-jobs list = %s, %v", out, err)
	}

	dir := t.TempDir()
	material := make([]byte, 32)
	rand.Read(material)
	keyFile := filepath.Join(dir, "aes.key")
	os.WriteFile(keyFile, material, 0o600)
	raw := ring + "/cryptoKeys/raw"
	if _, err := cli("keys", "create", raw, "--purpose", "RAW_ENCRYPT_DECRYPT", "--algorithm", "AES_256_GCM", "--import-only"); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("keys", "import", raw, "--job", job, "--key-file", keyFile, "--algorithm", "AES_256_GCM"); err != nil || !strings.Contains(out, "ENABLED") {
		t.Fatalf("keys import = %s, %v", out, err)
	}
	checkRawKey(t, ctx, c, raw+"/cryptoKeyVersions/1", material)

	// A PEM EC key from openssl.
	pemFile := filepath.Join(dir, "ec.pem")
	if out, err := runOpenSSL(t, openssl, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pemFile); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	signer := ring + "/cryptoKeys/signer"
	if _, err := cli("keys", "create", signer, "--algorithm", "EC_SIGN_P256_SHA256", "--skip-initial-version"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("keys", "import", signer, "--job", job, "--key-file", pemFile, "--algorithm", "EC_SIGN_P256_SHA256", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	if out, err := runOpenSSL(t, openssl, dir, "pkey", "-in", pemFile, "-pubout", "-out", "pub.pem"); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	pubPEM, _ := os.ReadFile(filepath.Join(dir, "pub.pem"))
	block, _ := pem.Decode(pubPEM)
	want, _ := x509.ParsePKIXPublicKey(block.Bytes)
	served, _ := getPublicKey(t, ctx, c, signer+"/cryptoKeyVersions/1")
	if !want.(*ecdsa.PublicKey).Equal(served) {
		t.Error("the key imported by the CLI does not have the public key of the PEM file")
	}

	// A key of the wrong length is refused before anything is sent.
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, material[:31], 0o600)
	if _, err := cli("keys", "import", raw, "--job", job, "--key-file", short, "--algorithm", "AES_256_GCM"); err == nil {
		t.Error("keys import of a 31-byte AES-256 key succeeded")
	}
	if vs := listVersions(t, ctx, c, &kmspb.ListCryptoKeyVersionsRequest{Parent: raw}); len(vs) != 1 {
		t.Errorf("versions after a refused CLI import = %v, want only version 1", vs)
	}
}
