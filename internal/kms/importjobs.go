// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/asym"
	"github.com/custos-kms/custos/internal/crypto/keywrap"
	"github.com/custos-kms/custos/internal/crypto/oaep"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// This file is key import, as Cloud KMS v1 has it: import jobs, which hold
// an RSA wrapping key pair, and ImportCryptoKeyVersion, which unwraps key
// material made elsewhere into a new (or a destroyed) version.
//
//   - ImportJob: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.importJobs
//   - ImportCryptoKeyVersion: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/import
//   - Key formats: https://cloud.google.com/kms/docs/formatting-keys-for-import
//   - Failures: https://cloud.google.com/kms/docs/troubleshooting-failed-imports

// kindImportJob is the storage kind of import jobs. Their parent is the key
// ring; Due is the expire time while the job is ACTIVE.
const kindImportJob storage.Kind = "importjob"

// ImportJobLifetime is how long an import job can be used: Cloud KMS expires
// a job 3 days after its creation.
const ImportJobLifetime = 72 * time.Hour

// maxWrappedKey bounds wrapped_key. The largest key Custos imports, a PKCS#8
// RSA-4096 private key (about 2.4 KB), wrapped under a 4096-bit job key, is
// under 3 KB.
const maxWrappedKey = 8 << 10

// ImportMethod is the wrapping method of an import job, named as in Cloud
// KMS (ImportJob.ImportMethod).
type ImportMethod string

// The import methods Custos supports. The *_AES_256 methods are PKCS #11
// CKM_RSA_AES_KEY_WRAP: RSA-OAEP (MGF1 with the same hash, empty label) of
// an ephemeral AES-256 key, followed by the AES key wrap with padding
// ([RFC 5649]) of the key material under it. The two others wrap the key
// material directly with RSA-OAEP and SHA-256, so only keys that fit in one
// OAEP block (symmetric keys, EC and Ed25519 private keys) can use them.
//
// [RFC 5649]: https://www.rfc-editor.org/rfc/rfc5649
const (
	RSAOAEP3072SHA1AES256   ImportMethod = "RSA_OAEP_3072_SHA1_AES_256"
	RSAOAEP4096SHA1AES256   ImportMethod = "RSA_OAEP_4096_SHA1_AES_256"
	RSAOAEP3072SHA256AES256 ImportMethod = "RSA_OAEP_3072_SHA256_AES_256"
	RSAOAEP4096SHA256AES256 ImportMethod = "RSA_OAEP_4096_SHA256_AES_256"
	RSAOAEP3072SHA256       ImportMethod = "RSA_OAEP_3072_SHA256"
	RSAOAEP4096SHA256       ImportMethod = "RSA_OAEP_4096_SHA256"
)

// generateWrappingKey makes the key pair of a new import job. Tests replace
// it to reuse keys, as RSA-4096 generation takes seconds.
var generateWrappingKey = asym.Generate

// importMethod says how a method wraps.
type importMethod struct {
	keyType asym.KeyType // the job's RSA key: RSA3072 or RSA4096
	hash    crypto.Hash  // OAEP and MGF1 hash
	aes     bool         // CKM_RSA_AES_KEY_WRAP; false: RSA-OAEP of the key itself
}

var importMethods = map[ImportMethod]importMethod{
	RSAOAEP3072SHA1AES256:   {asym.RSA3072, crypto.SHA1, true},
	RSAOAEP4096SHA1AES256:   {asym.RSA4096, crypto.SHA1, true},
	RSAOAEP3072SHA256AES256: {asym.RSA3072, crypto.SHA256, true},
	RSAOAEP4096SHA256AES256: {asym.RSA4096, crypto.SHA256, true},
	RSAOAEP3072SHA256:       {asym.RSA3072, crypto.SHA256, false},
	RSAOAEP4096SHA256:       {asym.RSA4096, crypto.SHA256, false},
}

// ImportJobState is the state of an import job, named as in Cloud KMS.
type ImportJobState string

