// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/asym"
	"github.com/custos-kms/custos/internal/crypto/keywrap"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// Wrapping keys are generated once per test binary and handed out in turn:
// two RSA-3072 keys (so that two jobs made one after the other differ) and
// one RSA-4096 key, which takes seconds to generate.
var testKeys struct {
	mu   sync.Mutex
	pool map[asym.KeyType][][]byte
	next map[asym.KeyType]int
}

func init() { generateWrappingKey = pooledWrappingKey }

func pooledWrappingKey(t asym.KeyType) (crypto.Signer, []byte, error) {
	testKeys.mu.Lock()
	defer testKeys.mu.Unlock()
	if testKeys.pool == nil {
		testKeys.pool, testKeys.next = map[asym.KeyType][][]byte{}, map[asym.KeyType]int{}
	}
	size := 1
	if t == asym.RSA3072 {
		size = 2
	}
	i := testKeys.next[t] % size
	testKeys.next[t]++
	if i == len(testKeys.pool[t]) {
		_, der, err := asym.Generate(t)
		if err != nil {
			return nil, nil, err
		}
		testKeys.pool[t] = append(testKeys.pool[t], der)
	}
	der := bytes.Clone(testKeys.pool[t][i]) // the caller clears its copy
	priv, err := asym.ParsePKCS8(der)
	return priv, der, err
}

// job creates an import job and fails the test on error.
func (e *env) job(t *testing.T, ring, id string, m ImportMethod) *ImportJob {
	t.Helper()
	j, err := e.svc.CreateImportJob(e.ctx, ring, id, ImportJob{ImportMethod: m, ProtectionLevel: Software})
	if err != nil {
		t.Fatalf("CreateImportJob(%s, %s) = %v", id, m, err)
	}
	return j
}

