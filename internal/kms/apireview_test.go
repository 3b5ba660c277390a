// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// An import-only key cannot get new versions by generation, so it cannot be
// rotated: a rotation schedule on one must be refused. Accepted, the
// scheduler fails on it at every pass, and since a failed rotation ends the
// pass, no other key rotates and no scheduled destruction ever happens.
func TestImportOnlyKeyRefusesRotationSchedule(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	d := e.key(t, ring, "d", CryptoKey{Purpose: alg.EncryptDecrypt})
	vname := d.Key.Name + "/cryptoKeyVersions/1"
	if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, vname); err != nil {
		t.Fatal(err)
	}

	_, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{
		Parent: ring, ID: "imp", SkipInitialVersion: true,
		Key: CryptoKey{
			Purpose: alg.EncryptDecrypt, ImportOnly: true,
			RotationPeriod: 48 * time.Hour, NextRotationTime: e.clk.now().Add(time.Hour),
		},
	})
	if kmserr.Code(err) != codes.InvalidArgument {
		t.Errorf("CreateCryptoKey(import_only with a rotation schedule) = %v, want INVALID_ARGUMENT", err)
	}
	_, err = e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{
		Parent: ring, ID: "imp-once", SkipInitialVersion: true,
		Key: CryptoKey{Purpose: alg.EncryptDecrypt, ImportOnly: true, NextRotationTime: e.clk.now().Add(time.Hour)},
	})
	if kmserr.Code(err) != codes.InvalidArgument {
		t.Errorf("CreateCryptoKey(import_only with a next_rotation_time) = %v, want INVALID_ARGUMENT", err)
	}

	imp, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{
		Parent: ring, ID: "imp2", SkipInitialVersion: true,
		Key: CryptoKey{Purpose: alg.EncryptDecrypt, ImportOnly: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	upd := CryptoKey{Name: imp.Key.Name, RotationPeriod: 48 * time.Hour, NextRotationTime: e.clk.now().Add(time.Hour)}
	_, err = e.svc.UpdateCryptoKey(e.ctx, upd, []string{"rotation_period", "next_rotation_time"})
	if kmserr.Code(err) != codes.InvalidArgument {
		t.Errorf("UpdateCryptoKey(import_only, rotation schedule) = %v, want INVALID_ARGUMENT", err)
	}

	// Whatever was accepted above, scheduled destruction must still happen.
	e.clk.add(25 * time.Hour)
	e.svc.SchedulerPass(e.ctx)
	v, err := e.svc.GetCryptoKeyVersion(e.ctx, vname)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != Destroyed {
		t.Errorf("version %s is %s after its destroy time, want DESTROYED (the scheduler pass stopped early)", vname, v.State)
	}
}

// next_rotation_time becomes the record's due time in Unix nanoseconds,
// which int64 holds only from 1678 to 2262; storage lists only due times
// above 0. A time outside (1970, now + 100 years] is refused rather than
// stored as a due time that wraps around (a key "due" now that rotate() finds
// not due, which the scheduler then lists again forever) or as one that is
// never listed.
func TestNextRotationTimeRange(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	now := e.clk.now()
	tests := []struct {
		name string
		t    time.Time
		ok   bool
	}{
		{"in an hour", now.Add(time.Hour), true},
		{"in the past, after 1970", now.Add(-24 * time.Hour), true},
		{"in 99 years", now.Add(99 * 365 * 24 * time.Hour), true},
		{"year 2600 (Unix nanoseconds wrap into the past)", time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), false},
		{"year 100000 (not even JSON)", time.Date(100000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"before 1970", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "k" + string(rune('a'+i))
			_, err := e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{Parent: ring, ID: id, Key: CryptoKey{
				Purpose: alg.EncryptDecrypt, RotationPeriod: 48 * time.Hour, NextRotationTime: tc.t,
			}})
			if tc.ok {
				if err != nil {
					t.Fatalf("CreateCryptoKey(next_rotation_time %v) = %v", tc.t, err)
				}
			} else {
				wantField(t, "CreateCryptoKey", err, "crypto_key.next_rotation_time")
			}

			upd := e.key(t, ring, id+"u", CryptoKey{Purpose: alg.EncryptDecrypt})
			_, err = e.svc.UpdateCryptoKey(e.ctx, CryptoKey{Name: upd.Key.Name, NextRotationTime: tc.t}, []string{"next_rotation_time"})
			if tc.ok {
				if err != nil {
					t.Fatalf("UpdateCryptoKey(next_rotation_time %v) = %v", tc.t, err)
				}
			} else {
				wantField(t, "UpdateCryptoKey", err, "crypto_key.next_rotation_time")
			}
		})
	}
}

