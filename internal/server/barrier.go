// SPDX-License-Identifier: Apache-2.0

package server

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// barrierKeys rotates the barrier key of a running server and seals again
// under the new one what older ones sealed.
type barrierKeys struct {
	mu    sync.Mutex // one rotation or reseal at a time
	store storage.Store
	ks    *keystore.Keystore
	svc   *kms.Service
	audit kms.Auditor
}

// rotate adds a barrier key, then reseals; recorded as RotateBarrierKey.
func (b *barrierKeys) rotate(ctx context.Context) (admin.BarrierJSON, error) {
	return b.run(ctx, "RotateBarrierKey", true)
}

// reseal reseals under the current barrier key (to finish a rotation a
// failure cut short); recorded as ResealBarrierKey.
func (b *barrierKeys) reseal(ctx context.Context) (admin.BarrierJSON, error) {
	return b.run(ctx, "ResealBarrierKey", false)
}

func (b *barrierKeys) run(ctx context.Context, method string, rotate bool) (admin.BarrierJSON, error) {
	if c := kms.CallerFrom(ctx); c == nil || !c.Admin {
		return admin.BarrierJSON{}, kmserr.PermissionDenied("only the admin can change the barrier key")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// The pass must not stop halfway because the client went away.
	ctx = context.WithoutCancel(ctx)
	var out admin.BarrierJSON
	err := func() error {
		if rotate {
			if _, err := b.ks.Rotate(ctx); err != nil {
				return kmserr.Unavailable(err, "the new barrier key could not be stored")
			}
		}
		rep, err := b.svc.Reseal(ctx)
		out = admin.BarrierJSON{Barrier: rep.Barrier, Resealed: rep.Resealed}
		if err != nil {
			return err
		}
		n, err := b.resealDevToken(ctx)
		out.Resealed += n
		return err
	}()
	details := map[string]string{"barrier": strconv.FormatUint(uint64(b.ks.Barrier()), 10), "resealed": strconv.FormatInt(out.Resealed, 10)}
	if rerr := b.audit.Record(ctx, kms.Event{Method: method, Resource: "keystore", Err: err, Details: details}); rerr != nil && err == nil {
		err = rerr
	}
	out.Barrier = b.ks.Barrier()
	return out, err
}

// resealDevToken reseals a dev server's admin token, if it has one under
// an older barrier key.
func (b *barrierKeys) resealDevToken(ctx context.Context) (int64, error) {
	var n int64
	err := b.store.Update(ctx, func(tx storage.Tx) error {
		n = 0
		rec, err := tx.Get(ctx, keystore.DevAdminTokenName)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := b.ks.Verify(rec); err != nil {
			return err
		}
		if id, ok := keystore.SealedWith(rec.Data); !ok || id == b.ks.Barrier() {
			return nil
		}
		tok, err := b.ks.Unseal(rec.Name, rec.Data)
		if err != nil {
			return err
		}
		defer clear(tok)
		newRec := storage.Record{Kind: rec.Kind, Name: rec.Name, Data: b.ks.Seal(rec.Name, tok), Rev: rec.Rev}
		b.ks.Sign(&newRec)
		n = 1
		return tx.Put(ctx, newRec)
	})
	if err != nil {
		return 0, kmserr.Unavailable(err, "the admin token could not be sealed again")
	}
	return n, nil
}