// wrapFor wraps material for job as a client does, with crypto/rsa and the
// RFC 5649 wrap.
func wrapFor(t *testing.T, j *ImportJob, material []byte) []byte {
	t.Helper()
	block, _ := pem.Decode([]byte(j.PublicKeyPEM))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("job %s has no PUBLIC KEY PEM: %q", j.Name, j.PublicKeyPEM)
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := pk.(*rsa.PublicKey)
	m := importMethods[j.ImportMethod]
	if !m.aes {
		ct, err := rsa.EncryptOAEP(m.hash.New(), rand.Reader, pub, material, nil)
		if err != nil {
			t.Fatalf("RSA-OAEP of %d bytes: %v", len(material), err)
		}
		return ct
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	ct, err := rsa.EncryptOAEP(m.hash.New(), rand.Reader, pub, kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	kwp, err := keywrap.WrapPad(kek, material)
	if err != nil {
		t.Fatal(err)
	}
	return append(ct, kwp...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func pkcs8(t *testing.T, kt asym.KeyType) (crypto.Signer, []byte) {
	t.Helper()
	priv, der, err := asym.Generate(kt)
	if err != nil {
		t.Fatal(err)
	}
	return priv, der
}

// storedVersion reads a version record straight from storage.
func (e *env) storedVersion(t *testing.T, name string) *Version {
	t.Helper()
	v, _, err := e.svc.readVersion(context.Background(), e.store, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return v
}

// checkNoHalfMadeKeys reads every version of key from storage and fails
// unless each is either ENABLED (or later states) with sealed material that
// unseals, or IMPORT_FAILED with a reason and neither material nor
// fingerprint.
func (e *env) checkNoHalfMadeKeys(t *testing.T, key string) []*Version {
	t.Helper()
	recs, err := e.store.List(context.Background(), storage.ListOptions{Kind: kindVersion, Parent: key})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Version
	for _, r := range recs {
		v := new(Version)
		if err := e.svc.decode(r, kindVersion, v); err != nil {
			t.Fatal(err)
		}
		switch v.State {
		case ImportFailed:
			if v.Material != nil || v.Fingerprint != nil || v.ImportFailureReason == "" || !v.ImportTime.IsZero() {
				t.Errorf("IMPORT_FAILED version %s: material %d bytes, fingerprint %d bytes, reason %q, import time %v; want no material, a reason",
					v.Name, len(v.Material), len(v.Fingerprint), v.ImportFailureReason, v.ImportTime)
			}
		case Enabled, Disabled, DestroyScheduled:
			if _, err := e.svc.ks.Unseal(v.Name, v.Material); err != nil || len(v.Fingerprint) == 0 {
				t.Errorf("%s version %s: material does not unseal (%v) or no fingerprint", v.State, v.Name, err)
			}
		case Destroyed:
			if v.Material != nil {
				t.Errorf("DESTROYED version %s still holds material", v.Name)
			}
		default:
			t.Errorf("version %s is %s", v.Name, v.State)
		}
		out = append(out, v)
	}
	return out
}

// unsealed returns the stored material of an enabled version.
func (e *env) unsealed(t *testing.T, name string) []byte {
	t.Helper()
	v := e.storedVersion(t, name)
	m, err := e.svc.ks.Unseal(name, v.Material)
	if err != nil {
		t.Fatalf("unseal %s: %v", name, err)
	}
	return m
}

func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	ke, _ := err.(*kmserr.Error)
	if ke == nil || ke.Field != field {
		t.Fatalf("%s: error %v names field %v, want %q", what, err, ke, field)
	}
}

func TestCreateImportJob(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	j := e.job(t, ring, "j", RSAOAEP3072SHA256AES256)
	now := e.clk.now()
	if j.Name != ring+"/importJobs/j" || j.State != ImportJobActive || j.ProtectionLevel != Software ||
		j.ImportMethod != RSAOAEP3072SHA256AES256 || !j.CreateTime.Equal(now) || !j.GenerateTime.Equal(now) ||
		!j.ExpireTime.Equal(now.Add(72*time.Hour)) || !j.ExpireEventTime.IsZero() {
		t.Fatalf("CreateImportJob = %+v", j)
	}
	block, rest := pem.Decode([]byte(j.PublicKeyPEM))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("public key PEM = %q", j.PublicKeyPEM)
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := pk.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 3072 {
		t.Fatalf("wrapping key is %T of %d bits, want RSA 3072", pk, pub.N.BitLen())
	}

	// Stored: kind, parent, due at expiry, MAC'd, and the private key only
	// sealed (it matches the public key once unsealed).
	rec, err := e.store.Get(context.Background(), j.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != "importjob" || rec.Parent != ring || rec.Due != j.ExpireTime.UnixNano() {
		t.Fatalf("record kind %q parent %q due %d", rec.Kind, rec.Parent, rec.Due)
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(rec.Data, &raw)
	stored, _, err := e.svc.readImportJob(context.Background(), e.store, j.Name)
	if err != nil {
		t.Fatal(err)
	}
	der, err := e.svc.ks.Unseal(j.Name, stored.PrivateKey)
	if err != nil {
		t.Fatalf("the stored private key does not unseal: %v", err)
	}
	if _, err := e.svc.ks.Unseal(ring+"/importJobs/other", stored.PrivateKey); err == nil {
		t.Fatal("the private key unseals for another name")
	}
	if bytes.Contains(rec.Data, der) || raw["privateKey"] == nil {
		t.Fatal("the private key is stored in the clear (or not at all)")
	}
	priv, err := asym.ParsePKCS8(der)
	if err != nil || !priv.Public().(*rsa.PublicKey).Equal(pub) {
		t.Fatalf("the stored private key does not match the public key (%v)", err)
	}

	// RSA-4096 methods get a 4096-bit key.
	j4 := e.job(t, ring, "j4", RSAOAEP4096SHA256)
	block, _ = pem.Decode([]byte(j4.PublicKeyPEM))
	if pk, _ := x509.ParsePKIXPublicKey(block.Bytes); pk.(*rsa.PublicKey).N.BitLen() != 4096 {
		t.Fatal("RSA_OAEP_4096_SHA256 job has no 4096-bit key")
	}
}

func TestCreateImportJobValidation(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	e.job(t, ring, "taken", RSAOAEP3072SHA1AES256)
	tests := []struct {
		name   string
		parent string
		id     string
		job    ImportJob
		code   codes.Code
		field  string
	}{
		{"bad id", ring, "a b", ImportJob{ImportMethod: RSAOAEP3072SHA256, ProtectionLevel: Software}, codes.InvalidArgument, "import_job_id"},
		{"missing method", ring, "j1", ImportJob{ProtectionLevel: Software}, codes.InvalidArgument, "import_job.import_method"},
		{"unsupported method", ring, "j2", ImportJob{ImportMethod: "HPKE_KEM_ML_KEM_768_HKDF_SHA256_AES_256_GCM", ProtectionLevel: Software}, codes.InvalidArgument, "import_job.import_method"},
		{"missing protection level", ring, "j3", ImportJob{ImportMethod: RSAOAEP3072SHA256}, codes.InvalidArgument, "import_job.protection_level"},
		{"HSM not available", ring, "j4", ImportJob{ImportMethod: RSAOAEP3072SHA256, ProtectionLevel: HSM}, codes.InvalidArgument, "import_job.protection_level"},
		{"bad parent", loc, "j5", ImportJob{ImportMethod: RSAOAEP3072SHA256, ProtectionLevel: Software}, codes.InvalidArgument, "parent"},
		{"missing ring", loc + "/keyRings/missing", "j6", ImportJob{ImportMethod: RSAOAEP3072SHA256, ProtectionLevel: Software}, codes.NotFound, ""},
		{"duplicate", ring, "taken", ImportJob{ImportMethod: RSAOAEP3072SHA256, ProtectionLevel: Software}, codes.AlreadyExists, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateImportJob(e.ctx, tc.parent, tc.id, tc.job)
			wantCode(t, "CreateImportJob", err, tc.code)
			if tc.field != "" {
				wantField(t, "CreateImportJob", err, tc.field)
			}
		})
	}
}

func TestGetListImportJobs(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	a := e.job(t, ring, "a", RSAOAEP3072SHA256AES256)
	e.clk.add(time.Minute)
	e.job(t, ring, "b", RSAOAEP3072SHA256)
	e.clk.add(time.Minute)
	e.job(t, ring, "c", RSAOAEP3072SHA256)

	got, err := e.svc.GetImportJob(e.ctx, a.Name)
	if err != nil || *got != *a {
		t.Fatalf("GetImportJob = %+v, %v; want %+v", got, err, a)
	}
	_, err = e.svc.GetImportJob(e.ctx, ring+"/importJobs/missing")
	wantCode(t, "GetImportJob(missing)", err, codes.NotFound)
	_, err = e.svc.GetImportJob(e.ctx, ring+"/cryptoKeys/k")
	wantCode(t, "GetImportJob(a key name)", err, codes.InvalidArgument)

	names := func(jobs []*ImportJob) string {
		var s []string
		for _, j := range jobs {
			s = append(s, strings.TrimPrefix(j.Name, ring+"/importJobs/"))
		}
		return strings.Join(s, ",")
	}
	jobs, next, total, err := e.svc.ListImportJobs(e.ctx, ring, Page{Size: 2})
	if err != nil || names(jobs) != "a,b" || next == "" {
		t.Fatalf("ListImportJobs(size 2) = %s, %q, %d, %v", names(jobs), next, total, err)
	}
	jobs, next, _, err = e.svc.ListImportJobs(e.ctx, ring, Page{Size: 2, Token: next})
	if err != nil || names(jobs) != "c" || next != "" {
		t.Fatalf("ListImportJobs(page 2) = %s, %q, %v", names(jobs), next, err)
	}
	jobs, _, total, err = e.svc.ListImportJobs(e.ctx, ring, Page{Filter: "import_method=RSA_OAEP_3072_SHA256", OrderBy: "create_time desc"})
	if err != nil || names(jobs) != "c,b" || total != 2 {
		t.Fatalf("ListImportJobs(filter, order) = %s, %d, %v", names(jobs), total, err)
	}
	if jobs[0].PublicKeyPEM == "" {
		t.Fatal("listed ACTIVE job has no public key")
	}
	_, _, _, err = e.svc.ListImportJobs(e.ctx, ring, Page{Filter: "labels.x=y"})
	wantCode(t, "ListImportJobs(unknown field)", err, codes.InvalidArgument)
	_, _, _, err = e.svc.ListImportJobs(e.ctx, loc+"/keyRings/missing", Page{})
	wantCode(t, "ListImportJobs(missing ring)", err, codes.NotFound)
}

// emptyKey creates a key without versions and returns its name.
func (e *env) emptyKey(t *testing.T, ring, id string, k CryptoKey) string {
	t.Helper()
	info, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{Parent: ring, ID: id, Key: k, SkipInitialVersion: true})
	if err != nil {
		t.Fatalf("CreateCryptoKey(%q) = %v", id, err)
	}
	return info.Key.Name
}

// importKey wraps material for j and imports it as a new version of key.
func (e *env) importKey(t *testing.T, key string, j *ImportJob, a alg.Algorithm, material []byte) *Version {
	t.Helper()
	v, err := e.svc.ImportCryptoKeyVersion(e.ctx, ImportRequest{Parent: key, Algorithm: a, ImportJob: j.Name, WrappedKey: wrapFor(t, j, material)})
	if err != nil {
		t.Fatalf("ImportCryptoKeyVersion(%s, %s) = %v", key, a, err)
	}
	if v.State != Enabled {
		t.Fatalf("ImportCryptoKeyVersion(%s, %s) made a %s version: %s", key, a, v.State, v.ImportFailureReason)
	}
	return v
}

func TestImportJobExpiry(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	j := e.job(t, ring, "j", RSAOAEP3072SHA256AES256)
	sched := e.job(t, ring, "sched", RSAOAEP3072SHA256AES256)
	key := e.emptyKey(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt, ImportOnly: true})
	req := ImportRequest{Parent: key, Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", ImportJob: j.Name, WrappedKey: wrapFor(t, j, randomBytes(32))}

	e.clk.add(ImportJobLifetime - time.Second)
	if got, err := e.svc.GetImportJob(e.ctx, j.Name); err != nil || got.State != ImportJobActive {
		t.Fatalf("GetImportJob a second before expiry = %+v, %v; want ACTIVE", got, err)
	}
	e.clk.add(time.Second)
	_, err := e.svc.ImportCryptoKeyVersion(e.ctx, req)
	wantCode(t, "ImportCryptoKeyVersion with an expired job", err, codes.FailedPrecondition)
	if vs := e.checkNoHalfMadeKeys(t, key); len(vs) != 0 {
		t.Fatalf("an import with an expired job made %d versions", len(vs))
	}
	expiredAt := e.clk.now()
	got, err := e.svc.GetImportJob(e.ctx, j.Name)
	if err != nil || got.State != ImportJobExpired || !got.ExpireEventTime.Equal(expiredAt) || got.PublicKeyPEM != "" {
		t.Fatalf("GetImportJob after expiry = %+v, %v; want EXPIRED at %v without a public key", got, err, expiredAt)
	}
	stored, rec, err := e.svc.readImportJob(context.Background(), e.store, j.Name)
	if err != nil || stored.State != ImportJobExpired || stored.PrivateKey != nil || rec.Due != 0 {
		t.Fatalf("stored expired job: state %s, private key %d bytes, due %d, %v; want EXPIRED, erased, not due",
			stored.State, len(stored.PrivateKey), rec.Due, err)
	}

	// The scheduler records an expiry that no read noticed.
	e.clk.add(time.Hour)
	e.svc.SchedulerPass(e.ctx)
	stored, rec, err = e.svc.readImportJob(context.Background(), e.store, sched.Name)
	if err != nil || stored.State != ImportJobExpired || !stored.ExpireEventTime.Equal(e.clk.now()) || stored.PrivateKey != nil || rec.Due != 0 {
		t.Fatalf("job after a scheduler pass: %+v, due %d, %v; want EXPIRED now, key erased", stored.ImportJob, rec.Due, err)
	}
	// Later reads keep the first expire_event_time.
	e.clk.add(time.Hour)
	jobs, _, _, err := e.svc.ListImportJobs(e.ctx, ring, Page{Filter: "state=EXPIRED"})
	if err != nil || len(jobs) != 2 || !jobs[0].ExpireEventTime.Equal(expiredAt) {
		t.Fatalf("ListImportJobs(EXPIRED) = %+v, %v", jobs, err)
	}
}

var allMethods = []ImportMethod{
	RSAOAEP3072SHA1AES256, RSAOAEP4096SHA1AES256, RSAOAEP3072SHA256AES256,
	RSAOAEP4096SHA256AES256, RSAOAEP3072SHA256, RSAOAEP4096SHA256,
}

func TestImportEachMethod(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	for i, m := range allMethods {
		t.Run(string(m), func(t *testing.T) {
			j := e.job(t, ring, strings.ToLower(string(m)), m)
			key := e.emptyKey(t, ring, "k"+itoa(int64(i)), CryptoKey{Purpose: alg.EncryptDecrypt})
			material := randomBytes(32)
			v := e.importKey(t, key, j, "GOOGLE_SYMMETRIC_ENCRYPTION", material)
			now := e.clk.now()
			if v.Name != key+"/cryptoKeyVersions/1" || v.ImportJob != j.Name || !v.ImportTime.Equal(now) ||
				!v.GenerateTime.Equal(now) || v.Material != nil || v.ImportFailureReason != "" || v.ProtectionLevel != Software {
				t.Fatalf("imported version = %+v", v)
			}
			if !bytes.Equal(e.unsealed(t, v.Name), material) {
				t.Fatal("the stored material is not the imported key")
			}
			info, err := e.svc.GetCryptoKey(e.ctx, key)
			if err != nil || info.Key.Primary != 1 {
				t.Fatalf("the first imported version is not primary: %+v, %v", info, err)
			}
			ct, _, err := e.svc.Encrypt(e.ctx, key, []byte("hello"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if pt, _, err := e.svc.Decrypt(e.ctx, key, ct, nil); err != nil || string(pt) != "hello" {
				t.Fatalf("Decrypt = %q, %v", pt, err)
			}

			// An EC private key, which fits even the methods without AES.
			sk := e.emptyKey(t, ring, "s"+itoa(int64(i)), CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}})
			priv, der := pkcs8(t, asym.ECP256)
			sv := e.importKey(t, sk, j, "EC_SIGN_P256_SHA256", der)
			digest := sha256.Sum256([]byte("data"))
			sig, _, err := e.svc.AsymmetricSign(e.ctx, SignRequest{Name: sv.Name, Digest: digest[:], DigestHash: crypto.SHA256})
			if err != nil || !ecdsa.VerifyASN1(&priv.(*ecdsa.PrivateKey).PublicKey, digest[:], sig) {
				t.Fatalf("the imported EC key's signature does not verify with the original public key (%v)", err)
			}
		})
	}
}

func TestImportAlgorithms(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	j := e.job(t, ring, "j", RSAOAEP3072SHA1AES256)
	symmetric := []struct {
		alg     alg.Algorithm
		purpose alg.Purpose
		n       int
	}{
		{"GOOGLE_SYMMETRIC_ENCRYPTION", alg.EncryptDecrypt, 32},
		{"AES_128_GCM", alg.RawEncryptDecrypt, 16},
		{"AES_256_GCM", alg.RawEncryptDecrypt, 32},
		{"HMAC_SHA1", alg.MAC, 20},
		{"HMAC_SHA224", alg.MAC, 28},
		{"HMAC_SHA256", alg.MAC, 32},
		{"HMAC_SHA384", alg.MAC, 48},
		{"HMAC_SHA512", alg.MAC, 64},
	}
	for _, tc := range symmetric {
		t.Run(string(tc.alg), func(t *testing.T) {
			key := e.emptyKey(t, ring, strings.ToLower(string(tc.alg)), CryptoKey{Purpose: tc.purpose, Template: VersionTemplate{Algorithm: tc.alg}})
			material := randomBytes(tc.n)
			v := e.importKey(t, key, j, tc.alg, material)
			if !bytes.Equal(e.unsealed(t, v.Name), material) {
				t.Fatal("the stored material is not the imported key")
			}
			switch tc.purpose {
			case alg.MAC:
				spec, _ := alg.Lookup(tc.alg)
				tag, _, err := e.svc.MacSign(e.ctx, v.Name, []byte("data"))
				m := hmac.New(spec.Hash.New, material)
				m.Write([]byte("data"))
				if err != nil || !hmac.Equal(tag, m.Sum(nil)) {
					t.Fatalf("MacSign with the imported key differs from HMAC with the original (%v)", err)
				}
			case alg.RawEncryptDecrypt:
				ct, iv, _, err := e.svc.RawEncrypt(e.ctx, v.Name, []byte("raw"), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if pt, _, err := e.svc.RawDecrypt(e.ctx, v.Name, ct, nil, iv, 16); err != nil || string(pt) != "raw" {
					t.Fatalf("RawDecrypt = %q, %v", pt, err)
				}
			}
		})
	}

	asymmetric := []struct {
		alg     alg.Algorithm
		purpose alg.Purpose
		kt      asym.KeyType
	}{
		{"EC_SIGN_P256_SHA256", alg.AsymmetricSign, asym.ECP256},
		{"EC_SIGN_P384_SHA384", alg.AsymmetricSign, asym.ECP384},
		{"EC_SIGN_ED25519", alg.AsymmetricSign, asym.Ed25519},
		{"RSA_SIGN_PSS_2048_SHA256", alg.AsymmetricSign, asym.RSA2048},
		{"RSA_DECRYPT_OAEP_2048_SHA256", alg.AsymmetricDecrypt, asym.RSA2048},
	}
	for _, tc := range asymmetric {
		t.Run(string(tc.alg), func(t *testing.T) {
			key := e.emptyKey(t, ring, strings.ToLower(string(tc.alg)), CryptoKey{Purpose: tc.purpose, Template: VersionTemplate{Algorithm: tc.alg}})
			priv, der := pkcs8(t, tc.kt)
			v := e.importKey(t, key, j, tc.alg, der)
			pk, err := e.svc.GetPublicKey(e.ctx, v.Name)
			want, _ := asym.PublicPEM(priv.Public())
			if err != nil || pk.PEM != want {
				t.Fatalf("GetPublicKey of the imported version = %v, %v; want the original public key", pk, err)
			}
			switch tc.kt {
			case asym.Ed25519:
				sig, _, err := e.svc.AsymmetricSign(e.ctx, SignRequest{Name: v.Name, Data: []byte("data")})
				if err != nil || !ed25519.Verify(priv.Public().(ed25519.PublicKey), []byte("data"), sig) {
					t.Fatalf("Ed25519 signature does not verify (%v)", err)
				}
			case asym.RSA2048:
				if tc.purpose == alg.AsymmetricDecrypt {
					ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, priv.Public().(*rsa.PublicKey), []byte("secret"), nil)
					if pt, _, err := e.svc.AsymmetricDecrypt(e.ctx, v.Name, ct); err != nil || string(pt) != "secret" {
						t.Fatalf("AsymmetricDecrypt = %q, %v", pt, err)
					}
				}
			}
		})
	}
}

// flip returns b with one bit of byte i changed.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[(i+len(c))%len(c)] ^= 0x01
	return c
}

func TestImportFailures(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	j := e.job(t, ring, "j", RSAOAEP3072SHA256AES256)
	jo := e.job(t, ring, "other", RSAOAEP3072SHA256AES256) // another key pair
	jd := e.job(t, ring, "direct", RSAOAEP3072SHA256)
	ring2 := e.ring(t, "r2")
	far := e.job(t, ring2, "far", RSAOAEP3072SHA256AES256)
	k := e.emptyKey(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	mac := e.emptyKey(t, ring, "mac", CryptoKey{Purpose: alg.MAC, Template: VersionTemplate{Algorithm: "HMAC_SHA256"}})
	ec := e.emptyKey(t, ring, "ec", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}, ImportOnly: true})
	rsaKey := e.emptyKey(t, ring, "rsa", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "RSA_SIGN_PSS_3072_SHA256"}})

	good := wrapFor(t, j, randomBytes(32))
	goodDirect := wrapFor(t, jd, randomBytes(32))
	_, p384 := pkcs8(t, asym.ECP384)
	_, ed := pkcs8(t, asym.Ed25519)
	_, rsa2048 := pkcs8(t, asym.RSA2048)
	_, p256 := pkcs8(t, asym.ECP256)

	const gse = alg.Algorithm("GOOGLE_SYMMETRIC_ENCRYPTION")
	failed := []struct {
		name    string
		key     string
		alg     alg.Algorithm
		job     *ImportJob
		wrapped []byte
		reason  string // a part of import_failure_reason
	}{
		{"wrapped key cut short", k, gse, j, good[:len(good)-8], "invalid length"},
		{"wrapped key too short", k, gse, j, good[:384+8], "too short"},
		{"wrapped key not in 64-bit blocks", k, gse, j, append(bytes.Clone(good), 0), "64-bit blocks"},
		{"AES-KWP integrity check fails", k, gse, j, flip(good, -1), reasonUnwrap},
		{"RSA-OAEP padding fails", k, gse, j, flip(good, 5), reasonUnwrap},
		{"wrapped for another job", k, gse, j, wrapFor(t, jo, randomBytes(32)), reasonUnwrap},
		{"31-byte symmetric key", k, gse, j, wrapFor(t, j, randomBytes(31)), "31 bytes"},
		{"16-byte HMAC-SHA256 key", mac, "HMAC_SHA256", j, wrapFor(t, j, randomBytes(16)), "invalid length"},
		{"direct method, wrong length", k, gse, jd, goodDirect[:len(goodDirect)-1], "invalid length"},
		{"direct method, bad padding", k, gse, jd, flip(goodDirect, 7), reasonUnwrap},
		{"direct method, 16-byte key", k, gse, jd, wrapFor(t, jd, randomBytes(16)), "16 bytes"},
		{"malformed PKCS#8", ec, "EC_SIGN_P256_SHA256", j, wrapFor(t, j, randomBytes(138)), "PKCS#8"},
		{"PKCS#8 with trailing bytes", ec, "EC_SIGN_P256_SHA256", j, wrapFor(t, j, append(bytes.Clone(p256), 0)), "PKCS#8"},
		{"P-384 key for P-256", ec, "EC_SIGN_P256_SHA256", j, wrapFor(t, j, p384), "ECP384"},
		{"Ed25519 key for P-256", ec, "EC_SIGN_P256_SHA256", j, wrapFor(t, j, ed), "Ed25519"},
		{"RSA-2048 key for RSA-3072", rsaKey, "RSA_SIGN_PSS_3072_SHA256", j, wrapFor(t, j, rsa2048), "RSA2048"},
	}
	count := map[string]int64{}
	for _, tc := range failed {
		t.Run(tc.name, func(t *testing.T) {
			v, err := e.svc.ImportCryptoKeyVersion(e.ctx, ImportRequest{Parent: tc.key, Algorithm: tc.alg, ImportJob: tc.job.Name, WrappedKey: tc.wrapped})
			if err != nil {
				t.Fatalf("ImportCryptoKeyVersion = %v, want an IMPORT_FAILED version", err)
			}
			count[tc.key]++
			if v.State != ImportFailed || !strings.Contains(v.ImportFailureReason, tc.reason) || v.ImportJob != tc.job.Name ||
				v.Name != tc.key+"/cryptoKeyVersions/"+itoa(count[tc.key]) || v.Algorithm != tc.alg {
				t.Fatalf("ImportCryptoKeyVersion = %+v, want IMPORT_FAILED with a reason containing %q", v, tc.reason)
			}
			got, err := e.svc.GetCryptoKeyVersion(e.ctx, v.Name)
			if err != nil || got.State != ImportFailed || got.ImportFailureReason != v.ImportFailureReason {
				t.Fatalf("GetCryptoKeyVersion = %+v, %v", got, err)
			}
			_, err = e.svc.UpdateCryptoKeyVersion(e.ctx, v.Name, Enabled, []string{"state"})
			wantCode(t, "enabling an IMPORT_FAILED version", err, codes.FailedPrecondition)
		})
	}

	refused := []struct {
		name  string
		req   ImportRequest
		code  codes.Code
		field string
	}{
		{"missing algorithm", ImportRequest{Parent: k, ImportJob: j.Name, WrappedKey: good}, codes.InvalidArgument, "algorithm"},
		{"unsupported algorithm", ImportRequest{Parent: k, Algorithm: "ML_KEM_768", ImportJob: j.Name, WrappedKey: good}, codes.InvalidArgument, "algorithm"},
		{"algorithm of another purpose", ImportRequest{Parent: k, Algorithm: "EC_SIGN_P256_SHA256", ImportJob: j.Name, WrappedKey: good}, codes.InvalidArgument, "algorithm"},
		{"no wrapped key", ImportRequest{Parent: k, Algorithm: gse, ImportJob: j.Name}, codes.InvalidArgument, "wrapped_key"},
		{"oversized wrapped key", ImportRequest{Parent: k, Algorithm: gse, ImportJob: j.Name, WrappedKey: make([]byte, maxWrappedKey+1)}, codes.InvalidArgument, "wrapped_key"},
		{"no import job", ImportRequest{Parent: k, Algorithm: gse, WrappedKey: good}, codes.InvalidArgument, "import_job"},
		{"bad import job name", ImportRequest{Parent: k, Algorithm: gse, ImportJob: k, WrappedKey: good}, codes.InvalidArgument, "import_job"},
		{"job of another key ring", ImportRequest{Parent: k, Algorithm: gse, ImportJob: far.Name, WrappedKey: wrapFor(t, far, randomBytes(32))}, codes.InvalidArgument, "import_job"},
		{"missing job", ImportRequest{Parent: k, Algorithm: gse, ImportJob: ring + "/importJobs/missing", WrappedKey: good}, codes.NotFound, ""},
		{"missing key", ImportRequest{Parent: ring + "/cryptoKeys/missing", Algorithm: gse, ImportJob: j.Name, WrappedKey: good}, codes.NotFound, ""},
		{"bad parent", ImportRequest{Parent: ring, Algorithm: gse, ImportJob: j.Name, WrappedKey: good}, codes.InvalidArgument, "parent"},
		{"version of another key", ImportRequest{Parent: k, CryptoKeyVersion: mac + "/cryptoKeyVersions/1", Algorithm: gse, ImportJob: j.Name, WrappedKey: good}, codes.InvalidArgument, "crypto_key_version"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			v, err := e.svc.ImportCryptoKeyVersion(e.ctx, tc.req)
			wantCode(t, "ImportCryptoKeyVersion", err, tc.code)
			if v != nil {
				t.Fatalf("ImportCryptoKeyVersion returned %+v with an error", v)
			}
			if tc.field != "" {
				wantField(t, "ImportCryptoKeyVersion", err, tc.field)
			}
		})
	}

	// Whatever failed, no key holds a half-made version: only IMPORT_FAILED
	// versions without material, one per failed import, and no primary.
	for _, key := range []string{k, mac, ec, rsaKey} {
		vs := e.checkNoHalfMadeKeys(t, key)
		if int64(len(vs)) != count[key] {
			t.Errorf("%s has %d versions, want %d", key, len(vs), count[key])
		}
		for _, v := range vs {
			if v.State != ImportFailed {
				t.Errorf("%s is %s, want IMPORT_FAILED", v.Name, v.State)
			}
		}
		info, err := e.svc.GetCryptoKey(e.ctx, key)
		if err != nil || info.Key.Primary != 0 || info.Key.LastVersion != count[key] {
			t.Errorf("GetCryptoKey(%s) = primary %d, last version %d, %v; want no primary, %d", key, info.Key.Primary, info.Key.LastVersion, err, count[key])
		}
	}
	_, _, err := e.svc.Encrypt(e.ctx, k, []byte("x"), nil)
	wantCode(t, "Encrypt with only IMPORT_FAILED versions", err, codes.FailedPrecondition)
}

