// SPDX-License-Identifier: Apache-2.0

package keystore

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// TestRotateDuringATransactionThatUnseals: the store's writer may run a
// transaction that unseals material under a barrier key this keystore has
// not loaded (another node added it), while Rotate waits for the writer to
// store the next key. Rotate must not hold the lock that the lazy load of
// Unseal needs meanwhile: the two would wait for each other forever.
func TestRotateDuringATransactionThatUnseals(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	k, err := Open(ctx, st, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const name = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
	sealed := k.Seal(name, []byte("material"))
	sealed[len(materialTag)+3] = 9 // a key this keystore does not know (yet)

	var once sync.Once
	inTx := make(chan struct{})
	unsealed := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- st.Update(ctx, func(storage.Tx) error {
			once.Do(func() { close(inTx) })
			// Wait (a while) for Rotate to be waiting for this writer.
			for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
				if !k.mu.TryLock() {
					break
				}
				k.mu.Unlock()
			}
			go func() {
				k.Unseal(name, sealed)
				close(unsealed)
			}()
			select {
			case <-unsealed:
			case <-time.After(3 * time.Second):
				t.Error("Unseal in a transaction waits for a Rotate that waits for the transaction: a deadlock")
			}
			return nil
		})
	}()
	<-inTx
	if id, err := k.Rotate(ctx); err != nil || id != 2 {
		t.Errorf("Rotate() = %d, %v, want 2", id, err)
	}
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	<-unsealed
}
