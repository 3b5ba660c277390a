// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/iam"
)

// matrixPlaintext is what the matrix encrypts, signs and MACs.
var matrixPlaintext = []byte("authorization matrix")

// ringFixture names the resources of one key ring that the matrix calls
// methods on, and the data the calls need.
type ringFixture struct {
	loc, ring string
	// Keys: sym ENCRYPT_DECRYPT; raw RAW_ENCRYPT_DECRYPT AES-256-GCM; sign
	// EC P-256; adec RSA-OAEP-2048; mac HMAC-SHA256; ds ENCRYPT_DECRYPT with
	// version 2 scheduled for destruction; grow without versions.
	sym, raw, sign, adec, mac, ds, grow string
	// job is an ACTIVE import job of the key ring.
	job string

	ct           []byte // Encrypt(sym, matrixPlaintext)
	rawCT, rawIV []byte // RawEncrypt(raw/1, matrixPlaintext)
	rawTagLen    int32
	adecCT       []byte // RSA-OAEP-SHA256 of matrixPlaintext under adec/1
	macTag       []byte // MacSign(mac/1, matrixPlaintext)

	// missing: every name above is of a resource that does not exist.
	missing bool
}

// makeRingFixture creates a key ring with the keys of ringFixture, as the
// admin.
func makeRingFixture(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, loc, id string) *ringFixture {
	t.Helper()
	ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: loc, KeyRingId: id})
	if err != nil {
		t.Fatalf("CreateKeyRing(%s/keyRings/%s) = %v", loc, id, err)
	}
	f := &ringFixture{loc: loc, ring: ring.GetName()}
	create := func(id string, p purpose, alg algorithm, skip bool) string {
		ck := &kmspb.CryptoKey{Purpose: p}
		if alg != 0 {
			ck.VersionTemplate = &kmspb.CryptoKeyVersionTemplate{Algorithm: alg}
		}
		k, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: f.ring, CryptoKeyId: id, CryptoKey: ck, SkipInitialVersionCreation: skip})
		if err != nil {
			t.Fatalf("CreateCryptoKey(%s/cryptoKeys/%s) = %v", f.ring, id, err)
		}
		return k.GetName()
	}
	f.sym = create("sym", encryptDecrypt, 0, false)
	f.raw = create("raw", rawEncryptDecrypt, kmspb.CryptoKeyVersion_AES_256_GCM, false)
	f.sign = create("sign", asymmetricSign, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, false)
	f.adec = create("adec", asymmetricDecrypt, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA256, false)
	f.mac = create("mac", macPurpose, kmspb.CryptoKeyVersion_HMAC_SHA256, false)
	f.ds = create("ds", encryptDecrypt, 0, false)
	f.grow = create("grow", encryptDecrypt, 0, true)

	enc, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: f.sym, Plaintext: matrixPlaintext})
	if err != nil {
		t.Fatalf("Encrypt(%s) = %v", f.sym, err)
	}
	f.ct = enc.GetCiphertext()
	raw, err := c.RawEncrypt(ctx, &kmspb.RawEncryptRequest{Name: versionName(f.raw, 1), Plaintext: matrixPlaintext})
	if err != nil {
		t.Fatalf("RawEncrypt(%s) = %v", versionName(f.raw, 1), err)
	}
	f.rawCT, f.rawIV, f.rawTagLen = raw.GetCiphertext(), raw.GetInitializationVector(), raw.GetTagLength()
	pub, _ := getPublicKey(t, ctx, c, versionName(f.adec, 1))
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("GetPublicKey(%s) is a %T, want an RSA key", versionName(f.adec, 1), pub)
	}
	if f.adecCT, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaPub, matrixPlaintext, nil); err != nil {
		t.Fatal(err)
	}
	mac, err := c.MacSign(ctx, &kmspb.MacSignRequest{Name: versionName(f.mac, 1), Data: matrixPlaintext})
	if err != nil {
		t.Fatalf("MacSign(%s) = %v", versionName(f.mac, 1), err)
	}
	f.macTag = mac.GetMac()
	if _, err := c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: f.ds}); err != nil {
		t.Fatalf("CreateCryptoKeyVersion(%s) = %v", f.ds, err)
	}
	if _, err := c.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: versionName(f.ds, 2)}); err != nil {
		t.Fatalf("DestroyCryptoKeyVersion(%s) = %v", versionName(f.ds, 2), err)
	}
	job, err := c.CreateImportJob(ctx, &kmspb.CreateImportJobRequest{Parent: f.ring, ImportJobId: "job", ImportJob: &kmspb.ImportJob{
		ImportMethod: kmspb.ImportJob_RSA_OAEP_3072_SHA256, ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}})
	if err != nil {
		t.Fatalf("CreateImportJob(%s/importJobs/job) = %v", f.ring, err)
	}
	f.job = job.GetName()
	return f
}