const (
	// ImportJobPendingGeneration is never stored: Custos generates the
	// wrapping key within CreateImportJob, which returns an ACTIVE job.
	ImportJobPendingGeneration ImportJobState = "PENDING_GENERATION"
	ImportJobActive            ImportJobState = "ACTIVE"
	ImportJobExpired           ImportJobState = "EXPIRED"
)

// ImportJob is a Cloud KMS import job as callers see it. It never holds the
// private wrapping key, which stays sealed in storage.
type ImportJob struct {
	Name            string         `json:"name"`
	ImportMethod    ImportMethod   `json:"importMethod"`
	ProtectionLevel string         `json:"protectionLevel"`
	CreateTime      time.Time      `json:"createTime"`
	GenerateTime    time.Time      `json:"generateTime,omitzero"`
	ExpireTime      time.Time      `json:"expireTime"`
	ExpireEventTime time.Time      `json:"expireEventTime,omitzero"`
	State           ImportJobState `json:"state"`
	// PublicKeyPEM is the wrapping public key as a PEM "PUBLIC KEY" block
	// (SubjectPublicKeyInfo), set while the job is ACTIVE.
	PublicKeyPEM string `json:"publicKeyPem,omitempty"`
}

// importJobRecord is an import job as stored.
type importJobRecord struct {
	ImportJob
	// PrivateKey is the PKCS#8 wrapping private key sealed by the keystore
	// for the job's name. It is erased when the job expires.
	PrivateKey []byte `json:"privateKey,omitempty"`
}

func importJobDue(j *importJobRecord) int64 {
	if j.State == ImportJobActive {
		return j.ExpireTime.UnixNano()
	}
	return 0
}

// CreateImportJob creates an import job in a key ring and generates its RSA
// wrapping key pair (3072 or 4096 bits, by import method), which takes up
// to a few seconds. The job is ACTIVE when it returns and expires after
// [ImportJobLifetime]. Only SOFTWARE protection is offered.
func (s *Service) CreateImportJob(ctx context.Context, parent, id string, in ImportJob) (*ImportJob, error) {
	ring, err := parseName("parent", parent, resource.KindKeyRing)
	if err != nil {
		return nil, err
	}
	var out *ImportJob
	var target string // the audit entry names the new job only if id is valid
	if resource.ValidID(id) {
		target = ring.ImportJobName(id).String()
	}
	err = s.callFor(ctx, "CreateImportJob", PermImportJobsCreate, ring, false, &target, func() error {
		out, err = s.createImportJob(ctx, ring, id, in)
		return err
	})
	return out, err
}

func (s *Service) createImportJob(ctx context.Context, ring resource.Name, id string, in ImportJob) (*ImportJob, error) {
	if !resource.ValidID(id) {
		return nil, kmserr.InvalidArgument("import_job_id", "%q must be 1 to 63 characters of letters, digits, '_' and '-'", id)
	}
	m, err := checkImportJob(in)
	if err != nil {
		return nil, err
	}
	name := ring.ImportJobName(id).String()
	// Generating the key pair takes seconds: refuse what the transaction
	// would refuse before spending them.
	if _, err := s.readKeyRing(ctx, s.store, ring.String()); err != nil {
		return nil, err
	}
	if _, err := s.store.Get(ctx, name); err == nil {
		return nil, kmserr.AlreadyExists("ImportJob %s already exists", name)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, storeErr(err, "ImportJob", name)
	}

	created := s.now().UTC()
	priv, der, err := generateWrappingKey(m.keyType)
	if err != nil {
		return nil, kmserr.Internal(err, "cannot generate the wrapping key")
	}
	defer clear(der)
	pub, err := asym.PublicPEM(priv.Public())
	if err != nil {
		return nil, kmserr.Internal(err, "cannot encode the wrapping key")
	}
	j := &importJobRecord{
		ImportJob: ImportJob{
			Name:            name,
			ImportMethod:    in.ImportMethod,
			ProtectionLevel: Software,
			CreateTime:      created,
			GenerateTime:    s.now().UTC(),
			ExpireTime:      created.Add(ImportJobLifetime),
			State:           ImportJobActive,
			PublicKeyPEM:    pub,
		},
		PrivateKey: s.ks.Seal(name, der),
	}
	rec, err := s.encode(kindImportJob, name, ring.String(), importJobDue(j), j)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, func(tx storage.Tx) ([]string, error) {
		if _, err := s.readKeyRing(ctx, tx, ring.String()); err != nil {
			return nil, err
		}
		return nil, storeErr(tx.Create(ctx, rec), "ImportJob", name)
	})
	if err != nil {
		return nil, err
	}
	out := j.ImportJob
	return &out, nil
}

