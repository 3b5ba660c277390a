// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// allowAdmin is the test authorizer: the admin may do anything, anyone
// else nothing.
type allowAdmin struct{}

func (allowAdmin) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if c := CallerFrom(ctx); c != nil && c.Admin {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *Service
	store storage.Store
	clk   *clock
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, ks := sqlitetest.Open(t, 3)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	svc := New(Config{Store: st, Keystore: ks, Authorizer: allowAdmin{}, Now: clk.now})
	ctx := WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true})
	return &env{svc: svc, store: st, clk: clk, ctx: ctx}
}

const loc = "projects/p/locations/global"

func (e *env) ring(t *testing.T, id string) string {
	t.Helper()
	r, err := e.svc.CreateKeyRing(e.ctx, loc, id)
	if err != nil {
		t.Fatalf("CreateKeyRing(%q) = %v", id, err)
	}
	return r.Name
}

func (e *env) key(t *testing.T, ring, id string, k CryptoKey) *KeyInfo {
	t.Helper()
	info, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{Parent: ring, ID: id, Key: k})
	if err != nil {
		t.Fatalf("CreateCryptoKey(%q) = %v", id, err)
	}
	return info
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := kmserr.Code(err); got != want {
		t.Fatalf("%s: code %v (%v), want %v", what, got, err, want)
	}
}

func TestCreateCryptoKeyValidation(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	tests := []struct {
		name  string
		id    string
		key   CryptoKey
		skip  bool
		code  codes.Code
		field string
	}{
		{"default symmetric", "k1", CryptoKey{Purpose: alg.EncryptDecrypt}, false, codes.OK, ""},
		{"missing purpose", "k2", CryptoKey{}, false, codes.InvalidArgument, "crypto_key.purpose"},
		{"asymmetric without algorithm", "k3", CryptoKey{Purpose: alg.AsymmetricSign}, false, codes.InvalidArgument, "crypto_key.version_template.algorithm"},
		{"algorithm of another purpose", "k4", CryptoKey{Purpose: alg.MAC, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}}, false, codes.InvalidArgument, "crypto_key.version_template.algorithm"},
		{"unknown algorithm", "k5", CryptoKey{Purpose: alg.MAC, Template: VersionTemplate{Algorithm: "HMAC_MD5"}}, false, codes.InvalidArgument, "crypto_key.version_template.algorithm"},
		{"bad id", "a/b", CryptoKey{Purpose: alg.EncryptDecrypt}, false, codes.InvalidArgument, "crypto_key_id"},
		{"rotation under 24h", "k6", CryptoKey{Purpose: alg.EncryptDecrypt, RotationPeriod: time.Hour, NextRotationTime: time.Now()}, false, codes.InvalidArgument, "crypto_key.rotation_period"},
		{"rotation without next time", "k7", CryptoKey{Purpose: alg.EncryptDecrypt, RotationPeriod: 48 * time.Hour}, false, codes.InvalidArgument, "crypto_key.next_rotation_time"},
		{"rotation on a signing key", "k8", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}, RotationPeriod: 48 * time.Hour, NextRotationTime: time.Now()}, false, codes.InvalidArgument, "crypto_key.rotation_period"},
		{"destroy duration under 24h", "k9", CryptoKey{Purpose: alg.EncryptDecrypt, DestroyScheduledDuration: time.Hour}, false, codes.InvalidArgument, "crypto_key.destroy_scheduled_duration"},
		{"HSM not available", "k10", CryptoKey{Purpose: alg.EncryptDecrypt, Template: VersionTemplate{ProtectionLevel: HSM}}, false, codes.InvalidArgument, "crypto_key.version_template.protection_level"},
		{"bad label key", "k11", CryptoKey{Purpose: alg.EncryptDecrypt, Labels: map[string]string{"Env": "x"}}, false, codes.InvalidArgument, "crypto_key.labels"},
		{"import only needs skip", "k12", CryptoKey{Purpose: alg.EncryptDecrypt, ImportOnly: true}, false, codes.InvalidArgument, "skip_initial_version_creation"},
		{"import only with skip", "k13", CryptoKey{Purpose: alg.EncryptDecrypt, ImportOnly: true}, true, codes.OK, ""},
		{"duplicate", "k1", CryptoKey{Purpose: alg.EncryptDecrypt}, false, codes.AlreadyExists, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{Parent: ring, ID: tc.id, Key: tc.key, SkipInitialVersion: tc.skip})
			wantCode(t, "CreateCryptoKey", err, tc.code)
			if tc.field != "" {
				if ke, _ := err.(*kmserr.Error); ke == nil || ke.Field != tc.field {
					t.Fatalf("CreateCryptoKey error %v names field %v, want %q", err, ke, tc.field)
				}
			}
		})
	}
	_, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{Parent: loc + "/keyRings/missing", ID: "k", Key: CryptoKey{Purpose: alg.EncryptDecrypt}})
	wantCode(t, "CreateCryptoKey in a missing ring", err, codes.NotFound)
}