// The audit entry of a create names the new resource only when its id is
// valid: a refused id is the caller's text, of any size (up to the request
// limit) and shape, and is no resource name.
func TestAuditNamesNoInvalidID(t *testing.T) {
	st, ks := sqlitetest.Open(t, 3)
	rec := &recorder{}
	svc := New(Config{Store: st, Keystore: ks, Authorizer: allowAdmin{}, Auditor: rec})
	ctx := WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true})
	ring, err := svc.CreateKeyRing(ctx, loc, "r")
	if err != nil {
		t.Fatal(err)
	}
	bad := "x/../../keyRings/other\n" + strings.Repeat("A", 100_000)

	_, err = svc.CreateKeyRing(ctx, loc, bad)
	wantCode(t, "CreateKeyRing(bad id)", err, codes.InvalidArgument)
	_, err = svc.CreateCryptoKey(ctx, CreateKeyRequest{Parent: ring.Name, ID: bad, Key: CryptoKey{Purpose: alg.EncryptDecrypt}})
	wantCode(t, "CreateCryptoKey(bad id)", err, codes.InvalidArgument)
	_, err = svc.CreateImportJob(ctx, ring.Name, bad, ImportJob{ImportMethod: "RSA_OAEP_3072_SHA256", ProtectionLevel: Software})
	wantCode(t, "CreateImportJob(bad id)", err, codes.InvalidArgument)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 4 {
		t.Fatalf("%d audit events, want 4", len(rec.events))
	}
	for _, ev := range rec.events[1:] {
		if strings.Contains(ev.Resource, "AAAA") || strings.Contains(ev.Resource, "\n") {
			t.Errorf("%s audit entry names resource %.80q..., the caller's invalid id", ev.Method, ev.Resource)
		}
	}
}

// A page token is bound to the parent (and filter and order) of the list
// that made it: another parent's list refuses it.
func TestPageTokenOfAnotherParent(t *testing.T) {
	e := newEnv(t)
	r1, r2 := e.ring(t, "r1"), e.ring(t, "r2")
	for _, id := range []string{"a", "b", "c"} {
		e.key(t, r1, id, CryptoKey{Purpose: alg.EncryptDecrypt})
		e.key(t, r2, id, CryptoKey{Purpose: alg.EncryptDecrypt})
	}
	_, next, _, err := e.svc.ListCryptoKeys(e.ctx, r1, Page{Size: 1})
	if err != nil || next == "" {
		t.Fatalf("ListCryptoKeys(r1) = next %q, %v", next, err)
	}
	_, _, _, err = e.svc.ListCryptoKeys(e.ctx, r2, Page{Size: 1, Token: next})
	wantField(t, "ListCryptoKeys(r2, r1's token)", err, "page_token")
	_, _, _, err = e.svc.ListCryptoKeys(e.ctx, r1, Page{Size: 1, Token: next, Filter: "name:a"})
	wantField(t, "ListCryptoKeys(r1, r1's token, another filter)", err, "page_token")
	_, _, _, err = e.svc.ListCryptoKeys(e.ctx, r1, Page{Size: -1})
	wantField(t, "ListCryptoKeys(page_size -1)", err, "page_size")
	keys, _, _, err := e.svc.ListCryptoKeys(e.ctx, r1, Page{Size: 1 << 30})
	if err != nil || len(keys) != 3 {
		t.Fatalf("ListCryptoKeys(page_size 2^30) = %d keys, %v", len(keys), err)
	}
}