// checkImportJob validates the settings of a job being created.
func checkImportJob(in ImportJob) (importMethod, error) {
	if in.ImportMethod == "" {
		return importMethod{}, kmserr.InvalidArgument("import_job.import_method", "is required")
	}
	m, ok := importMethods[in.ImportMethod]
	if !ok {
		return importMethod{}, kmserr.InvalidArgument("import_job.import_method", "unsupported import method %s", in.ImportMethod)
	}
	switch in.ProtectionLevel {
	case Software:
	case "":
		return importMethod{}, kmserr.InvalidArgument("import_job.protection_level", "is required; this server offers SOFTWARE")
	case HSM, External:
		return importMethod{}, kmserr.InvalidArgument("import_job.protection_level",
			"protection level %s needs a backend this server does not have; use SOFTWARE", in.ProtectionLevel)
	default:
		return importMethod{}, kmserr.InvalidArgument("import_job.protection_level", "unknown protection level %s", in.ProtectionLevel)
	}
	return m, nil
}

// readImportJob reads and verifies an import job record through r.
func (s *Service) readImportJob(ctx context.Context, r storage.Reader, name string) (*importJobRecord, storage.Record, error) {
	rec, err := r.Get(ctx, name)
	if err != nil {
		return nil, rec, storeErr(err, "ImportJob", name)
	}
	j := new(importJobRecord)
	if err := s.decode(rec, kindImportJob, j); err != nil {
		return nil, rec, err
	}
	if j.Name != name {
		return nil, rec, kmserr.DataLoss(nil, "stored record %s holds %s", name, j.Name)
	}
	return j, rec, nil
}

// noticeExpiry returns j as it is now. An ACTIVE job past its expire_time is
// EXPIRED: the first read that notices (or the scheduler, whichever comes
// first) records that, with expire_event_time, and erases the private key.
// If recording fails, the job is still reported EXPIRED.
func (s *Service) noticeExpiry(ctx context.Context, j *importJobRecord) *importJobRecord {
	now := s.now().UTC()
	if j.State != ImportJobActive || now.Before(j.ExpireTime) {
		return j
	}
	out, err := s.expireImportJob(ctx, j.Name)
	if err != nil {
		s.log.Warn("cannot record the expiry of an import job", "job", j.Name, "err", err)
		c := *j
		c.State, c.ExpireEventTime, c.PublicKeyPEM, c.PrivateKey = ImportJobExpired, now, "", nil
		return &c
	}
	return out
}

// expireImportJob moves a job past its expire_time to EXPIRED, in one
// transaction, and returns it as stored afterwards.
func (s *Service) expireImportJob(ctx context.Context, name string) (*importJobRecord, error) {
	var out *importJobRecord
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		j, rec, err := s.readImportJob(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		out = j
		now := s.now().UTC()
		if j.State != ImportJobActive || now.Before(j.ExpireTime) {
			return nil, nil
		}
		c := *j
		c.State, c.ExpireEventTime = ImportJobExpired, now
		// Once expired, nothing wrapped for the job can be unwrapped:
		// the private key is no longer needed, so it is not kept.
		c.PublicKeyPEM, c.PrivateKey = "", nil
		newRec, err := s.encode(kindImportJob, name, rec.Parent, importJobDue(&c), &c)
		if err != nil {
			return nil, err
		}
		newRec.Rev = rec.Rev
		if err := tx.Put(ctx, newRec); err != nil {
			return nil, storeErr(err, "ImportJob", name)
		}
		out = &c
		return nil, nil
	})
	return out, err
}