func TestEncryptDecryptAcrossRotation(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	if k.Primary == nil || k.Key.Primary != 1 {
		t.Fatalf("new key has primary %v, want version 1", k.Primary)
	}
	ct1, v1, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if v1 != k.Key.Name+"/cryptoKeyVersions/1" {
		t.Fatalf("Encrypt used %s", v1)
	}
	v2, err := e.svc.CreateCryptoKeyVersion(e.ctx, k.Key.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateCryptoKeyPrimaryVersion(e.ctx, k.Key.Name, "2"); err != nil {
		t.Fatal(err)
	}
	ct2, used, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("secret2"), nil)
	if err != nil || used != v2.Name {
		t.Fatalf("Encrypt after rotation used %s, %v; want %s", used, err, v2.Name)
	}
	pt, primary, err := e.svc.Decrypt(e.ctx, k.Key.Name, ct1, []byte("aad"))
	if err != nil || string(pt) != "secret" || primary {
		t.Fatalf("Decrypt(old) = %q, primary %v, %v", pt, primary, err)
	}
	pt, primary, err = e.svc.Decrypt(e.ctx, k.Key.Name, ct2, nil)
	if err != nil || string(pt) != "secret2" || !primary {
		t.Fatalf("Decrypt(new) = %q, primary %v, %v", pt, primary, err)
	}
	_, _, err = e.svc.Decrypt(e.ctx, k.Key.Name, ct1, []byte("other"))
	wantCode(t, "Decrypt with wrong aad", err, codes.InvalidArgument)

	// Another key of the same ring cannot decrypt it.
	other := e.key(t, ring, "other", CryptoKey{Purpose: alg.EncryptDecrypt})
	_, _, err = e.svc.Decrypt(e.ctx, other.Key.Name, ct1, []byte("aad"))
	wantCode(t, "Decrypt with another key", err, codes.InvalidArgument)

	// Disabling version 1 refuses its ciphertexts, at once (cache dropped).
	if _, err := e.svc.UpdateCryptoKeyVersion(e.ctx, k.Key.Name+"/cryptoKeyVersions/1", Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.Decrypt(e.ctx, k.Key.Name, ct1, []byte("aad"))
	wantCode(t, "Decrypt with a disabled version", err, codes.FailedPrecondition)

	// Someone without the permission gets PERMISSION_DENIED, key or no key.
	stranger := WithCaller(context.Background(), &Caller{Principal: "app:x"})
	_, _, err = e.svc.Decrypt(stranger, k.Key.Name, ct2, nil)
	wantCode(t, "Decrypt by a stranger", err, codes.PermissionDenied)
	_, _, err = e.svc.Decrypt(stranger, ring+"/cryptoKeys/nokey", ct2, nil)
	wantCode(t, "Decrypt of a missing key by a stranger", err, codes.PermissionDenied)
}

func TestScheduler(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "rot", CryptoKey{Purpose: alg.EncryptDecrypt, RotationPeriod: 48 * time.Hour, NextRotationTime: e.clk.now().Add(time.Hour)})
	d := e.key(t, ring, "dest", CryptoKey{Purpose: alg.EncryptDecrypt})

	e.svc.SchedulerPass(e.ctx)
	if got, _ := e.svc.GetCryptoKey(e.ctx, k.Key.Name); got.Key.Primary != 1 {
		t.Fatalf("key rotated before its time: primary %d", got.Key.Primary)
	}
	// Five periods pass while the server is down: one rotation, and the next
	// rotation time lands in the future.
	e.clk.add(5*48*time.Hour + 2*time.Hour)
	e.svc.SchedulerPass(e.ctx)
	got, err := e.svc.GetCryptoKey(e.ctx, k.Key.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key.Primary != 2 || got.Key.LastVersion != 2 {
		t.Fatalf("after the rotation time: primary %d, last version %d; want 2, 2", got.Key.Primary, got.Key.LastVersion)
	}
	if !got.Key.NextRotationTime.After(e.clk.now()) {
		t.Fatalf("next rotation %v is not after now %v", got.Key.NextRotationTime, e.clk.now())
	}

	vname := d.Key.Name + "/cryptoKeyVersions/1"
	ct, _, err := e.svc.Encrypt(e.ctx, d.Key.Name, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.DestroyCryptoKeyVersion(e.ctx, vname)
	if err != nil || v.State != DestroyScheduled || !v.DestroyTime.Equal(e.clk.now().Add(24*time.Hour)) {
		t.Fatalf("DestroyCryptoKeyVersion = %+v, %v", v, err)
	}
	_, err = e.svc.DestroyCryptoKeyVersion(e.ctx, vname)
	wantCode(t, "destroy twice", err, codes.FailedPrecondition)
	e.clk.add(23 * time.Hour)
	e.svc.SchedulerPass(e.ctx)
	if v, _ := e.svc.GetCryptoKeyVersion(e.ctx, vname); v.State != DestroyScheduled {
		t.Fatalf("destroyed early: %s", v.State)
	}
	e.clk.add(2 * time.Hour)
	e.svc.SchedulerPass(e.ctx)
	v, err = e.svc.GetCryptoKeyVersion(e.ctx, vname)
	if err != nil || v.State != Destroyed || v.DestroyEventTime.IsZero() {
		t.Fatalf("after destroy time: %+v, %v", v, err)
	}
	raw, _, err := e.svc.readVersion(e.ctx, e.store, vname)
	if err != nil || raw.Material != nil {
		t.Fatalf("destroyed version still has material: %v", err)
	}
	_, _, err = e.svc.Decrypt(e.ctx, d.Key.Name, ct, nil)
	wantCode(t, "Decrypt after destruction", err, codes.FailedPrecondition)
	_, err = e.svc.RestoreCryptoKeyVersion(e.ctx, vname)
	wantCode(t, "restore a destroyed version", err, codes.FailedPrecondition)
}

func TestTamperedRecordIsRefused(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt, Labels: map[string]string{"env": "prod"}})
	ctx := context.Background()
	rec, err := e.store.Get(ctx, k.Key.Name)
	if err != nil {
		t.Fatal(err)
	}
	rec.Data = bytes.Replace(rec.Data, []byte("prod"), []byte("dev0"), 1)
	rec.Rev = 0
	if err := e.store.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, rec) }); err != nil {
		t.Fatal(err)
	}
	e.svc.cache.purge()
	_, err = e.svc.GetCryptoKey(e.ctx, k.Key.Name)
	wantCode(t, "GetCryptoKey of a tampered record", err, codes.DataLoss)
	_, _, err = e.svc.Encrypt(e.ctx, k.Key.Name, []byte("x"), nil)
	wantCode(t, "Encrypt with a tampered key record", err, codes.DataLoss)
}