// missingTwin returns f with the names of resources that do not exist: a
// key ring that does not exist in f's location, and keys that do not exist
// in f's key ring (so that a binding on f's key ring covers them).
func (f *ringFixture) missingTwin() *ringFixture {
	m := *f
	m.missing = true
	m.ring = f.loc + "/keyRings/no-such-ring"
	for _, k := range []*string{&m.sym, &m.raw, &m.sign, &m.adec, &m.mac, &m.ds, &m.grow} {
		*k = f.ring + "/cryptoKeys/no-such-" + path.Base(*k)
	}
	m.job = f.ring + "/importJobs/no-such-job"
	return &m
}

// matrixMethod is one method of the matrix: the permission Cloud KMS's REST
// reference says it requires ("Authorization requires the following IAM
// permission on the specified resource ..."), the resource it is checked
// on, and how to call it on a fixture.
type matrixMethod struct {
	name string
	perm string // "" for TestIamPermissions, which needs none
	// parent: the request names the parent (or the location), not the
	// resource itself.
	parent bool
	// location: checked on a location, which always exists (no missing
	// target).
	location bool
	// on is the resource the permission is checked on.
	on func(f *ringFixture) string
	// perm2 and on2, if set, are a second permission the method requires,
	// on a second resource, checked after the first.
	perm2 string
	on2   func(f *ringFixture) string
	// call calls the method; TestIamPermissions returns the permissions
	// granted.
	call func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error)
	// once lists the codes an authorized call on an existing resource may
	// end with; nil means OK only.
	once []codes.Code
}

// rpcName is the gRPC method name ("GetIamPolicy" for "GetIamPolicy(keyRing)").
func (m matrixMethod) rpcName() string {
	n, _, _ := strings.Cut(m.name, "(")
	return n
}

func (m matrixMethod) target() string {
	if m.parent {
		return "parent"
	}
	return "resource"
}

// noPerms adapts a method's answer to matrixMethod.call.
func noPerms[T any](_ T, err error) ([]string, error) { return nil, err }

// firstPage reads the first item of a list, so that an empty list is not
// an error.
func firstPage[T any](next func() (T, error)) ([]string, error) {
	_, err := next()
	if errors.Is(err, iterator.Done) {
		err = nil
	}
	return nil, err
}

// listAllNames collects the names of every item of a list.
func listAllNames[T interface{ GetName() string }](next func() (T, error)) ([]string, error) {
	names := []string{}
	for {
		x, err := next()
		if errors.Is(err, iterator.Done) {
			return names, nil
		}
		if err != nil {
			return names, err
		}
		names = append(names, x.GetName())
	}
}

func fxJob(f *ringFixture) string  { return f.job }
func fxGrow(f *ringFixture) string { return f.grow }
func fxLoc(f *ringFixture) string  { return f.loc }
func fxRing(f *ringFixture) string { return f.ring }
func fxSym(f *ringFixture) string  { return f.sym }
func fxVersion(key func(*ringFixture) string, n int) func(*ringFixture) string {
	return func(f *ringFixture) string { return versionName(key(f), n) }
}

// staleEtag is an etag that no policy has: SetIamPolicy with it, once
// authorized, is ABORTED and changes nothing.
var staleEtag = []byte("stale etag of the authorization matrix")

