// SPDX-License-Identifier: Apache-2.0

package salesforce_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/salesforce"
	"github.com/custos-kms/custos/internal/storage"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreate(t *testing.T) {
	e := newEnv(t)
	k := e.create(t, "fle-2026", "")
	if !uuidV4.MatchString(k.KID) {
		t.Errorf("kid %q is not a random UUID", k.KID)
	}
	wantKey := salesforce.DefaultLocation + "/keyRings/" + salesforce.DefaultKeyRing + "/cryptoKeys/fle-2026"
	if k.CryptoKeyVersion != wantKey+"/cryptoKeyVersions/1" {
		t.Errorf("version %s, want %s/cryptoKeyVersions/1", k.CryptoKeyVersion, wantKey)
	}
	if k.Endpoint != "https://kms.example.com/salesforce/v1/keys" {
		t.Errorf("endpoint %q", k.Endpoint)
	}
	block, _ := pem.Decode(e.cert)
	sum := sha256.Sum256(block.Bytes)
	if k.CertificateSHA256 != hex.EncodeToString(sum[:]) || k.RSABits != 2048 || !strings.Contains(k.CertificateSubject, "SFDC BYOK test") {
		t.Errorf("certificate fields %+v", k)
	}
	info, err := e.svc.GetCryptoKey(e.admin, wantKey)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Key.Exportable || info.Key.Purpose != "RAW_ENCRYPT_DECRYPT" || info.Key.Template.Algorithm != "AES_256_GCM" {
		t.Errorf("created key %+v, want an exportable RAW_ENCRYPT_DECRYPT AES_256_GCM key", info.Key)
	}

	// The key ring exists now: a second key reuses it.
	k2 := e.create(t, "fle-2027", "")
	if k2.KID == k.KID {
		t.Error("two keys got the same kid")
	}

	// By kid and by name.
	for _, id := range []string{k.KID, "fle-2026"} {
		got, err := e.keys.Get(e.admin, id)
		if err != nil || got.KID != k.KID || got.Endpoint != k.Endpoint {
			t.Errorf("Get(%s) = %+v, %v", id, got, err)
		}
	}
	list, err := e.keys.List(e.admin)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v; want 2 keys", list, err)
	}

	// An existing key, by key and by version.
	byKey := e.create(t, "by-key", e.rawKey(t, "dek", true))
	if byKey.CryptoKeyVersion != ring+"/cryptoKeys/dek/cryptoKeyVersions/1" {
		t.Errorf("by key: version %s", byKey.CryptoKeyVersion)
	}
	if _, err := e.svc.CreateCryptoKeyVersion(e.admin, ring+"/cryptoKeys/dek", "AES_256_GCM"); err != nil {
		t.Fatal(err)
	}
	byVersion := e.create(t, "by-version", ring+"/cryptoKeys/dek/cryptoKeyVersions/2")
	if byVersion.CryptoKeyVersion != ring+"/cryptoKeys/dek/cryptoKeyVersions/2" {
		t.Errorf("by version: version %s", byVersion.CryptoKeyVersion)
	}

	// Delete: by name, then the kid is gone and the name is free again.
	if _, err := e.keys.Delete(e.admin, "fle-2026"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	for _, id := range []string{k.KID, "fle-2026"} {
		if _, err := e.keys.Get(e.admin, id); kmserr.Code(err) != codes.NotFound {
			t.Errorf("Get(%s) after Delete = %v, want NOT_FOUND", id, err)
		}
	}
	if _, err := e.keys.Delete(e.admin, k.KID); kmserr.Code(err) != codes.NotFound {
		t.Errorf("second Delete = %v, want NOT_FOUND", err)
	}
	e.create(t, "fle-2026", wantKey)
}

