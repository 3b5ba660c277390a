// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

// hookStore runs afterListDue once, right after the first ListDue call
// returns: it stands for whatever another caller (or node) does between the
// scheduler's listing and its action.
type hookStore struct {
	storage.Store
	once         sync.Once
	afterListDue func()
}

func (h *hookStore) ListDue(ctx context.Context, kind storage.Kind, before int64, limit int) ([]storage.Record, error) {
	rs, err := h.Store.ListDue(ctx, kind, before, limit)
	if kind == kindVersion && len(rs) > 0 {
		h.once.Do(h.afterListDue)
	}
	return rs, err
}

// TestSchedulerDoesNotDestroyARescheduledVersion: the scheduler lists the
// versions due for destruction, then destroys them one by one. A version
// restored and scheduled for destruction again in between is no longer due
// (its destroy_time is a full destroy_scheduled_duration away): it must
// stay DESTROY_SCHEDULED, with its material.
func TestSchedulerDoesNotDestroyARescheduledVersion(t *testing.T) {
	e := newEnv(t)
	hs := &hookStore{Store: e.store}
	e.svc.store = hs
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	vname := k.Key.Name + "/cryptoKeyVersions/1"
	if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, vname); err != nil {
		t.Fatal(err)
	}
	e.clk.add(25 * time.Hour)
	var rescheduled time.Time
	hs.afterListDue = func() {
		if _, err := e.svc.RestoreCryptoKeyVersion(e.ctx, vname); err != nil {
			t.Errorf("RestoreCryptoKeyVersion = %v", err)
		}
		v, err := e.svc.DestroyCryptoKeyVersion(e.ctx, vname)
		if err != nil {
			t.Errorf("DestroyCryptoKeyVersion = %v", err)
			return
		}
		rescheduled = v.DestroyTime
	}
	e.svc.SchedulerPass(e.ctx)
	v, err := e.svc.GetCryptoKeyVersion(e.ctx, vname)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != DestroyScheduled {
		t.Fatalf("version rescheduled for destruction at %v was destroyed at %v: state %s", rescheduled, e.clk.now(), v.State)
	}
	raw, _, err := e.svc.readVersion(e.ctx, e.store, vname)
	if err != nil || raw.Material == nil {
		t.Fatalf("rescheduled version lost its material (%v)", err)
	}
	// When its new time comes, it is destroyed.
	e.clk.add(25 * time.Hour)
	e.svc.SchedulerPass(e.ctx)
	if v, err := e.svc.GetCryptoKeyVersion(e.ctx, vname); err != nil || v.State != Destroyed {
		t.Fatalf("after the new destroy time: %+v, %v", v, err)
	}
}

// TestDestroyedMaterialLeavesTheDatabaseFile: once a version is destroyed,
// its sealed material is in no byte of the data folder's files, while the
// server runs (the scheduler has the store scrub its WAL). SQLite
// leaves deleted and overwritten cells in the page (and freed pages on the
// freelist) as they were unless secure_delete is on; those bytes are a
// record with a valid MAC, which anyone who can write to the file could put
// back, bringing the destroyed version back to life.
func TestDestroyedMaterialLeavesTheDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := keystore.Open(context.Background(), st, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := &env{
		svc:   New(Config{Store: st, Keystore: ks, Authorizer: allowAdmin{}, Now: clk.now}),
		store: st, clk: clk,
		ctx: WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true}),
	}
	ring := e.ring(t, "r")
	// One small key (its record fits in a page) and one large (an RSA-4096
	// private key: its record spills onto overflow pages).
	var names []string
	for _, k := range []struct {
		id string
		ck CryptoKey
	}{
		{"aes", CryptoKey{Purpose: alg.EncryptDecrypt}},
		{"rsa", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "RSA_SIGN_PSS_4096_SHA256"}}},
	} {
		info := e.key(t, ring, k.id, k.ck)
		names = append(names, info.Key.Name+"/cryptoKeyVersions/1")
	}
	var sealed [][]byte
	for _, vname := range names {
		raw, _, err := e.svc.readVersion(e.ctx, st, vname)
		if err != nil || raw.Material == nil {
			t.Fatalf("readVersion(%s) = %v", vname, err)
		}
		// As the record's JSON holds it; a 48-byte window is enough to
		// find it and too long to match by chance.
		b64 := base64.StdEncoding.EncodeToString(raw.Material)
		sealed = append(sealed, []byte(b64[len(b64)/2-24:len(b64)/2+24]))
		if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, vname); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(25 * time.Hour)
	e.svc.SchedulerPass(e.ctx)
	for _, vname := range names {
		if v, err := e.svc.GetCryptoKeyVersion(e.ctx, vname); err != nil || v.State != Destroyed {
			t.Fatalf("%s: %+v, %v", vname, v, err)
		}
	}
	// While the server runs: the pass had the store scrub its WAL.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range sealed {
			if bytes.Contains(b, s) {
				t.Errorf("%s: the destroyed material of %s is still in the file", ent.Name(), names[i])
			}
		}
	}
}