// reencodeEC returns the PKCS#8 encoding of an EC key that x509 does not
// produce (the curve named again inside the SEC 1 structure): other bytes,
// the same key.
func reencodeEC(t *testing.T, priv *ecdsa.PrivateKey) []byte {
	t.Helper()
	inner, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	std, _ := x509.MarshalPKCS8PrivateKey(priv)
	var p struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	if _, err := asn1.Unmarshal(std, &p); err != nil {
		t.Fatal(err)
	}
	p.PrivateKey = inner
	out, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out, std) {
		t.Fatal("the re-encoding is the standard encoding")
	}
	return out
}

func TestReimport(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	j1 := e.job(t, ring, "j1", RSAOAEP3072SHA256AES256)
	j2 := e.job(t, ring, "j2", RSAOAEP3072SHA1AES256)
	k := e.emptyKey(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	mac := e.emptyKey(t, ring, "mac", CryptoKey{Purpose: alg.MAC, Template: VersionTemplate{Algorithm: "HMAC_SHA256"}})
	ec := e.emptyKey(t, ring, "ec", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}})
	generated := e.key(t, ring, "generated", CryptoKey{Purpose: alg.EncryptDecrypt}).Key.Name

	material := randomBytes(32)
	v1 := e.importKey(t, k, j1, "GOOGLE_SYMMETRIC_ENCRYPTION", material)
	ct, _, err := e.svc.Encrypt(e.ctx, k, []byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	macV := e.importKey(t, mac, j1, "HMAC_SHA256", randomBytes(32))
	ecPriv, ecDER := pkcs8(t, asym.ECP256)
	ecV := e.importKey(t, ec, j1, "EC_SIGN_P256_SHA256", ecDER)

	reimport := func(key, version string, j *ImportJob, a alg.Algorithm, m []byte) (*Version, error) {
		return e.svc.ImportCryptoKeyVersion(e.ctx, ImportRequest{Parent: key, CryptoKeyVersion: version, Algorithm: a, ImportJob: j.Name, WrappedKey: wrapFor(t, j, m)})
	}
	_, err = reimport(k, v1.Name, j2, "GOOGLE_SYMMETRIC_ENCRYPTION", material)
	wantCode(t, "re-import into an ENABLED version", err, codes.FailedPrecondition)

	for _, v := range []string{v1.Name, macV.Name, ecV.Name} {
		if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.add(DefaultDestroyScheduledDuration + time.Second)
	e.svc.SchedulerPass(e.ctx)
	destroyed := e.storedVersion(t, v1.Name)
	if destroyed.State != Destroyed || !destroyed.ReimportEligible || destroyed.Material != nil || len(destroyed.Fingerprint) == 0 {
		t.Fatalf("destroyed imported version = %+v", destroyed)
	}
	_, _, err = e.svc.Decrypt(e.ctx, k, ct, nil)
	wantCode(t, "Decrypt with a destroyed version", err, codes.FailedPrecondition)

	unchanged := func(t *testing.T) {
		t.Helper()
		v := e.storedVersion(t, v1.Name)
		if v.State != Destroyed || !v.ReimportEligible || v.Material != nil || !bytes.Equal(v.Fingerprint, destroyed.Fingerprint) {
			t.Fatalf("a refused re-import changed the version: %+v", v)
		}
		e.checkNoHalfMadeKeys(t, k)
		if info, _ := e.svc.GetCryptoKey(e.ctx, k); info.Key.LastVersion != 1 {
			t.Fatalf("a refused re-import made a version: last version %d", info.Key.LastVersion)
		}
	}
	_, err = reimport(k, v1.Name, j2, "GOOGLE_SYMMETRIC_ENCRYPTION", randomBytes(32))
	wantCode(t, "re-import of other material", err, codes.InvalidArgument)
	unchanged(t)
	_, err = e.svc.ImportCryptoKeyVersion(e.ctx, ImportRequest{Parent: k, CryptoKeyVersion: v1.Name, Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION",
		ImportJob: j2.Name, WrappedKey: flip(wrapFor(t, j2, material), -1)})
	wantCode(t, "re-import with a bad wrapping", err, codes.InvalidArgument)
	unchanged(t)
	_, err = reimport(k, v1.Name, j2, "GOOGLE_SYMMETRIC_ENCRYPTION", randomBytes(31))
	wantCode(t, "re-import of a 31-byte key", err, codes.InvalidArgument)
	unchanged(t)

	// The same material, wrapped for another job, brings the version back.
	e.clk.add(time.Minute)
	v, err := reimport(k, v1.Name, j2, "GOOGLE_SYMMETRIC_ENCRYPTION", material)
	if err != nil || v.State != Enabled || v.ImportJob != j2.Name || !v.ImportTime.Equal(e.clk.now()) || v.ReimportEligible ||
		!v.DestroyEventTime.IsZero() || !v.GenerateTime.Equal(v1.GenerateTime) || v.Material != nil {
		t.Fatalf("re-import of the same material = %+v, %v", v, err)
	}
	if !bytes.Equal(e.unsealed(t, v1.Name), material) {
		t.Fatal("the re-imported material is not the original")
	}
	if pt, _, err := e.svc.Decrypt(e.ctx, k, ct, nil); err != nil || string(pt) != "hello" {
		t.Fatalf("Decrypt of a ciphertext made before destruction = %q, %v", pt, err)
	}
	_, err = reimport(k, v1.Name, j2, "GOOGLE_SYMMETRIC_ENCRYPTION", material)
	wantCode(t, "second re-import", err, codes.FailedPrecondition)

	// Another algorithm than the version held is refused.
	_, err = reimport(mac, macV.Name, j1, "HMAC_SHA512", randomBytes(64))
	wantCode(t, "re-import with another algorithm", err, codes.InvalidArgument)
	wantField(t, "re-import with another algorithm", err, "algorithm")

	// The same EC key in another PKCS#8 encoding is the same material.
	v, err = reimport(ec, ecV.Name, j2, "EC_SIGN_P256_SHA256", reencodeEC(t, ecPriv.(*ecdsa.PrivateKey)))
	if err != nil || v.State != Enabled {
		t.Fatalf("re-import of the same EC key, encoded otherwise = %+v, %v", v, err)
	}

	// Only imported versions can be re-imported.
	_, err = reimport(generated, generated+"/cryptoKeyVersions/1", j1, "GOOGLE_SYMMETRIC_ENCRYPTION", material)
	wantCode(t, "re-import into a generated version", err, codes.FailedPrecondition)

	// An IMPORT_FAILED version, which never held material, takes any key.
	bad, err := e.svc.ImportCryptoKeyVersion(e.ctx, ImportRequest{Parent: k, Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", ImportJob: j1.Name, WrappedKey: flip(wrapFor(t, j1, material), 3)})
	if err != nil || bad.State != ImportFailed {
		t.Fatalf("import with bad padding = %+v, %v", bad, err)
	}
	fresh := randomBytes(32)
	v, err = reimport(k, bad.Name, j1, "GOOGLE_SYMMETRIC_ENCRYPTION", fresh)
	if err != nil || v.State != Enabled || v.ImportFailureReason != "" || v.GenerateTime.IsZero() {
		t.Fatalf("re-import into an IMPORT_FAILED version = %+v, %v", v, err)
	}
	if !bytes.Equal(e.unsealed(t, bad.Name), fresh) {
		t.Fatal("the material re-imported into the IMPORT_FAILED version is not the key")
	}
	e.checkNoHalfMadeKeys(t, k)
}

// grants is an authorizer that allows the admin everything and others the
// listed "permission resource" pairs.
type grants map[string]bool

func (g grants) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if c := CallerFrom(ctx); c != nil && (c.Admin || g[perm+" "+res.String()]) {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Record(ctx context.Context, e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) last() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[len(r.events)-1]
}

func TestImportPermissionsAndAudit(t *testing.T) {
	base := newEnv(t)
	g := grants{}
	rec := &recorder{}
	e := &env{store: base.store, clk: base.clk, ctx: base.ctx,
		svc: New(Config{Store: base.store, Keystore: base.svc.ks, Authorizer: g, Auditor: rec, Now: base.clk.now})}
	ring := e.ring(t, "r")
	j := e.job(t, ring, "j", RSAOAEP3072SHA256AES256)
	if ev := rec.last(); ev.Method != "CreateImportJob" || ev.Resource != j.Name || ev.Err != nil || ev.DataAccess {
		t.Fatalf("CreateImportJob audit entry = %+v", ev)
	}
	k := e.emptyKey(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	app := WithCaller(context.Background(), &Caller{Principal: "app:importer", App: "importer"})
	missingJob := ring + "/importJobs/missing"
	missingKey := ring + "/cryptoKeys/missing"

	// Without permissions, every call is denied before any lookup: a
	// missing resource is no different.
	_, err := e.svc.CreateImportJob(app, loc+"/keyRings/missing", "j", ImportJob{ImportMethod: RSAOAEP3072SHA256, ProtectionLevel: Software})
	wantCode(t, "CreateImportJob in a missing ring", err, codes.PermissionDenied)
	for _, name := range []string{j.Name, missingJob} {
		_, err = e.svc.GetImportJob(app, name)
		wantCode(t, "GetImportJob "+name, err, codes.PermissionDenied)
	}
	_, _, _, err = e.svc.ListImportJobs(app, ring, Page{})
	wantCode(t, "ListImportJobs", err, codes.PermissionDenied)

	material := randomBytes(32)
	req := ImportRequest{Parent: k, Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", ImportJob: j.Name, WrappedKey: wrapFor(t, j, material)}
	try := func(what string, r ImportRequest, want codes.Code) *Version {
		t.Helper()
		v, err := e.svc.ImportCryptoKeyVersion(app, r)
		wantCode(t, what, err, want)
		return v
	}
	try("import without permissions", req, codes.PermissionDenied)
	g[PermVersionsCreate+" "+k] = true
	try("import without useToImport on the job", req, codes.PermissionDenied)
	if ev := rec.last(); ev.Method != "ImportCryptoKeyVersion" || kmserr.Code(ev.Err) != codes.PermissionDenied {
		t.Fatalf("denied import audit entry = %+v", ev)
	}
	try("import into a missing key", ImportRequest{Parent: missingKey, Algorithm: req.Algorithm, ImportJob: j.Name, WrappedKey: req.WrappedKey}, codes.PermissionDenied)
	g[PermImportJobsUseToImport+" "+j.Name] = true
	try("import with a missing job", ImportRequest{Parent: k, Algorithm: req.Algorithm, ImportJob: missingJob, WrappedKey: req.WrappedKey}, codes.PermissionDenied)
	delete(g, PermVersionsCreate+" "+k)
	try("import without create on the key", req, codes.PermissionDenied)
	if vs := e.checkNoHalfMadeKeys(t, k); len(vs) != 0 {
		t.Fatalf("denied imports made %d versions", len(vs))
	}
	g[PermVersionsCreate+" "+k] = true
	v := try("import with both permissions", req, codes.OK)
	ev := rec.last()
	if ev.Method != "ImportCryptoKeyVersion" || ev.Resource != v.Name || ev.Err != nil || ev.DataAccess {
		t.Fatalf("import audit entry = %+v, want the new version %s", ev, v.Name)
	}
	if strings.Contains(strings.ToLower(ev.Resource), "material") || len(ev.Details) != 0 {
		t.Fatalf("import audit entry carries details: %+v", ev)
	}

	// A re-import needs update on the version (and useToImport), not
	// create on the key.
	re := req
	re.CryptoKeyVersion = v.Name
	delete(g, PermVersionsCreate+" "+k)
	try("re-import without update on the version", re, codes.PermissionDenied)
	g[PermVersionsUpdate+" "+v.Name] = true
	try("re-import with update on the version", re, codes.FailedPrecondition) // authorized; the version is ENABLED

	// The importer role's get and list.
	g[PermImportJobsGet+" "+j.Name] = true
	g[PermImportJobsList+" "+ring] = true
	if _, err := e.svc.GetImportJob(app, j.Name); err != nil {
		t.Fatalf("GetImportJob with the permission = %v", err)
	}
	if jobs, _, _, err := e.svc.ListImportJobs(app, ring, Page{}); err != nil || len(jobs) != 1 {
		t.Fatalf("ListImportJobs with the permission = %d jobs, %v", len(jobs), err)
	}
}

// FuzzUnwrapImport feeds arbitrary wrapped keys to the parser of every
// import method: it must never panic, and never accept anything (a valid
// wrapping under the job's key cannot be guessed).
func FuzzUnwrapImport(f *testing.F) {
	_, der, err := pooledWrappingKey(asym.RSA3072)
	if err != nil {
		f.Fatal(err)
	}
	k, _ := asym.ParsePKCS8(der)
	priv := k.(*rsa.PrivateKey)
	for _, n := range []int{0, 1, 16, 384, 384 + 16, 384 + 24, 384 + 40, 384 + 41, 384 + 48, 384 + 160} {
		f.Add(randomBytes(n), uint8(0), uint8(0))
	}
	methods := []ImportMethod{RSAOAEP3072SHA1AES256, RSAOAEP3072SHA256AES256, RSAOAEP3072SHA256}
	algs := []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_128_GCM", "HMAC_SHA224", "EC_SIGN_P256_SHA256", "EC_SIGN_ED25519", "RSA_SIGN_PSS_2048_SHA256"}
	f.Fuzz(func(t *testing.T, wrapped []byte, mi, ai uint8) {
		m := importMethods[methods[int(mi)%len(methods)]]
		a := algs[int(ai)%len(algs)]
		spec, _ := alg.Lookup(a)
		raw, reason := unwrapImport(priv, m, spec, wrapped)
		if reason == "" {
			if _, reason = checkMaterial(a, spec, raw); reason == "" {
				t.Fatalf("%d arbitrary bytes imported as %s", len(wrapped), a)
			}
		}
		if raw != nil && reason == "" {
			t.Fatal("material returned with a failure reason")
		}
	})
}

// TestImportJobExpiryGoesPastFailures: an import job whose record was
// altered on disk (it stays due, its expiry always fails) holds up neither
// the scheduler pass nor the expiry of the jobs due after it, whose private
// wrapping keys must still be erased.
func TestImportJobExpiryGoesPastFailures(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	ctx := context.Background()
	broken := e.job(t, ring, "broken", RSAOAEP3072SHA256AES256)
	e.clk.add(time.Minute) // due after the broken one
	later := e.job(t, ring, "later", RSAOAEP3072SHA256AES256)
	err := e.store.Update(ctx, func(tx storage.Tx) error {
		rec, err := tx.Get(ctx, broken.Name)
		if err != nil {
			return err
		}
		rec.MAC[0] ^= 1 // still due, no longer authentic
		rec.Rev = 0
		return tx.Put(ctx, rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.add(ImportJobLifetime + time.Hour)
	e.svc.SchedulerPass(e.ctx)
	stored, rec, err := e.svc.readImportJob(ctx, e.store, later.Name)
	if err != nil || stored.State != ImportJobExpired || stored.PrivateKey != nil || rec.Due != 0 {
		t.Fatalf("job due after an altered one, after a scheduler pass: state %s, private key %d bytes, due %d, %v; want EXPIRED, erased, not due",
			stored.State, len(stored.PrivateKey), rec.Due, err)
	}
}

// FuzzCheckMaterial feeds arbitrary unwrapped key material, what an
// importer controls once the wrapping is right, to the parser that checks
// it against the algorithm: it must never panic, and what it accepts must be
// a key of exactly that algorithm's type, in the form Custos stores.
func FuzzCheckMaterial(f *testing.F) {
	for _, kt := range []asym.KeyType{asym.ECP256, asym.ECP384, asym.Ed25519, asym.RSA2048} {
		_, der, err := asym.Generate(kt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, uint8(0))
		f.Add(append(der, 0), uint8(0))
	}
	f.Add(randomBytes(32), uint8(0))
	f.Add([]byte{0x30, 0x00}, uint8(0))
	algs := []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_128_GCM", "HMAC_SHA224", "EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384",
		"EC_SIGN_ED25519", "RSA_SIGN_PSS_2048_SHA256", "RSA_DECRYPT_OAEP_3072_SHA1"}
	f.Fuzz(func(t *testing.T, raw []byte, ai uint8) {
		for i := range algs {
			a := algs[(int(ai)+i)%len(algs)]
			spec, _ := alg.Lookup(a)
			m, reason := checkMaterial(a, spec, raw)
			if reason != "" {
				if m != nil {
					t.Fatalf("%s: material returned with a failure reason", a)
				}
				continue
			}
			if n := spec.KeyBytes(); n > 0 {
				if len(m) != n || !bytes.Equal(m, raw) {
					t.Fatalf("%s: accepted %d bytes as %d", a, len(raw), len(m))
				}
				continue
			}
			want, _ := keyType(spec)
			priv, err := asym.ParsePKCS8(m)
			if err != nil || asym.CheckType(priv, want) != nil {
				t.Fatalf("%s: accepted material that is not a %s key: %v", a, want, err)
			}
		}
	})
}