// matrixMethods are the KMS methods Custos implements and the IAM mixin,
// with the permission of each method's "Authorization requires" line in
// the Cloud KMS REST reference (https://cloud.google.com/kms/docs/reference/rest).
// Calls that would change something are made so that, once authorized,
// they fail or change nothing, so that the matrix can run in any order.
var matrixMethods = []matrixMethod{
	{name: "CreateKeyRing", perm: "cloudkms.keyRings.create", parent: true, location: true, on: fxLoc,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// The key ring exists: ALREADY_EXISTS once authorized.
			return noPerms(c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: f.loc, KeyRingId: path.Base(f.ring)}))
		}, once: []codes.Code{codes.AlreadyExists}},
	{name: "ListKeyRings", perm: "cloudkms.keyRings.list", parent: true, location: true, on: fxLoc,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return firstPage(c.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: f.loc}).Next)
		}},
	{name: "GenerateRandomBytes", perm: "cloudkms.locations.generateRandomBytes", parent: true, location: true, on: fxLoc,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GenerateRandomBytes(ctx, &kmspb.GenerateRandomBytesRequest{Location: f.loc, LengthBytes: 16, ProtectionLevel: kmspb.ProtectionLevel_HSM}))
		}},
	{name: "GetKeyRing", perm: "cloudkms.keyRings.get", on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: f.ring}))
		}},
	{name: "CreateCryptoKey", perm: "cloudkms.cryptoKeys.create", parent: true, on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
				Parent: f.ring, CryptoKeyId: "created", CryptoKey: &kmspb.CryptoKey{Purpose: encryptDecrypt}, SkipInitialVersionCreation: true,
			}))
		}, once: []codes.Code{codes.OK, codes.AlreadyExists}},
	{name: "ListCryptoKeys", perm: "cloudkms.cryptoKeys.list", parent: true, on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return firstPage(c.ListCryptoKeys(ctx, &kmspb.ListCryptoKeysRequest{Parent: f.ring}).Next)
		}},
	{name: "GetCryptoKey", perm: "cloudkms.cryptoKeys.get", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: f.sym}))
		}},
	{name: "UpdateCryptoKey", perm: "cloudkms.cryptoKeys.update", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.UpdateCryptoKey(ctx, &kmspb.UpdateCryptoKeyRequest{
				CryptoKey: &kmspb.CryptoKey{Name: f.sym, Labels: map[string]string{"matrix": "yes"}}, UpdateMask: fieldMask("labels"),
			}))
		}},
	{name: "UpdateCryptoKeyPrimaryVersion", perm: "cloudkms.cryptoKeys.update", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: f.sym, CryptoKeyVersionId: "1"}))
		}},
	{name: "CreateCryptoKeyVersion", perm: "cloudkms.cryptoKeyVersions.create", parent: true, on: func(f *ringFixture) string { return f.grow },
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: f.grow}))
		}},
	{name: "ListCryptoKeyVersions", perm: "cloudkms.cryptoKeyVersions.list", parent: true, on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return firstPage(c.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: f.sym}).Next)
		}},
	{name: "GetCryptoKeyVersion", perm: "cloudkms.cryptoKeyVersions.get", on: fxVersion(fxSym, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: versionName(f.sym, 1)}))
		}},
	{name: "UpdateCryptoKeyVersion", perm: "cloudkms.cryptoKeyVersions.update", on: fxVersion(fxSym, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// Version 1 is enabled: setting ENABLED changes nothing.
			return noPerms(c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
				CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: versionName(f.sym, 1), State: enabled}, UpdateMask: fieldMask("state"),
			}))
		}},
	{name: "DestroyCryptoKeyVersion", perm: "cloudkms.cryptoKeyVersions.destroy", on: fxVersion(func(f *ringFixture) string { return f.ds }, 2),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// ds version 2 is already scheduled for destruction.
			return noPerms(c.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: versionName(f.ds, 2)}))
		}, once: []codes.Code{codes.FailedPrecondition}},
	{name: "RestoreCryptoKeyVersion", perm: "cloudkms.cryptoKeyVersions.restore", on: fxVersion(func(f *ringFixture) string { return f.ds }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// ds version 1 is enabled: nothing to restore.
			return noPerms(c.RestoreCryptoKeyVersion(ctx, &kmspb.RestoreCryptoKeyVersionRequest{Name: versionName(f.ds, 1)}))
		}, once: []codes.Code{codes.FailedPrecondition}},
	{name: "GetPublicKey", perm: "cloudkms.cryptoKeyVersions.viewPublicKey", on: fxVersion(func(f *ringFixture) string { return f.sign }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: versionName(f.sign, 1)}))
		}},
	{name: "Encrypt", perm: "cloudkms.cryptoKeyVersions.useToEncrypt", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.Encrypt(ctx, &kmspb.EncryptRequest{Name: f.sym, Plaintext: matrixPlaintext}))
		}},
	{name: "Decrypt", perm: "cloudkms.cryptoKeyVersions.useToDecrypt", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.Decrypt(ctx, &kmspb.DecryptRequest{Name: f.sym, Ciphertext: f.ct}))
		}},
	{name: "RawEncrypt", perm: "cloudkms.cryptoKeyVersions.useToEncrypt", on: fxVersion(func(f *ringFixture) string { return f.raw }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.RawEncrypt(ctx, &kmspb.RawEncryptRequest{Name: versionName(f.raw, 1), Plaintext: matrixPlaintext}))
		}},
	{name: "RawDecrypt", perm: "cloudkms.cryptoKeyVersions.useToDecrypt", on: fxVersion(func(f *ringFixture) string { return f.raw }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.RawDecrypt(ctx, &kmspb.RawDecryptRequest{
				Name: versionName(f.raw, 1), Ciphertext: f.rawCT, InitializationVector: f.rawIV, TagLength: f.rawTagLen,
			}))
		}},
	{name: "AsymmetricSign", perm: "cloudkms.cryptoKeyVersions.useToSign", on: fxVersion(func(f *ringFixture) string { return f.sign }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			d := sha256.Sum256(matrixPlaintext)
			return noPerms(c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{
				Name: versionName(f.sign, 1), Digest: &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: d[:]}},
			}))
		}},
	{name: "AsymmetricDecrypt", perm: "cloudkms.cryptoKeyVersions.useToDecrypt", on: fxVersion(func(f *ringFixture) string { return f.adec }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.AsymmetricDecrypt(ctx, &kmspb.AsymmetricDecryptRequest{Name: versionName(f.adec, 1), Ciphertext: f.adecCT}))
		}},
	{name: "MacSign", perm: "cloudkms.cryptoKeyVersions.useToSign", on: fxVersion(func(f *ringFixture) string { return f.mac }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.MacSign(ctx, &kmspb.MacSignRequest{Name: versionName(f.mac, 1), Data: matrixPlaintext}))
		}},
	{name: "MacVerify", perm: "cloudkms.cryptoKeyVersions.useToVerify", on: fxVersion(func(f *ringFixture) string { return f.mac }, 1),
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.MacVerify(ctx, &kmspb.MacVerifyRequest{Name: versionName(f.mac, 1), Data: matrixPlaintext, Mac: f.macTag}))
		}},
	{name: "CreateImportJob", perm: "cloudkms.importJobs.create", parent: true, on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// Once authorized: NOT_FOUND in a missing key ring; elsewhere an
			// id that is not valid, so that no key pair is generated.
			id := "invalid id!"
			if f.missing {
				id = "job2"
			}
			return noPerms(c.CreateImportJob(ctx, &kmspb.CreateImportJobRequest{Parent: f.ring, ImportJobId: id, ImportJob: &kmspb.ImportJob{
				ImportMethod: kmspb.ImportJob_RSA_OAEP_3072_SHA256, ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
			}}))
		}, once: []codes.Code{codes.InvalidArgument}},
	{name: "GetImportJob", perm: "cloudkms.importJobs.get", on: fxJob,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetImportJob(ctx, &kmspb.GetImportJobRequest{Name: f.job}))
		}},
	{name: "ListImportJobs", perm: "cloudkms.importJobs.list", parent: true, on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return firstPage(c.ListImportJobs(ctx, &kmspb.ListImportJobsRequest{Parent: f.ring}).Next)
		}},
	{name: "ImportCryptoKeyVersion", perm: "cloudkms.cryptoKeyVersions.create", parent: true, on: fxGrow,
		perm2: "cloudkms.importJobs.useToImport", on2: fxJob,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// A signing algorithm for an ENCRYPT_DECRYPT key: refused once
			// authorized, and nothing is made.
			return noPerms(c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{
				Parent: f.grow, ImportJob: f.job, Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256,
				WrappedKeyMaterial: &kmspb.ImportCryptoKeyVersionRequest_RsaAesWrappedKey{RsaAesWrappedKey: make([]byte, 552)},
			}))
		}, once: []codes.Code{codes.InvalidArgument}},
	{name: "ImportCryptoKeyVersion(reimport)", perm: "cloudkms.cryptoKeyVersions.update", on: fxVersion(fxSym, 1),
		perm2: "cloudkms.importJobs.useToImport", on2: fxJob,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			// sym version 1 was not imported: nothing to re-import.
			return noPerms(c.ImportCryptoKeyVersion(ctx, &kmspb.ImportCryptoKeyVersionRequest{
				Parent: f.sym, CryptoKeyVersion: versionName(f.sym, 1), ImportJob: f.job,
				Algorithm:          kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION,
				WrappedKeyMaterial: &kmspb.ImportCryptoKeyVersionRequest_RsaAesWrappedKey{RsaAesWrappedKey: make([]byte, 552)},
			}))
		}, once: []codes.Code{codes.InvalidArgument, codes.FailedPrecondition}},
	{name: "GetIamPolicy(keyRing)", perm: "cloudkms.keyRings.getIamPolicy", on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: f.ring}))
		}},
	{name: "GetIamPolicy(cryptoKey)", perm: "cloudkms.cryptoKeys.getIamPolicy", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: f.sym}))
		}},
	{name: "SetIamPolicy(keyRing)", perm: "cloudkms.keyRings.setIamPolicy", on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: f.ring, Policy: &iampb.Policy{Etag: staleEtag}}))
		}, once: []codes.Code{codes.Aborted}},
	{name: "SetIamPolicy(cryptoKey)", perm: "cloudkms.cryptoKeys.setIamPolicy", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: f.sym, Policy: &iampb.Policy{Etag: staleEtag}}))
		}, once: []codes.Code{codes.Aborted}},
	{name: "GetIamPolicy(importJob)", perm: "cloudkms.importJobs.getIamPolicy", on: fxJob,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: f.job}))
		}},
	{name: "SetIamPolicy(importJob)", perm: "cloudkms.importJobs.setIamPolicy", on: fxJob,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			return noPerms(c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: f.job, Policy: &iampb.Policy{Etag: staleEtag}}))
		}, once: []codes.Code{codes.Aborted}},
	{name: "TestIamPermissions(importJob)", on: fxJob,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			r, err := c.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: f.job, Permissions: tipAsked()})
			return r.GetPermissions(), err
		}},
	{name: "TestIamPermissions(keyRing)", on: fxRing,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			r, err := c.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: f.ring, Permissions: tipAsked()})
			return r.GetPermissions(), err
		}},
	{name: "TestIamPermissions(cryptoKey)", on: fxSym,
		call: func(ctx context.Context, c *kms.KeyManagementClient, f *ringFixture) ([]string, error) {
			r, err := c.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: f.sym, Permissions: tipAsked()})
			return r.GetPermissions(), err
		}},
}