// expireImportJobs expires the jobs whose expire_time has passed. The
// scheduler calls it; reads notice an expiry on their own, so it only keeps
// expire_event_time close to expire_time and erases the private keys early.
// A job whose expiry fails (its record was altered) holds up no other.
func (s *Service) expireImportJobs(ctx context.Context, now int64) {
	s.eachDue(ctx, kindImportJob, now, "import job expiry", func(r storage.Record) {
		j, err := s.expireImportJob(ctx, r.Name)
		if err != nil {
			s.log.Error("scheduler: import job expiry failed", "job", r.Name, "err", err)
			return
		}
		if j.State == ImportJobExpired {
			s.log.Info("import job expired", "job", r.Name)
		}
	})
}

// GetImportJob returns an import job, with its public key while it is ACTIVE.
func (s *Service) GetImportJob(ctx context.Context, name string) (*ImportJob, error) {
	n, err := parseName("name", name, resource.KindImportJob)
	if err != nil {
		return nil, err
	}
	var out *ImportJob
	err = s.call(ctx, "GetImportJob", PermImportJobsGet, n, true, func() error {
		j, _, err := s.readImportJob(ctx, s.store, name)
		if err != nil {
			return err
		}
		v := s.noticeExpiry(ctx, j).ImportJob
		out = &v
		return nil
	})
	return out, err
}

// ListImportJobs lists the import jobs of a key ring.
func (s *Service) ListImportJobs(ctx context.Context, parent string, p Page) ([]*ImportJob, string, int, error) {
	ring, err := parseName("parent", parent, resource.KindKeyRing)
	if err != nil {
		return nil, "", 0, err
	}
	var res listResult[*ImportJob]
	err = s.call(ctx, "ListImportJobs", PermImportJobsList, ring, true, func() error {
		if _, err := s.readKeyRing(ctx, s.store, parent); err != nil {
			return err
		}
		res, err = list(ctx, s, kindImportJob, parent, p, func(r storage.Record) (*ImportJob, error) {
			j := new(importJobRecord)
			if err := s.decode(r, kindImportJob, j); err != nil {
				return nil, err
			}
			v := s.noticeExpiry(ctx, j).ImportJob
			return &v, nil
		}, importJobFields)
		return err
	})
	return res.items, res.next, res.total, err
}

func importJobFields(j *ImportJob) fields {
	if j == nil {
		j = new(ImportJob)
	}
	return func(path string) (string, bool) {
		switch path {
		case "name":
			return j.Name, true
		case "import_method", "importMethod":
			return string(j.ImportMethod), true
		case "protection_level", "protectionLevel":
			return j.ProtectionLevel, true
		case "state":
			return string(j.State), true
		case "create_time", "createTime":
			return timeField(j.CreateTime), true
		case "generate_time", "generateTime":
			return timeField(j.GenerateTime), true
		case "expire_time", "expireTime":
			return timeField(j.ExpireTime), true
		case "expire_event_time", "expireEventTime":
			return timeField(j.ExpireEventTime), true
		}
		return "", false
	}
}

// ImportRequest is an ImportCryptoKeyVersion call.
type ImportRequest struct {
	// Parent is the crypto key to import into.
	Parent string
	// CryptoKeyVersion, if set, names a version of Parent to re-import
	// into; otherwise a new version is made.
	CryptoKeyVersion string
	Algorithm        alg.Algorithm
	ImportJob        string
	// WrappedKey is the key material wrapped for the job, as its import
	// method says (wrapped_key, or the legacy rsa_aes_wrapped_key).
	WrappedKey []byte
}

// Reasons of failed imports, worded as Cloud KMS words them where it has a
// wording. reasonUnwrap is the one reason for every failure to unwrap, so
// that no detail of a failed RSA-OAEP or AES-KWP check is observable.
const reasonUnwrap = "The key material in the import request couldn't be unwrapped or wasn't formatted correctly"

