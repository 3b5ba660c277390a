// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
	"google.golang.org/grpc/codes"
)

// usageEnv is a service whose versions may make max encryptions each.
type usageEnv struct {
	*env
	ks  *keystore.Keystore
	log *eventLog
	max int64
}

func newUsageEnv(t *testing.T, max int64) *usageEnv {
	t.Helper()
	st, ks := sqlitetest.Open(t, 4)
	e := &usageEnv{ks: ks, log: &eventLog{}, max: max}
	e.env = &env{store: st, ctx: WithCaller(context.Background(), &Caller{Principal: "app:busy", Admin: true})}
	e.restart()
	return e
}

// restart gives the env a new service over the same store: a restarted
// server, with nothing in memory.
func (e *usageEnv) restart() {
	e.svc = New(Config{Store: e.store, Keystore: e.ks, Authorizer: allowAdmin{}, Auditor: e.log, MaxEncryptions: e.max})
}

// encryptUntil encrypts with key until a ciphertext comes from another
// version than the first one's; it returns how many the first version
// made and the other version's name.
func (e *usageEnv) encryptUntil(t *testing.T, key string) (int64, string) {
	t.Helper()
	var first string
	for n := int64(0); n <= 2*e.max; n++ {
		_, v, err := e.svc.Encrypt(e.ctx, key, []byte("p"), nil)
		if err != nil {
			t.Fatalf("Encrypt #%d: %v", n+1, err)
		}
		if first == "" {
			first = v
		}
		if v != first {
			return n, v
		}
	}
	t.Fatalf("no rotation after %d encryptions", 2*e.max)
	return 0, ""
}

func (e *usageEnv) reserved(t *testing.T, version string) int64 {
	t.Helper()
	u, _, err := e.svc.readUsage(context.Background(), e.store, usageName(version))
	if err != nil {
		t.Fatalf("usage of %s: %v", version, err)
	}
	return u.Reserved
}

// accounted is what the store holds against a version: its reservations
// and the allowances of every process so far.
func (e *usageEnv) accounted(t *testing.T, version string) int64 {
	t.Helper()
	return e.reserved(t, version) + func() int64 {
		u, _, err := e.svc.readUsage(context.Background(), e.store, epochsName)
		if err != nil {
			t.Fatal(err)
		}
		return u.Reserved
	}()*firstReservation
}

// TestEncryptionLimitRotates: the primary encrypts exactly max times, then
// the key is rotated by the server (recorded as its own act) and the call
// that found it used up is answered by the new primary; old ciphertexts
// still decrypt; the used-up version named directly is refused.
func TestEncryptionLimitRotates(t *testing.T) {
	const max = 3000
	e := newUsageEnv(t, max)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	old, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("old"), nil)
	if err != nil {
		t.Fatal(err)
	}
	made, next := e.encryptUntil(t, k.Key.Name)
	if made+1 != max || next != k.Key.Name+"/cryptoKeyVersions/2" {
		t.Fatalf("version 1 made %d encryptions before %s took over, want %d and version 2", made+1, next, max)
	}
	if got := e.accounted(t, k.Primary.Name); got != max {
		t.Errorf("version 1 has %d accounted, want %d", got, max)
	}
	if pt, _, err := e.svc.Decrypt(e.ctx, k.Key.Name, old, nil); err != nil || string(pt) != "old" {
		t.Errorf("Decrypt of a ciphertext of the used-up version = %q, %v", pt, err)
	}
	_, _, err = e.svc.Encrypt(e.ctx, k.Primary.Name, []byte("p"), nil)
	wantCode(t, "Encrypt with the used-up version named", err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "3000 encryptions") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	var rotations []Event
	for _, ev := range e.log.events {
		if ev.Method == "RotateCryptoKey" {
			rotations = append(rotations, ev)
		}
	}
	if len(rotations) != 1 || rotations[0].Resource != k.Key.Name || rotations[0].Err != nil {
		t.Errorf("rotations recorded: %+v, want one of %s", rotations, k.Key.Name)
	}
}