// tipAskedList is what the matrix asks TestIamPermissions: every
// permission of the matrix, Custos's own, and one that no role has. It is
// set by init, as it is computed from matrixMethods.
var tipAskedList []string

func init() {
	for _, m := range matrixMethods {
		for _, p := range []string{m.perm, m.perm2} {
			if p != "" && !slices.Contains(tipAskedList, p) {
				tipAskedList = append(tipAskedList, p)
			}
		}
	}
	tipAskedList = append(tipAskedList, iam.PermExport, iam.PermEKMWrap, "cloudkms.cryptoKeyVersions.useToNothing")
}

func tipAsked() []string { return slices.Clone(tipAskedList) }

// roleGrants reports whether the published role table gives role perm.
func roleGrants(role, perm string) bool {
	return perm != "" && slices.Contains(iam.Permissions(role), perm)
}

// bindingCovers reports whether a binding on binding applies to name: name is
// binding or below it.
func bindingCovers(binding, name string) bool {
	return name == binding || strings.HasPrefix(name, binding+"/")
}

// roleSlug turns roles/cloudkms.cryptoKeyEncrypter into
// cloudkms-cryptokeyencrypter, for app names.
func roleSlug(role string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(role, "roles/"), ".", "-"))
}

// checkMatrixCall calls m on f as a caller holding role through a binding
// on binding, and checks the outcome against the role table.
func checkMatrixCall(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, role, binding string, m matrixMethod, f *ringFixture) {
	t.Helper()
	on := m.on(f)
	got, err := m.call(ctx, c, f)
	call := m.name + "(" + on + ") as " + role + " on " + binding
	if m.perm == "" {
		// TestIamPermissions needs no permission: it answers the subset
		// the caller holds, and nothing on a missing resource.
		if err != nil {
			t.Errorf("%s = %v, want success", call, err)
			return
		}
		want := []string{}
		if !f.missing && bindingCovers(binding, on) {
			for _, p := range tipAsked() {
				if roleGrants(role, p) {
					want = append(want, p)
				}
			}
		}
		if got == nil {
			got = []string{}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s = %q, want %q (-want +got):\n%s", call, got, want, diff)
		}
		return
	}
	// The first permission the caller lacks is the one refused.
	deniedPerm, deniedOn := "", ""
	if !roleGrants(role, m.perm) || !bindingCovers(binding, on) {
		deniedPerm, deniedOn = m.perm, on
	} else if m.perm2 != "" && (!roleGrants(role, m.perm2) || !bindingCovers(binding, m.on2(f))) {
		deniedPerm, deniedOn = m.perm2, m.on2(f)
	}
	code := codeOf(t, err)
	switch {
	case deniedPerm != "":
		if code != codes.PermissionDenied {
			t.Errorf("%s = %v (code %v), want PERMISSION_DENIED: %s is not granted on %s", call, err, code, deniedPerm, deniedOn)
		} else if msg, want := messageOf(err), deniedMessage(deniedPerm, deniedOn); msg != want {
			t.Errorf("%s: message %q, want %q", call, msg, want)
		}
	case f.missing:
		if code != codes.NotFound {
			t.Errorf("%s = %v (code %v), want NOT_FOUND: the caller holds %s and the resource does not exist", call, err, code, m.perm)
		}
	default:
		want := m.once
		if want == nil {
			want = []codes.Code{codes.OK}
		}
		if !slices.Contains(want, code) {
			t.Errorf("%s = %v (code %v), want it allowed past authorization (%v): %s is granted on %s", call, err, code, want, m.perm, on)
		}
	}
}