// ImportCryptoKeyVersion imports wrapped key material into a new version of
// a key, or re-imports it into a version whose imported material was
// destroyed. See [ImportRequest].
//
// Authorization follows the method's "Authorization requires" lines:
// cloudkms.cryptoKeyVersions.create on the key for a new version, or
// cloudkms.cryptoKeyVersions.update on the version for a re-import, and in
// both cases cloudkms.importJobs.useToImport on the job. All are checked
// before anything is looked up.
//
// A request that is wrong in itself (a missing field, an algorithm of
// another purpose, a job of another key ring, or one that is not ACTIVE)
// fails with INVALID_ARGUMENT or FAILED_PRECONDITION and changes nothing.
// Wrapped material that cannot be imported (a wrong length, a failed
// unwrap, a malformed PKCS#8 key, a key that does not fit the algorithm)
// makes, as in Cloud KMS, a new version in state IMPORT_FAILED with an
// import_failure_reason and no material, which the call returns; for a
// re-import it fails the call with INVALID_ARGUMENT and leaves the version
// as it was, as does material that is not the version's former material.
// A successful import makes an ENABLED version whose material is sealed;
// an ENCRYPT_DECRYPT key without a primary version gets it as primary.
func (s *Service) ImportCryptoKeyVersion(ctx context.Context, req ImportRequest) (*Version, error) {
	kn, err := parseName("parent", req.Parent, resource.KindCryptoKey)
	if err != nil {
		return nil, err
	}
	if req.ImportJob == "" {
		return nil, kmserr.InvalidArgument("import_job", "is required")
	}
	jn, err := parseName("import_job", req.ImportJob, resource.KindImportJob)
	if err != nil {
		return nil, err
	}
	res, perm := kn, PermVersionsCreate
	var vn resource.Name
	if req.CryptoKeyVersion != "" {
		if vn, err = parseName("crypto_key_version", req.CryptoKeyVersion, resource.KindCryptoKeyVersion); err != nil {
			return nil, err
		}
		if vn.Key() != kn {
			return nil, kmserr.InvalidArgument("crypto_key_version", "%s is not a version of %s", req.CryptoKeyVersion, req.Parent)
		}
		res, perm = vn, PermVersionsUpdate
	}
	var out *Version
	var target string
	err = s.callFor(ctx, "ImportCryptoKeyVersion", perm, res, false, &target, func() error {
		// The job is a second resource with a permission of its own,
		// also checked before any lookup.
		if err := s.authz.Authorize(ctx, PermImportJobsUseToImport, jn); err != nil {
			return err
		}
		out, err = s.importVersion(ctx, kn, vn, jn, req)
		if out != nil {
			target = out.Name
		}
		return err
	})
	return out, err
}

func (s *Service) importVersion(ctx context.Context, kn, vn, jn resource.Name, req ImportRequest) (*Version, error) {
	a := req.Algorithm
	if a == "" {
		return nil, kmserr.InvalidArgument("algorithm", "is required")
	}
	spec, ok := alg.Lookup(a)
	if !ok {
		return nil, kmserr.InvalidArgument("algorithm", "unsupported algorithm %s", a)
	}
	if len(req.WrappedKey) == 0 {
		return nil, kmserr.InvalidArgument("wrapped_key", "is required")
	}
	if len(req.WrappedKey) > maxWrappedKey {
		return nil, kmserr.InvalidArgument("wrapped_key", "is %d bytes; the limit is %d", len(req.WrappedKey), maxWrappedKey)
	}
	if jn.Parent() != kn.Parent() {
		return nil, kmserr.InvalidArgument("import_job", "ImportJob %s is not in key ring %s of the key", jn, kn.Parent())
	}

	j, _, err := s.readImportJob(ctx, s.store, jn.String())
	if err != nil {
		return nil, err
	}
	j = s.noticeExpiry(ctx, j)
	switch j.State {
	case ImportJobActive:
	case ImportJobExpired:
		return nil, kmserr.FailedPrecondition("ImportJob %s expired at %s; create a new import job and wrap the key again",
			j.Name, j.ExpireTime.Format(time.RFC3339))
	default:
		return nil, kmserr.FailedPrecondition("ImportJob %s is %s, not ACTIVE", j.Name, j.State)
	}
	k, err := s.loadKey(ctx, kn)
	if err != nil {
		return nil, err
	}
	if err := checkAlgorithm("algorithm", k.Purpose, a); err != nil {
		return nil, err
	}
	if j.ProtectionLevel != k.Template.ProtectionLevel {
		return nil, kmserr.InvalidArgument("import_job", "ImportJob %s has protection level %s, but CryptoKey %s has %s",
			j.Name, j.ProtectionLevel, k.Name, k.Template.ProtectionLevel)
	}
	if vn.Kind == resource.KindCryptoKeyVersion {
		v, _, err := s.readVersion(ctx, s.store, vn.String())
		if err != nil {
			return nil, err
		}
		if err := checkReimport(v, a); err != nil {
			return nil, err
		}
	}

	material, reason, err := s.openWrapped(j, a, spec, req.WrappedKey)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	if vn.Kind == resource.KindCryptoKeyVersion {
		if reason != "" {
			return nil, kmserr.InvalidArgument("wrapped_key", "%s; CryptoKeyVersion %s is unchanged", reason, vn)
		}
		return s.reimport(ctx, kn, vn, j.Name, a, material)
	}
	return s.addImported(ctx, kn, j.Name, a, material, reason)
}

