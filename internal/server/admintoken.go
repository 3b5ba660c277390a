// SPDX-License-Identifier: Apache-2.0

package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
	"google.golang.org/grpc/status"
)

// rotateAdminTokenMethod names a change of the admin token in the audit log.
const rotateAdminTokenMethod = "RotateAdminToken"

// writeTokenFile writes the dev token file (tests make it fail).
var writeTokenFile = writeFileAtomic

// adminTokens changes the admin token of a running server.
type adminTokens struct {
	mu    sync.Mutex // one change at a time
	store storage.Store
	ks    *keystore.Keystore
	authn *auth.Authenticator
	audit kms.Auditor
	log   *slog.Logger
	// tokenPath is the dev token file, rewritten with each new token; ""
	// in production, where only the token's hash is kept. devToken is the
	// dev token in force, and closed is set once the server stops: the
	// file is written and withdrawn under mu, so that neither the start's
	// publication nor the stop's withdrawal races a rotation.
	tokenPath string
	devToken  string
	closed    bool
}

// publish writes the dev token file with the token in force.
func (a *adminTokens) publish() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return writeFileAtomic(a.tokenPath, []byte(a.devToken+"\n"), 0o600)
}

// close withdraws the dev token file for good: the server is stopping,
// and changes the token no more.
func (a *adminTokens) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.tokenPath != "" {
		os.Remove(a.tokenPath)
	}
}

// adminTokenRecord returns the record that keeps tok: in production its
// SHA-256 (the token is shown once and never stored), in dev mode the token
// sealed, so that a restarted dev server writes the same token file.
func adminTokenRecord(ks *keystore.Keystore, dev bool, tok string) storage.Record {
	var rec storage.Record
	if dev {
		rec = storage.Record{Kind: keystore.KindSystem, Name: keystore.DevAdminTokenName, Data: ks.Seal(keystore.DevAdminTokenName, []byte(tok))}
	} else {
		h := sha256.Sum256([]byte(tok))
		rec = storage.Record{Kind: keystore.KindSystem, Name: adminHashRecord, Data: h[:]}
	}
	ks.Sign(&rec)
	return rec
}

// putRecord replaces the record named name with the one build makes, and
// returns the one it replaced. build runs inside the transaction, so that
// a value it seals is sealed under the barrier key current when the
// transaction runs: one sealed before a rotation of the barrier key and
// written after barrierKeys.resealDevToken would stay under the old key.
func putRecord(ctx context.Context, store storage.Store, name string, build func() (storage.Record, error)) (old storage.Record, err error) {
	err = store.Update(ctx, func(tx storage.Tx) error {
		var err error
		if old, err = tx.Get(ctx, name); err != nil {
			return err
		}
		rec, err := build()
		if err != nil {
			return err
		}
		rec.Rev = old.Rev
		return tx.Put(ctx, rec)
	})
	return old, err
}

// sealedNow returns rec, a dev admin token record, sealed again under the
// current barrier key if an older one sealed it (a rotation of the barrier
// key came between the read of rec and its writing back).
func sealedNow(ks *keystore.Keystore, rec storage.Record) (storage.Record, error) {
	if rec.Name != keystore.DevAdminTokenName {
		return rec, nil
	}
	if id, ok := keystore.SealedWith(rec.Data); !ok || id >= ks.Barrier() {
		return rec, nil
	}
	if err := ks.Verify(rec); err != nil {
		return rec, err
	}
	tok, err := ks.Unseal(rec.Name, rec.Data)
	if err != nil {
		return rec, err
	}
	defer clear(tok)
	nr := storage.Record{Kind: rec.Kind, Name: rec.Name, Parent: rec.Parent, Due: rec.Due, Data: ks.Seal(rec.Name, tok)}
	ks.Sign(&nr)
	return nr, nil
}

// rotate makes a new admin token and returns it: from then on the server
// accepts it, and no longer the one before. It is recorded
// (RotateAdminToken), never the token. The new token is kept and recorded
// before the server switches to it: if either fails, the old token stays
// the admin's, in the store and in memory.
//
// presented is the token the call was authenticated with: a call whose
// token another change replaced since (it waited for the lock) is refused.
func (a *adminTokens) rotate(ctx context.Context, presented string) (string, error) {
	c := kms.CallerFrom(ctx)
	if c == nil || !c.Admin {
		return "", kmserr.PermissionDenied("only the admin can change the admin token")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// A call authenticated with a token another change has replaced
	// since (it waited for the lock) is refused: the old token is refused
	// at once, also by calls under way.
	if !a.authn.IsAdminToken(presented) {
		return "", kmserr.Unauthenticated("the admin token of this call was changed meanwhile")
	}
	if a.closed {
		return "", kmserr.Unavailable(nil, "the server is stopping")
	}
	// A client that went away (while another change held the lock, say)
	// would never receive the new token: changing it then would lock the
	// admin out. Past this point the change is carried through.
	if err := ctx.Err(); err != nil {
		return "", status.FromContextError(err).Err()
	}
	tok, err := auth.NewAdminToken()
	if err != nil {
		return "", kmserr.Internal(err, "internal error")
	}
	// A change must not be cut short by a client that goes away between
	// the store and the audit log.
	ctx = context.WithoutCancel(ctx)
	dev := a.tokenPath != ""
	name := adminHashRecord
	if dev {
		name = keystore.DevAdminTokenName
	}
	old, err := putRecord(ctx, a.store, name, func() (storage.Record, error) { return adminTokenRecord(a.ks, dev, tok), nil })
	if err != nil {
		err = kmserr.Unavailable(err, "the new admin token could not be stored")
		a.record(ctx, err)
		return "", err
	}
	if err := a.record(ctx, nil); err != nil {
		// Unrecorded, the change is undone: put the old record back.
		if _, uerr := putRecord(ctx, a.store, name, func() (storage.Record, error) { return sealedNow(a.ks, old) }); uerr != nil {
			a.log.Error("admin token: the change could not be recorded nor undone; the old token works until the server restarts, then only the new one, which nobody was shown: run custos init --new-admin-token", "err", errors.Join(err, uerr))
		}
		return "", err
	}
	a.authn.SetAdminHash(sha256.Sum256([]byte(tok)))
	if a.tokenPath != "" {
		a.devToken = tok
		if err := writeTokenFile(a.tokenPath, []byte(tok+"\n"), 0o600); err != nil {
			// Better no file (a script waits for it) than one holding a
			// token refused from now on; a restart writes it again.
			rerr := os.Remove(a.tokenPath)
			if errors.Is(rerr, os.ErrNotExist) {
				rerr = nil
			}
			a.log.Error("admin token changed, but the dev token file could not be written: the caller has the new token, a restart writes the file again", "file", a.tokenPath, "err", errors.Join(err, rerr))
		}
	}
	a.log.Warn("the admin token was changed: the old one is refused from now on", "by", c.Principal, "request", c.RequestID)
	return tok, nil
}

func (a *adminTokens) record(ctx context.Context, err error) error {
	if a.audit == nil {
		return nil
	}
	if rerr := a.audit.Record(ctx, kms.Event{Method: rotateAdminTokenMethod, Resource: "admin", Err: err}); rerr != nil {
		return fmt.Errorf("record the change: %w", rerr)
	}
	return nil
}