// runMatrixRole calls every method of the matrix, as a caller holding role
// through a binding on binding, on its resource (or parent) in home, on
// the same in sibling, and on a missing resource.
func runMatrixRole(t *testing.T, c *kms.KeyManagementClient, role, binding string, home, sibling *ringFixture) {
	ctx := testContext(t)
	missing := home.missingTwin()
	for _, m := range matrixMethods {
		t.Run(m.name, func(t *testing.T) {
			targets := []struct {
				name string
				f    *ringFixture
			}{{m.target(), home}, {"sibling", sibling}}
			if !m.location {
				targets = append(targets, struct {
					name string
					f    *ringFixture
				}{"missing", missing})
			}
			for _, tg := range targets {
				t.Run(tg.name, func(t *testing.T) {
					checkMatrixCall(t, ctx, c, role, binding, m, tg.f)
				})
			}
		})
	}
}

// TestAuthzMatrix calls every KMS method and the IAM methods as an app of
// each role, bound on a key ring and on a project, on the resource, its
// parent, a sibling and a missing resource, and checks each outcome
// against the published role table.
func TestAuthzMatrix(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := testContext(t)
	admin := s.grpcClient(t)

	const project = "authz-a"
	home := makeRingFixture(t, ctx, admin, "projects/"+project+"/locations/global", "r1")
	sibRing := makeRingFixture(t, ctx, admin, "projects/"+project+"/locations/global", "r2")
	sibProject := makeRingFixture(t, ctx, admin, "projects/authz-b/locations/global", "r2")

	roles := iam.Roles()
	type bindingSet struct {
		name    string // subtest name
		binding string // where every role is bound
		prefix  string // of the app names
		sibling *ringFixture
	}
	sets := []bindingSet{
		{"on-keyRing", home.ring, "kr", sibRing},
		{"on-project", "projects/" + project, "pj", sibProject},
	}
	tokens := map[string]string{} // app → API key
	appOf := func(set bindingSet, role string) string { return set.prefix + "-" + roleSlug(role) }
	for _, set := range sets {
		bindings := map[string][]string{}
		for _, role := range roles {
			app := appOf(set, role)
			s.mustCreateApp(t, app, project)
			_, tokens[app] = s.mustAPIKey(t, app)
			bindings[role] = []string{"app:" + app}
		}
		s.mustSetPolicy(t, set.binding, bindings)
	}

	t.Run("the role table has the roles of the issue", func(t *testing.T) {
		for _, r := range []string{
			"roles/cloudkms.admin", "roles/cloudkms.viewer", "roles/cloudkms.cryptoKeyEncrypterDecrypter",
			"roles/cloudkms.cryptoKeyEncrypter", "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.signerVerifier",
			"roles/cloudkms.signer", "roles/cloudkms.publicKeyViewer", "roles/cloudkms.importer",
			"roles/custos.exporter", "roles/custos.ekmUser",
		} {
			if !slices.Contains(roles, r) {
				t.Errorf("iam.Roles() = %v, want it to hold %s", roles, r)
			}
		}
		if got, want := iam.Permissions("roles/custos.exporter"), []string{iam.PermExport}; !slices.Equal(got, want) {
			t.Errorf("iam.Permissions(roles/custos.exporter) = %v, want %v", got, want)
		}
		for _, p := range []string{"cloudkms.cryptoKeyVersions.useToEncrypt", "cloudkms.cryptoKeyVersions.useToDecrypt", "cloudkms.cryptoKeyVersions.useToSign", "cloudkms.cryptoKeyVersions.viewPublicKey"} {
			if roleGrants("roles/cloudkms.admin", p) {
				t.Errorf("roles/cloudkms.admin grants %s; Cloud KMS's admin role grants no use of keys", p)
			}
		}
	})

	t.Run("every permission of the matrix is one the server knows", func(t *testing.T) {
		for _, p := range tipAsked() {
			if want := p != "cloudkms.cryptoKeyVersions.useToNothing"; iam.KnownPermission(p) != want {
				t.Errorf("iam.KnownPermission(%q) = %v, want %v", p, !want, want)
			}
		}
	})

	t.Run("the admin API serves the role table", func(t *testing.T) {
		a := s.plainTarget().call(t, "GET", "/admin/v1/roles", "", tokens[appOf(sets[0], "roles/cloudkms.viewer")])
		if a.status != http.StatusOK {
			t.Fatalf("GET /admin/v1/roles as an app = %d %s, want 200", a.status, a.body)
		}
		var got struct {
			Roles []struct {
				Name                string   `json:"name"`
				IncludedPermissions []string `json:"includedPermissions"`
			} `json:"roles"`
		}
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		gotMap := map[string][]string{}
		for _, r := range got.Roles {
			gotMap[r.Name] = r.IncludedPermissions
		}
		wantMap := map[string][]string{}
		for _, r := range roles {
			wantMap[r] = iam.Permissions(r)
		}
		if diff := cmp.Diff(wantMap, gotMap); diff != "" {
			t.Errorf("GET /admin/v1/roles differs from iam.Permissions (-want +got):\n%s", diff)
		}
	})

	t.Run("every KMS method is in the matrix or unimplemented", func(t *testing.T) {
		conn, err := grpc.NewClient(s.grpcAddr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(bearer{s.token}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := reflect.ValueOf(kmspb.NewKeyManagementServiceClient(conn))
		inMatrix := map[string]bool{}
		for _, m := range matrixMethods {
			inMatrix[m.rpcName()] = true
		}
		server := reflect.TypeFor[kmspb.KeyManagementServiceServer]()
		var unimplemented []string
		for i := range server.NumMethod() {
			name := server.Method(i).Name
			if inMatrix[name] {
				delete(inMatrix, name)
				continue
			}
			fn := client.MethodByName(name)
			req := reflect.New(fn.Type().In(1).Elem())
			out := fn.Call([]reflect.Value{reflect.ValueOf(ctx), req})
			err, _ := out[1].Interface().(error)
			if status.Code(err) != codes.Unimplemented {
				t.Errorf("%s(empty request) as the admin = %v: the method is served but not in the authorization matrix", name, err)
				continue
			}
			unimplemented = append(unimplemented, name)
		}
		for _, iamMethod := range []string{"GetIamPolicy", "SetIamPolicy", "TestIamPermissions"} {
			delete(inMatrix, iamMethod)
		}
		for name := range inMatrix {
			t.Errorf("matrix method %s is not a method of KeyManagementService", name)
		}
		sort.Strings(unimplemented)
		t.Logf("KeyManagementService methods Custos does not serve (UNIMPLEMENTED): %v", unimplemented)
	})

	t.Run("grpc", func(t *testing.T) {
		for _, set := range sets {
			t.Run(set.name, func(t *testing.T) {
				for _, role := range roles {
					t.Run(strings.TrimPrefix(role, "roles/"), func(t *testing.T) {
						t.Parallel()
						c := s.grpcClientAs(t, tokens[appOf(set, role)])
						runMatrixRole(t, c, role, set.binding, home, set.sibling)
					})
				}
			})
		}
	})

	t.Run("rest", func(t *testing.T) {
		// A sample of the matrix through the official REST client.
		sample := []struct {
			set   bindingSet
			roles []string
		}{
			{sets[0], []string{"roles/cloudkms.admin", "roles/cloudkms.viewer", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.signerVerifier", "roles/custos.exporter"}},
			{sets[1], []string{"roles/cloudkms.cryptoOperator"}},
		}
		for _, sm := range sample {
			t.Run(sm.set.name, func(t *testing.T) {
				for _, role := range sm.roles {
					t.Run(strings.TrimPrefix(role, "roles/"), func(t *testing.T) {
						t.Parallel()
						c := s.restClientAs(t, tokens[appOf(sm.set, role)])
						runMatrixRole(t, c, role, sm.set.binding, home, sm.set.sibling)
					})
				}
			})
		}
	})

	t.Run("lists", func(t *testing.T) {
		ctx := testContext(t)
		// An app bound as viewer on one key only.
		s.mustCreateApp(t, "key-viewer", project)
		_, kvToken := s.mustAPIKey(t, "key-viewer")
		s.mustSetPolicy(t, home.ds, map[string][]string{"roles/cloudkms.viewer": {"app:key-viewer"}})
		pj := s.grpcClientAs(t, tokens[appOf(sets[1], "roles/cloudkms.viewer")])
		kr := s.grpcClientAs(t, tokens[appOf(sets[0], "roles/cloudkms.viewer")])
		kv := s.grpcClientAs(t, kvToken)
		user := s.grpcClientAs(t, tokens[appOf(sets[0], "roles/cloudkms.cryptoKeyEncrypterDecrypter")])
		importer := s.grpcClientAs(t, tokens[appOf(sets[0], "roles/cloudkms.importer")])

		rings := func(c *kms.KeyManagementClient, parent string) func() ([]string, error) {
			return func() ([]string, error) {
				return listAllNames(c.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: parent}).Next)
			}
		}
		keys := func(c *kms.KeyManagementClient, parent string) func() ([]string, error) {
			return func() ([]string, error) {
				return listAllNames(c.ListCryptoKeys(ctx, &kmspb.ListCryptoKeysRequest{Parent: parent}).Next)
			}
		}
		versions := func(c *kms.KeyManagementClient, parent string) func() ([]string, error) {
			return func() ([]string, error) {
				return listAllNames(c.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: parent}).Next)
			}
		}
		jobs := func(c *kms.KeyManagementClient, parent string) func() ([]string, error) {
			return func() ([]string, error) {
				return listAllNames(c.ListImportJobs(ctx, &kmspb.ListImportJobsRequest{Parent: parent}).Next)
			}
		}
		getJob := func(c *kms.KeyManagementClient) func(string) error {
			return func(n string) error {
				_, err := c.GetImportJob(ctx, &kmspb.GetImportJobRequest{Name: n})
				return err
			}
		}
		getRing := func(c *kms.KeyManagementClient) func(string) error {
			return func(n string) error {
				_, err := c.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: n})
				return err
			}
		}
		getKey := func(c *kms.KeyManagementClient) func(string) error {
			return func(n string) error {
				_, err := c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: n})
				return err
			}
		}
		getVersion := func(c *kms.KeyManagementClient) func(string) error {
			return func(n string) error {
				_, err := c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: n})
				return err
			}
		}
		cases := []struct {
			name string
			list func() ([]string, error)
			// asAdmin lists the same as the admin; nil when refused.
			asAdmin func() ([]string, error)
			get     func(string) error // each item must be readable by the caller
		}{
			{"project viewer lists the key rings of its project", rings(pj, home.loc), rings(admin, home.loc), getRing(pj)},
			{"project viewer is refused the key rings of another project", rings(pj, sibProject.loc), nil, nil},
			{"key ring viewer is refused the key rings of the location", rings(kr, home.loc), nil, nil},
			{"key ring viewer lists the keys of its key ring", keys(kr, home.ring), keys(admin, home.ring), getKey(kr)},
			{"key ring viewer lists the versions of a key of its key ring", versions(kr, home.ds), versions(admin, home.ds), getVersion(kr)},
			{"key ring viewer is refused the keys of a sibling key ring", keys(kr, sibRing.ring), nil, nil},
			{"key viewer lists the versions of its key", versions(kv, home.ds), versions(admin, home.ds), getVersion(kv)},
			{"key viewer is refused the keys of the key ring", keys(kv, home.ring), nil, nil},
			{"key viewer is refused the versions of a sibling key", versions(kv, home.sym), nil, nil},
			{"encrypter-decrypter on the key ring is refused its keys", keys(user, home.ring), nil, nil},
			{"importer on the key ring lists its import jobs", jobs(importer, home.ring), jobs(admin, home.ring), getJob(importer)},
			{"importer on the key ring is refused its keys", keys(importer, home.ring), nil, nil},
			{"importer on the key ring is refused the import jobs of a sibling key ring", jobs(importer, sibRing.ring), nil, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := tc.list()
				if tc.asAdmin == nil {
					if code := codeOf(t, err); code != codes.PermissionDenied || len(got) != 0 {
						t.Errorf("list = %q, %v (code %v), want nothing and PERMISSION_DENIED", got, err, code)
					}
					return
				}
				if err != nil {
					t.Fatalf("list = %v, want success", err)
				}
				want, err := tc.asAdmin()
				if err != nil {
					t.Fatalf("the same list as the admin = %v", err)
				}
				if len(want) == 0 {
					t.Fatal("the admin lists nothing: the fixture is wrong")
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("list differs from the admin's (-admin +caller):\n%s", diff)
				}
				for _, n := range got {
					if err := tc.get(n); err != nil {
						t.Errorf("listed %s, but reading it as the same caller = %v", n, err)
					}
				}
			})
		}
	})
}