// checkReimport refuses a re-import into v of material for algorithm a
// where Cloud KMS refuses it: v must have been imported, be DESTROYED (and
// eligible) or IMPORT_FAILED, and keep its algorithm if it ever held
// material.
func checkReimport(v *Version, a alg.Algorithm) error {
	if v.ImportJob == "" {
		return kmserr.FailedPrecondition("CryptoKeyVersion %s was not imported; only imported versions can be re-imported", v.Name)
	}
	if !(v.State == Destroyed && v.ReimportEligible) && v.State != ImportFailed {
		return kmserr.FailedPrecondition("CryptoKeyVersion %s is %s; only a DESTROYED or IMPORT_FAILED version can be re-imported", v.Name, v.State)
	}
	if len(v.Fingerprint) > 0 && v.Algorithm != a {
		return kmserr.InvalidArgument("algorithm", "CryptoKeyVersion %s held %s material; a re-import must bring the same key with the same algorithm", v.Name, v.Algorithm)
	}
	return nil
}

// openWrapped unwraps wrapped with the job's private key and checks the
// material against the algorithm. It returns the material in the form it
// is stored (raw bytes, or PKCS#8 DER as x509 encodes it), or a failure
// reason for an IMPORT_FAILED version; err is only for a broken job record.
// The material must be kept secret and cleared by the caller.
func (s *Service) openWrapped(j *importJobRecord, a alg.Algorithm, spec alg.Spec, wrapped []byte) (material []byte, reason string, err error) {
	m, ok := importMethods[j.ImportMethod]
	if !ok {
		return nil, "", kmserr.DataLoss(nil, "ImportJob %s has unknown import method %s", j.Name, j.ImportMethod)
	}
	der, err := s.ks.Unseal(j.Name, j.PrivateKey)
	if err != nil {
		s.log.Error("import job key failed its integrity check", "job", j.Name)
		return nil, "", kmserr.DataLoss(err, "the wrapping key of %s failed its integrity check", j.Name)
	}
	defer clear(der)
	k, err := asym.ParsePKCS8(der)
	if err != nil {
		return nil, "", kmserr.DataLoss(err, "the wrapping key of %s cannot be read", j.Name)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, "", kmserr.DataLoss(nil, "the wrapping key of %s is not an RSA key", j.Name)
	}
	raw, reason := unwrapImport(priv, m, spec, wrapped)
	if reason != "" {
		return nil, reason, nil
	}
	defer clear(raw)
	material, reason = checkMaterial(a, spec, raw)
	return material, reason, nil
}