func TestListFilterOrderPaging(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	for i := 0; i < 4; i++ {
		if _, err := e.svc.CreateCryptoKeyVersion(e.ctx, k.Key.Name, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.UpdateCryptoKeyVersion(e.ctx, k.Key.Name+"/cryptoKeyVersions/2", Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	names := func(vs []*Version) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name[len(k.Key.Name)+len("/cryptoKeyVersions/"):])
		}
		return out
	}
	tests := []struct {
		filter, order string
		want          []string
		code          codes.Code
	}{
		{"", "", []string{"1", "2", "3", "4", "5"}, codes.OK},
		{"state=ENABLED", "", []string{"1", "3", "4", "5"}, codes.OK},
		{"state = DISABLED", "", []string{"2"}, codes.OK},
		{"NOT state=ENABLED", "", []string{"2"}, codes.OK},
		{"state!=ENABLED", "name desc", []string{"2"}, codes.OK},
		{"", "name desc", []string{"5", "4", "3", "2", "1"}, codes.OK},
		{"state=ENABLED AND name:cryptoKeyVersions/3", "", []string{"3"}, codes.OK},
		{"state=DISABLED OR name:Versions/5", "", []string{"2", "5"}, codes.OK},
		{"nosuchfield=1", "", nil, codes.InvalidArgument},
		{"state=", "", nil, codes.InvalidArgument},
		{"", "name sideways", nil, codes.InvalidArgument},
		{"", "nosuchfield", nil, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.filter+"|"+tc.order, func(t *testing.T) {
			// Page through with size 2 to exercise tokens.
			var all []*Version
			tok := ""
			for i := 0; i < 10; i++ {
				vs, next, _, err := e.svc.ListCryptoKeyVersions(e.ctx, k.Key.Name, Page{Size: 2, Token: tok, Filter: tc.filter, OrderBy: tc.order})
				wantCode(t, "ListCryptoKeyVersions", err, tc.code)
				if err != nil {
					return
				}
				all = append(all, vs...)
				if next == "" {
					break
				}
				tok = next
			}
			if got := names(all); !equal(got, tc.want) {
				t.Fatalf("filter %q order %q = %v, want %v", tc.filter, tc.order, got, tc.want)
			}
		})
	}
	_, _, _, err := e.svc.ListCryptoKeyVersions(e.ctx, k.Key.Name, Page{Token: "garbage"})
	wantCode(t, "bad page token", err, codes.InvalidArgument)
	long := strings.Repeat(`state="ENABLED" OR `, 300) + `state="ENABLED"`
	_, _, _, err = e.svc.ListCryptoKeyVersions(e.ctx, k.Key.Name, Page{Filter: long})
	wantCode(t, "a filter of 5 KiB", err, codes.InvalidArgument)
	_, _, _, err = e.svc.ListCryptoKeyVersions(e.ctx, k.Key.Name, Page{OrderBy: strings.Repeat("name,", 1000)})
	wantCode(t, "an order_by of 5 KiB", err, codes.InvalidArgument)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSchedulerGoesPastFailures: keys whose rotation fails (their records
// were altered on disk), more than a page of them, hold up neither the
// pass, which ends, nor the destruction of a version that is due.
func TestSchedulerGoesPastFailures(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	ctx := context.Background()
	var broken []string
	for i := range 150 {
		k := e.key(t, ring, fmt.Sprintf("rot%03d", i), CryptoKey{Purpose: alg.EncryptDecrypt, RotationPeriod: 48 * time.Hour, NextRotationTime: e.clk.now().Add(time.Hour)})
		broken = append(broken, k.Key.Name)
	}
	err := e.store.Update(ctx, func(tx storage.Tx) error {
		for _, name := range broken {
			rec, err := tx.Get(ctx, name)
			if err != nil {
				return err
			}
			rec.MAC[0] ^= 1 // still due, no longer authentic
			rec.Rev = 0
			if err := tx.Put(ctx, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.cache.purge()
	d := e.key(t, ring, "dest", CryptoKey{Purpose: alg.EncryptDecrypt})
	vname := d.Key.Name + "/cryptoKeyVersions/1"
	if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, vname); err != nil {
		t.Fatal(err)
	}
	e.clk.add(25 * time.Hour)

	done := make(chan struct{})
	go func() { e.svc.SchedulerPass(e.ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the scheduler pass did not end")
	}
	if v, err := e.svc.GetCryptoKeyVersion(e.ctx, vname); err != nil || v.State != Destroyed {
		t.Fatalf("version due for destruction after a pass with failing rotations: %+v, %v", v, err)
	}
}