// TestEncryptionLimitAcrossRestartsAndCallers: budget reserved by a server
// that stops is never handed out again, and concurrent callers never take
// a version past the limit.
func TestEncryptionLimitAcrossRestartsAndCallers(t *testing.T) {
	const max = 5000
	e := newUsageEnv(t, max)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	for range 10 {
		if _, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("p"), nil); err != nil {
			t.Fatal(err)
		}
	}
	e.restart() // 1,014 reserved and never used
	var (
		mu   sync.Mutex
		byV1 int64
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 700 {
				_, v, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("p"), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if v == k.Primary.Name {
					mu.Lock()
					byV1++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if total := 10 + byV1; total > max || total < max-firstReservation {
		t.Errorf("version 1 made %d encryptions in all, want at most %d and no fewer than %d", total, max, max-firstReservation)
	}
	if got := e.accounted(t, k.Primary.Name); got != max {
		t.Errorf("version 1 has %d accounted, want %d", got, max)
	}
}

// TestEncryptionLimitEKMAndRaw: Cloud EKM wrap rotates the key as Encrypt
// does; RawEncrypt counts too; an import-only key cannot rotate, so its
// used-up primary is refused.
func TestEncryptionLimitEKMAndRaw(t *testing.T) {
	const max = 1100
	e := newUsageEnv(t, max)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	full, err := e.svc.loadKey(e.ctx, mustParse(t, k.Key.Name))
	if err != nil {
		t.Fatal(err)
	}
	var wrappedBy string
	for n := 0; n <= max; n++ {
		tg, err := e.svc.ResolveEKM(e.ctx, full.EKMID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.Wrap([]byte("dek"), nil); err != nil {
			t.Fatalf("Wrap #%d: %v", n+1, err)
		}
		wrappedBy = tg.Version
	}
	if wrappedBy != k.Key.Name+"/cryptoKeyVersions/2" {
		t.Errorf("wrap %d was made by %s, want version 2", max+1, wrappedBy)
	}

	raw := e.key(t, ring, "raw", CryptoKey{Purpose: alg.RawEncryptDecrypt, Template: VersionTemplate{Algorithm: "AES_256_GCM"}})
	rv := raw.Key.Name + "/cryptoKeyVersions/1"
	for n := 0; n < max; n++ {
		if _, _, _, err := e.svc.RawEncrypt(e.ctx, rv, []byte("p"), nil, nil); err != nil {
			t.Fatalf("RawEncrypt #%d: %v", n+1, err)
		}
	}
	_, _, _, err = e.svc.RawEncrypt(e.ctx, rv, []byte("p"), nil, nil)
	wantCode(t, "RawEncrypt past the limit", err, codes.FailedPrecondition)
}

// TestDestroyForgetsUsage: a destroyed (not re-importable) version's count
// leaves the store with its material.
func TestDestroyForgetsUsage(t *testing.T) {
	e := newUsageEnv(t, 5000)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	for range firstReservation + 1 { // past the allowance: a reservation
		if _, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("p"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if e.reserved(t, k.Primary.Name) != firstReservation {
		t.Fatalf("reserved %d, want %d", e.reserved(t, k.Primary.Name), firstReservation)
	}
	if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, k.Primary.Name); err != nil {
		t.Fatal(err)
	}
	// Due in 24 h: move the clock past it.
	e.svc.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	if _, err := e.svc.transition(e.ctx, mustParse(t, k.Primary.Name), TransDestroyNow); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(context.Background(), usageName(k.Primary.Name)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the destroyed version's usage record: %v, want it gone", err)
	}
}

func mustParse(t *testing.T, name string) resource.Name {
	t.Helper()
	n, err := resource.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEncryptionAllowanceNeedsNoWrite: a process's first encryptions with
// a version write nothing for it (one record counts the processes'
// allowances), after a restart too.
func TestEncryptionAllowanceNeedsNoWrite(t *testing.T) {
	e := newUsageEnv(t, DefaultMaxEncryptions)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	for round := range 2 {
		for range 100 {
			if _, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("p"), nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.store.Get(context.Background(), usageName(k.Primary.Name)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("round %d: a usage record for 100 encryptions: %v, want none", round, err)
		}
		e.restart()
	}
	u, _, err := e.svc.readUsage(context.Background(), e.store, epochsName)
	if err != nil || u.Reserved != 2 {
		t.Errorf("allowances counted: %d (%v), want 2", u.Reserved, err)
	}
}

// TestEncryptionLimitWithBudgetsDropped: budgets dropped from a small cache
// and made again take no second allowance: no version passes the limit.
func TestEncryptionLimitWithBudgetsDropped(t *testing.T) {
	const max = 4000
	st, ks := sqlitetest.Open(t, 6)
	svc := New(Config{Store: st, Keystore: ks, Authorizer: allowAdmin{}, MaxEncryptions: max, CacheSize: 2})
	e := &env{svc: svc, store: st, ctx: WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true})}
	ring := e.ring(t, "r")
	var keys []*KeyInfo
	for _, id := range []string{"a", "b", "c"} {
		keys = append(keys, e.key(t, ring, id, CryptoKey{Purpose: alg.EncryptDecrypt}))
	}
	// Each call drops another key's budget: the new one reserves a block
	// of which it uses one encryption, so a version is used up within a
	// few rounds, and the keys rotate.
	made := map[string]int64{}
	for range 40 {
		for _, k := range keys {
			_, v, err := svc.Encrypt(e.ctx, k.Key.Name, []byte("p"), nil)
			if err != nil {
				t.Fatal(err)
			}
			made[v]++
		}
	}
	for _, k := range keys {
		if n := made[k.Primary.Name]; n > max {
			t.Errorf("%s made %d encryptions, more than %d", k.Primary.Name, n, max)
		}
		u, _, err := svc.readUsage(context.Background(), st, usageName(k.Primary.Name))
		if err != nil || u.Reserved+firstReservation > max {
			t.Errorf("%s: %d reserved (%v), want at most %d beside the allowance", k.Primary.Name, u.Reserved, err, max-firstReservation)
		}
	}
	if len(made) <= len(keys) {
		t.Errorf("no key rotated in 40 rounds: %v", made)
	}
}