// unwrapImport opens wrapped_key with the job's private key priv, as method
// m says, and returns the formatted key material (secret), or the reason
// why it cannot. spec is the algorithm being imported: for a symmetric key,
// whose length is known, a wrapped key of the wrong length is refused
// before any unwrapping (Cloud KMS's "length errors").
func unwrapImport(priv *rsa.PrivateKey, m importMethod, spec alg.Spec, wrapped []byte) ([]byte, string) {
	k := priv.Size()
	if !m.aes {
		if len(wrapped) != k {
			return nil, fmt.Sprintf("Wrapped key has invalid length: %d bytes, but this import method takes one %d-byte RSA-OAEP ciphertext", len(wrapped), k)
		}
		pt, err := oaep.Decrypt(priv, m.hash, wrapped, nil)
		if err != nil {
			return nil, reasonUnwrap
		}
		return pt, ""
	}
	// CKM_RSA_AES_KEY_WRAP: the RSA-OAEP ciphertext of the AES key is as
	// long as the modulus, and the AES-KWP output (RFC 5649 section 4.1)
	// is whole 64-bit blocks, at least two.
	if len(wrapped) < k+16 {
		return nil, fmt.Sprintf("Wrapped key is too short: %d bytes, but this import method takes a %d-byte RSA-OAEP ciphertext followed by at least 16 bytes of AES-KWP", len(wrapped), k)
	}
	kwp := wrapped[k:]
	if len(kwp)%8 != 0 {
		return nil, fmt.Sprintf("Wrapped key does not consist of 64-bit blocks: %d bytes of AES-KWP after the %d-byte RSA-OAEP ciphertext", len(kwp), k)
	}
	if n := spec.KeyBytes(); n > 0 {
		if want := 8 + (n+7)&^7; len(kwp) != want {
			return nil, fmt.Sprintf("Wrapped key has invalid length: a %d-byte key wraps to %d bytes of AES-KWP, not %d", n, want, len(kwp))
		}
	}
	aesKey, err := oaep.Decrypt(priv, m.hash, wrapped[:k], nil)
	good := err == nil && len(aesKey) == 32
	kek := aesKey
	if !good {
		// Unwrap anyway, under a key of zeros, so that how long the call
		// takes does not tell a failed RSA-OAEP step from a failed
		// AES-KWP step. The result is thrown away.
		kek = make([]byte, 32)
	}
	material, err := keywrap.UnwrapPad(kek, kwp)
	clear(aesKey)
	if !good || err != nil {
		clear(material)
		return nil, reasonUnwrap
	}
	return material, ""
}

// checkMaterial checks unwrapped material against algorithm a (Cloud KMS's
// formats: raw bytes of the key's length for symmetric keys, a DER PKCS#8
// private key of the algorithm's type and size for asymmetric ones), and
// returns it as Custos stores it: a copy of the raw bytes, or the key
// re-encoded by x509.MarshalPKCS8PrivateKey, so that the same key always
// has the same stored form and fingerprint. Otherwise it returns the reason.
func checkMaterial(a alg.Algorithm, spec alg.Spec, raw []byte) ([]byte, string) {
	if n := spec.KeyBytes(); n > 0 {
		if len(raw) != n {
			return nil, fmt.Sprintf("Wrapped key has invalid length: the unwrapped key is %d bytes, but %s takes a %d-byte key", len(raw), a, n)
		}
		return append([]byte(nil), raw...), ""
	}
	want, ok := keyType(spec)
	if !ok {
		return nil, fmt.Sprintf("Algorithm %s cannot be imported", a)
	}
	priv, err := asym.ParsePKCS8(raw)
	switch {
	case errors.Is(err, asym.ErrUnsupported):
		return nil, fmt.Sprintf("The unwrapped key is a PKCS#8 private key of a type Custos does not support; %s takes a %s key", a, want)
	case err != nil:
		return nil, fmt.Sprintf("The unwrapped key is not a DER-encoded PKCS#8 private key (RFC 5208), which %s requires", a)
	}
	if err := asym.CheckType(priv, want); err != nil {
		got := "an unsupported size or curve"
		if t, err := asym.TypeOf(priv.Public()); err == nil {
			got = t.String()
		}
		return nil, fmt.Sprintf("The unwrapped key is a %s key, but %s takes a %s key", got, a, want)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Sprintf("The unwrapped key cannot be encoded as PKCS#8 for %s", a)
	}
	return der, ""
}