// TestCacheFillRacingAWrite: a version read from storage just before it is
// disabled, and added to the cache just after the disable's invalidation,
// must not stay cached as ENABLED: Encrypt would go on using a version
// that is disabled (or destroyed) until the entry is evicted.
func TestCacheFillRacingAWrite(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	vname := k.Key.Name + "/cryptoKeyVersions/1"
	e.svc.cache.purge()
	fillHook = func(name string) {
		if name != vname {
			return
		}
		fillHook = nil
		// The whole write happens between the filler's check and its add.
		if _, err := e.svc.UpdateCryptoKeyVersion(e.ctx, vname, Disabled, []string{"state"}); err != nil {
			t.Errorf("UpdateCryptoKeyVersion = %v", err)
		}
	}
	t.Cleanup(func() { fillHook = nil })
	if _, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("x"), nil); err != nil {
		t.Fatalf("Encrypt before the disable = %v", err)
	}
	if v, err := e.svc.GetCryptoKeyVersion(e.ctx, vname); err != nil || v.State != Disabled {
		t.Fatalf("GetCryptoKeyVersion = %+v, %v; want DISABLED", v, err)
	}
	_, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("x"), nil)
	wantCode(t, "Encrypt with a disabled version", err, codes.FailedPrecondition)
}

// scrubStore is a store whose Scrub fails while fail is set, and counts
// its calls.
type scrubStore struct {
	storage.Store
	calls int
	fail  bool
}

func (s *scrubStore) Scrub(context.Context) error {
	s.calls++
	if s.fail {
		return storage.ErrUnavailable
	}
	return nil
}

// TestSchedulerRetriesAFailedScrub: a pass that destroyed something asks
// the store to scrub; when that fails, a later pass asks again, but not
// before scrubRetry, and no more once it succeeded.
func TestSchedulerRetriesAFailedScrub(t *testing.T) {
	e := newEnv(t)
	st := &scrubStore{Store: e.store, fail: true}
	ks, err := keystore.Open(context.Background(), e.store, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e.svc = New(Config{Store: st, Keystore: ks, Authorizer: allowAdmin{}, Now: e.clk.now})
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, k.Key.Name+"/cryptoKeyVersions/1"); err != nil {
		t.Fatal(err)
	}
	e.svc.SchedulerPass(e.ctx) // nothing due yet
	if st.calls != 0 {
		t.Fatalf("%d scrubs before anything was destroyed", st.calls)
	}
	e.clk.add(25 * time.Hour)
	e.svc.SchedulerPass(e.ctx)
	if st.calls != 1 {
		t.Fatalf("%d scrubs after the destruction, want 1", st.calls)
	}
	e.clk.add(scrubRetry / 2)
	e.svc.SchedulerPass(e.ctx)
	if st.calls != 1 {
		t.Fatalf("%d scrubs before scrubRetry, want 1", st.calls)
	}
	st.fail = false
	e.clk.add(scrubRetry)
	e.svc.SchedulerPass(e.ctx)
	e.clk.add(scrubRetry)
	e.svc.SchedulerPass(e.ctx)
	if st.calls != 2 {
		t.Fatalf("%d scrubs, want 2: one retry, then none once it succeeded", st.calls)
	}
}
