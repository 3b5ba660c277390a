// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// gateStore holds back one Update of the Service: before it starts
// (entered, then wait for release), or after its function ran and before
// it commits (ran, then wait for walked or a second).
type gateStore struct {
	storage.Store
	mu       sync.Mutex
	armed    bool
	inside   bool // hold the call after its function ran, not before
	entered  chan struct{}
	release  chan struct{}
	walkOnce sync.Once
	walked   chan struct{}
}

func newGateStore(st storage.Store) *gateStore {
	return &gateStore{Store: st, entered: make(chan struct{}), release: make(chan struct{}), walked: make(chan struct{})}
}

func (g *gateStore) take() (bool, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	armed, inside := g.armed, g.inside
	g.armed = false
	return armed, inside
}

func (g *gateStore) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	armed, inside := g.take()
	if !armed {
		return g.Store.Update(ctx, fn)
	}
	if !inside {
		close(g.entered)
		<-g.release
		return g.Store.Update(ctx, fn)
	}
	return g.Store.Update(ctx, func(tx storage.Tx) error {
		err := fn(tx)
		close(g.entered)
		select {
		case <-g.walked:
		case <-time.After(time.Second):
		}
		return err
	})
}

func (g *gateStore) Walk(ctx context.Context, after string, limit int) ([]storage.Record, error) {
	rs, err := g.Store.(storage.Walker).Walk(ctx, after, limit)
	g.walkOnce.Do(func() { close(g.walked) })
	return rs, err
}

// TestResealMissesNothingSealedBeforeTheRotation: material sealed under the
// old barrier key just before a rotation, and written once Reseal has
// passed its name, must not stay under the old key: a new key's first
// version and an import job's key are sealed before their transaction.
func TestResealMissesNothingSealedBeforeTheRotation(t *testing.T) {
	for _, what := range []string{"key", "import job"} {
		t.Run(what, func(t *testing.T) {
			st, ks := sqlitetest.Open(t, 3)
			gate := newGateStore(st)
			e := &env{store: st, ctx: WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true})}
			e.svc = New(Config{Store: gate, Keystore: ks, Authorizer: allowAdmin{}})
			ring := e.ring(t, "r")
			gate.mu.Lock()
			gate.armed = true
			gate.mu.Unlock()
			var name string
			done := make(chan error, 1)
			go func() {
				var err error
				if what == "key" {
					var k *KeyInfo
					if k, err = e.svc.CreateCryptoKey(e.ctx, CreateKeyRequest{Parent: ring, ID: "k", Key: CryptoKey{Purpose: alg.EncryptDecrypt}}); err == nil {
						name = k.Key.Name + "/cryptoKeyVersions/1"
					}
				} else {
					var j *ImportJob
					if j, err = e.svc.CreateImportJob(e.ctx, ring, "j", ImportJob{ImportMethod: RSAOAEP3072SHA256AES256, ProtectionLevel: Software}); err == nil {
						name = j.Name
					}
				}
				done <- err
			}()
			<-gate.entered // sealed under barrier key 1, not written yet
			if _, err := ks.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Reseal(e.ctx); err != nil {
				t.Fatal(err)
			}
			close(gate.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if id := sealedUnder(t, e, name); id != 2 {
				t.Errorf("%s is sealed under barrier key %d after the rotation and reseal, want 2", name, id)
			}
		})
	}
}

// TestResealWaitsForTransactionsUnderWay: a version sealed under the old
// barrier key in a transaction that commits only after the rotation (the
// writer had run its function just before) must not be missed by the walk.
func TestResealWaitsForTransactionsUnderWay(t *testing.T) {
	st, _ := sqlitetest.Open(t, 3)
	// The keystore writes its barrier keys through hooked, which runs
	// afterCreate once barrier key 2 is stored and before the keystore
	// makes it current.
	hooked := &createHookStore{Store: st}
	ks, err := keystore.Open(context.Background(), hooked, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	gate := newGateStore(st)
	e := &env{store: st, ctx: WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true})}
	e.svc = New(Config{Store: gate, Keystore: ks, Authorizer: allowAdmin{}})
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt})
	var v2 *Version
	done := make(chan error, 1)
	hooked.afterCreate = func() {
		gate.mu.Lock()
		gate.armed, gate.inside = true, true
		gate.mu.Unlock()
		go func() {
			var err error
			v2, err = e.svc.CreateCryptoKeyVersion(e.ctx, k.Key.Name, "")
			done <- err
		}()
		<-gate.entered // its function ran: sealed under key 1, not committed
	}
	if id, err := ks.Rotate(context.Background()); err != nil || id != 2 {
		t.Fatalf("Rotate() = %d, %v", id, err)
	}
	if _, err := e.svc.Reseal(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{k.Primary.Name, v2.Name} {
		if id := sealedUnder(t, e, n); id != 2 {
			t.Errorf("%s is sealed under barrier key %d after the rotation and reseal, want 2", n, id)
		}
	}
}

// createHookStore runs afterCreate, once, after an Update that commits.
type createHookStore struct {
	storage.Store
	once        sync.Once
	afterCreate func()
}

func (c *createHookStore) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	err := c.Store.Update(ctx, fn)
	if err == nil && c.afterCreate != nil {
		c.once.Do(c.afterCreate)
	}
	return err
}