// addImported adds the next version of the key: ENABLED around material,
// or IMPORT_FAILED with reason and no material when reason is set.
func (s *Service) addImported(ctx context.Context, kn resource.Name, job string, a alg.Algorithm, material []byte, reason string) (*Version, error) {
	var out *Version
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		k, rec, err := s.readKey(ctx, tx, kn.String())
		if err != nil {
			return nil, err
		}
		c := *k
		c.LastVersion++
		now := s.now().UTC()
		name := kn.VersionName(c.LastVersion).String()
		var v *Version
		if reason != "" {
			v = &Version{
				Name: name, State: ImportFailed, Algorithm: a, ProtectionLevel: c.Template.ProtectionLevel,
				CreateTime: now, ImportJob: job, ImportFailureReason: reason,
			}
		} else {
			v = s.makeVersion(name, a, c.Template.ProtectionLevel, material, now)
			v.ImportJob, v.ImportTime = job, now
			if c.Purpose == alg.EncryptDecrypt && c.Primary == 0 {
				c.Primary = c.LastVersion
			}
		}
		if err := s.storeNewVersion(ctx, tx, &c, rec, v); err != nil {
			return nil, err
		}
		out = v
		return []string{c.Name, name}, nil
	})
	if err != nil {
		return nil, err
	}
	v := *out
	v.Material = nil
	return &v, nil
}

// reimport puts material back into the version vn, which must still be
// eligible (checked again in the transaction) and, if it ever held
// material, must get the same material back: the fingerprints are
// compared in constant time.
func (s *Service) reimport(ctx context.Context, kn, vn resource.Name, job string, a alg.Algorithm, material []byte) (*Version, error) {
	fp := s.fingerprint(material)
	var out *Version
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		v, rec, err := s.readVersion(ctx, tx, vn.String())
		if err != nil {
			return nil, err
		}
		if err := checkReimport(v, a); err != nil {
			return nil, err
		}
		if len(v.Fingerprint) > 0 && !hmac.Equal(fp, v.Fingerprint) {
			return nil, kmserr.InvalidArgument("wrapped_key",
				"the key material is not the material CryptoKeyVersion %s held; a re-import must bring back the same key", v.Name)
		}
		now := s.now().UTC()
		fresh := s.makeVersion(v.Name, a, v.ProtectionLevel, material, now)
		c := *v
		c.State, c.Algorithm = Enabled, a
		c.Material, c.Fingerprint = fresh.Material, fresh.Fingerprint
		if c.GenerateTime.IsZero() {
			c.GenerateTime = now
		}
		c.ImportJob, c.ImportTime = job, now
		c.ImportFailureReason, c.ReimportEligible = "", false
		c.DestroyTime, c.DestroyEventTime = time.Time{}, time.Time{}
		newRec, err := s.versionRecord(&c, rec.Parent)
		if err != nil {
			return nil, err
		}
		newRec.Rev = rec.Rev
		if err := tx.Put(ctx, newRec); err != nil {
			return nil, storeErr(err, "CryptoKeyVersion", c.Name)
		}
		touched := []string{c.Name}
		k, krec, err := s.readKey(ctx, tx, kn.String())
		if err != nil {
			return nil, err
		}
		if k.Purpose == alg.EncryptDecrypt && k.Primary == 0 {
			ck := *k
			ck.Primary = vn.Version
			newKey, err := s.keyRecord(&ck, krec.Parent)
			if err != nil {
				return nil, err
			}
			newKey.Rev = krec.Rev
			if err := tx.Put(ctx, newKey); err != nil {
				return nil, storeErr(err, "CryptoKey", ck.Name)
			}
			touched = append(touched, ck.Name)
		}
		out = &c
		return touched, nil
	})
	if err != nil {
		return nil, err
	}
	v := *out
	v.Material = nil
	return &v, nil
}