func TestCreateRefusals(t *testing.T) {
	e := newEnv(t)
	e.create(t, "taken", "")
	exportable := e.rawKey(t, "dek", true)
	if _, err := e.svc.CreateCryptoKeyVersion(e.admin, exportable, "AES_256_GCM"); err != nil {
		t.Fatal(err)
	}
	single := e.rawKey(t, "single", true)
	if _, err := e.svc.UpdateCryptoKeyVersion(e.admin, single+"/cryptoKeyVersions/1", kms.Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	plain := e.rawKey(t, "plain", false)
	sym, err := e.svc.CreateCryptoKey(e.admin, kms.CreateKeyRequest{Parent: ring, ID: "sym", Key: kms.CryptoKey{
		Purpose: "ENCRYPT_DECRYPT", Template: kms.VersionTemplate{Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", ProtectionLevel: "SOFTWARE"}, Exportable: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	rsa3072, _ := selfSigned(t, 3072)

	tests := []struct {
		name string
		ctx  context.Context
		req  salesforce.CreateRequest
		code codes.Code
	}{
		{"not the admin", kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:sf", App: "sf"}),
			salesforce.CreateRequest{Name: "x", Certificate: e.cert}, codes.PermissionDenied},
		{"no caller", context.Background(), salesforce.CreateRequest{Name: "x", Certificate: e.cert}, codes.PermissionDenied},
		{"name in use", e.admin, salesforce.CreateRequest{Name: "taken", Certificate: e.cert, Key: exportable + "/cryptoKeyVersions/1"}, codes.AlreadyExists},
		{"name with a slash", e.admin, salesforce.CreateRequest{Name: "a/b", Certificate: e.cert}, codes.InvalidArgument},
		{"name shaped like a kid", e.admin, salesforce.CreateRequest{Name: "982c375b-f46b-4423-8c2d-4d1a69152a0b", Certificate: e.cert}, codes.InvalidArgument},
		{"no certificate", e.admin, salesforce.CreateRequest{Name: "x"}, codes.InvalidArgument},
		{"EC certificate", e.admin, salesforce.CreateRequest{Name: "x", Certificate: ecCert(t)}, codes.InvalidArgument},
		{"RSA-3072 certificate", e.admin, salesforce.CreateRequest{Name: "x", Certificate: rsa3072}, codes.InvalidArgument},
		{"two certificates", e.admin, salesforce.CreateRequest{Name: "x", Certificate: append(append([]byte{}, e.cert...), e.cert...)}, codes.InvalidArgument},
		{"key not exportable", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: plain}, codes.FailedPrecondition},
		{"key of another purpose", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: sym.Key.Name}, codes.FailedPrecondition},
		{"key with two enabled versions", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: exportable}, codes.InvalidArgument},
		{"key without an enabled version", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: single}, codes.FailedPrecondition},
		{"disabled version", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: single + "/cryptoKeyVersions/1"}, codes.FailedPrecondition},
		{"missing key", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: ring + "/cryptoKeys/none"}, codes.NotFound},
		{"not a key name", e.admin, salesforce.CreateRequest{Name: "x", Certificate: e.cert, Key: ring}, codes.InvalidArgument},
		{"default key exists", e.admin, salesforce.CreateRequest{Name: "taken2", Certificate: e.cert, Key: ""}, codes.AlreadyExists},
	}
	// The default key of "taken2" exists, but not its cache-only key.
	if _, err := e.svc.CreateCryptoKey(e.admin, kms.CreateKeyRequest{
		Parent: salesforce.DefaultLocation + "/keyRings/" + salesforce.DefaultKeyRing, ID: "taken2",
		Key: kms.CryptoKey{Purpose: "RAW_ENCRYPT_DECRYPT", Template: kms.VersionTemplate{Algorithm: "AES_256_GCM", ProtectionLevel: "SOFTWARE"}, Exportable: true},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := e.audit.len()
			k, err := e.keys.Create(tc.ctx, tc.req)
			if kmserr.Code(err) != tc.code {
				t.Fatalf("Create = %+v, %v; want %v", k, err, tc.code)
			}
			var created []kms.Event
			for _, ev := range e.audit.since(n) {
				if ev.Method == "CreateSalesforceKey" {
					created = append(created, ev)
				}
			}
			if len(created) != 1 || kmserr.Code(created[0].Err) != tc.code {
				t.Errorf("audit = %+v, want one CreateSalesforceKey %v", created, tc.code)
			}
		})
	}
	list, err := e.keys.List(e.admin)
	if err != nil || len(list) != 1 {
		t.Errorf("List after refusals = %d keys, %v; want 1", len(list), err)
	}

	// Only the admin reads, lists and deletes.
	app := kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:sf", App: "sf"})
	if _, err := e.keys.Get(app, "taken"); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("Get by an app = %v, want PERMISSION_DENIED", err)
	}
	if _, err := e.keys.List(app); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("List by an app = %v, want PERMISSION_DENIED", err)
	}
	if _, err := e.keys.Delete(app, "taken"); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("Delete by an app = %v, want PERMISSION_DENIED", err)
	}
	if _, err := e.keys.Get(e.admin, "none"); kmserr.Code(err) != codes.NotFound {
		t.Errorf("Get(none) = %v, want NOT_FOUND", err)
	}
}

func TestTamperedRecord(t *testing.T) {
	e := newEnv(t)
	k := e.create(t, "fle", "")
	name := "salesforce/keys/" + k.KID
	err := e.store.Update(t.Context(), func(tx storage.Tx) error {
		r, err := tx.Get(t.Context(), name)
		if err != nil {
			return err
		}
		r.Data = []byte(strings.Replace(string(r.Data), "cryptoKeys/fle", "cryptoKeys/flf", 1))
		return tx.Put(t.Context(), r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Get(e.admin, k.KID); kmserr.Code(err) != codes.DataLoss {
		t.Errorf("Get of a tampered record = %v, want DATA_LOSS", err)
	}
	e.authz.allow(salesforce.DefaultLocation + "/keyRings/salesforce/cryptoKeys/fle")
	if resp := e.get(t, keyPath(k.KID), "sf", keySF); resp.StatusCode != 500 {
		t.Errorf("fetch of a tampered record = %d, want 500", resp.StatusCode)
	}
}
