// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"bytes"
	"context"
	"crypto"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage"
)

// sealedUnder returns the barrier key that sealed the value of a version or
// import job record, 0 for none.
func sealedUnder(t *testing.T, e *env, name string) uint32 {
	t.Helper()
	rec, err := e.store.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := e.svc.sealedIn(rec)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := keystore.SealedWith(sealed)
	return id
}

// TestReseal: after a rotation of the barrier key, Reseal moves every
// version's material and import job's private key to the new key, leaves
// destroyed material alone, changes nothing a caller sees (old ciphertexts
// decrypt, even with the cache cold), and has nothing left to do a second
// time.
func TestReseal(t *testing.T) {
	e := newEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	v2, err := e.svc.CreateCryptoKeyVersion(e.ctx, k.Key.Name, "GOOGLE_SYMMETRIC_ENCRYPTION")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DestroyCryptoKeyVersion(e.ctx, v2.Name); err != nil {
		t.Fatal(err)
	}
	sig := e.key(t, ring, "s", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}})
	sigV := sig.Key.Name + "/cryptoKeyVersions/1"
	job, err := e.svc.CreateImportJob(e.ctx, ring, "j", ImportJob{ImportMethod: RSAOAEP3072SHA256AES256, ProtectionLevel: Software})
	if err != nil {
		t.Fatal(err)
	}
	ct, _, err := e.svc.Encrypt(e.ctx, k.Key.Name, []byte("attack at dawn"), nil)
	if err != nil {
		t.Fatal(err)
	}

	if id, err := e.svc.ks.Rotate(context.Background()); err != nil || id != 2 {
		t.Fatalf("Rotate() = %d, %v", id, err)
	}
	e.svc.cache.invalidate(k.Primary.Name) // a cold cache unseals again
	if pt, _, err := e.svc.Decrypt(e.ctx, k.Key.Name, ct, nil); err != nil || !bytes.Equal(pt, []byte("attack at dawn")) {
		t.Fatalf("Decrypt before the reseal = %q, %v", pt, err)
	}
	rep, err := e.svc.Reseal(e.ctx)
	// The primary, the version scheduled for destruction (it keeps its
	// material until then), the signing version and the import job.
	if err != nil || rep.Barrier != 2 || rep.Resealed != 4 {
		t.Fatalf("Reseal() = %+v, %v; want barrier 2, 4 resealed", rep, err)
	}
	for _, n := range []string{k.Primary.Name, v2.Name, sigV, job.Name} {
		if id := sealedUnder(t, e, n); id != 2 {
			t.Errorf("%s is sealed under barrier key %d after the reseal, want 2", n, id)
		}
	}
	e.svc.cache.invalidate(k.Primary.Name)
	if pt, _, err := e.svc.Decrypt(e.ctx, k.Key.Name, ct, nil); err != nil || !bytes.Equal(pt, []byte("attack at dawn")) {
		t.Fatalf("Decrypt after the reseal = %q, %v", pt, err)
	}
	if _, _, err := e.svc.AsymmetricSign(e.ctx, SignRequest{Name: sigV, Digest: bytes.Repeat([]byte{1}, 32), DigestHash: crypto.SHA256}); err != nil {
		t.Errorf("AsymmetricSign after the reseal: %v", err)
	}
	if rep, err := e.svc.Reseal(e.ctx); err != nil || rep.Resealed != 0 {
		t.Errorf("a second Reseal() = %+v, %v; want nothing to do", rep, err)
	}
	// Every record still passes its checks (MAC, state against material).
	w := e.store.(storage.Walker)
	all, err := w.Walk(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	checks := RecordChecks()
	for _, r := range all {
		if err := e.svc.ks.Verify(r); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
		if c := checks[r.Kind]; c != nil {
			if _, err := c(e.svc.ks, r); err != nil {
				t.Errorf("%s: %v", r.Name, err)
			}
		}
	}
}
