// SPDX-License-Identifier: Apache-2.0

package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// rotateAdminTokenMethod names a change of the admin token in the audit log.
const rotateAdminTokenMethod = "RotateAdminToken"

// adminTokens changes the admin token of a running server.
type adminTokens struct {
	mu    sync.Mutex // one change at a time
	store storage.Store
	ks    *keystore.Keystore
	authn *auth.Authenticator
	audit kms.Auditor
	log   *slog.Logger
	// tokenPath is the dev token file, rewritten with each new token; ""
	// in production, where only the token's hash is kept.
	tokenPath string
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

// putRecord replaces the record named rec.Name with rec, and returns the
// one it replaced.
func putRecord(ctx context.Context, store storage.Store, rec storage.Record) (old storage.Record, err error) {
	err = store.Update(ctx, func(tx storage.Tx) error {
		var err error
		if old, err = tx.Get(ctx, rec.Name); err != nil {
			return err
		}
		rec.Rev = old.Rev
		return tx.Put(ctx, rec)
	})
	return old, err
}

// rotate makes a new admin token and returns it: from then on the server
// accepts it, and no longer the one before. It is recorded
// (RotateAdminToken), never the token. The new token is kept and recorded
// before the server switches to it: if either fails, the old token stays
// the admin's, in the store and in memory.
func (a *adminTokens) rotate(ctx context.Context) (string, error) {
	c := kms.CallerFrom(ctx)
	if c == nil || !c.Admin {
		return "", kmserr.PermissionDenied("only the admin can change the admin token")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	tok, err := auth.NewAdminToken()
	if err != nil {
		return "", kmserr.Internal(err, "internal error")
	}
	// A change must not be cut short by a client that goes away between
	// the store and the audit log.
	ctx = context.WithoutCancel(ctx)
	old, err := putRecord(ctx, a.store, adminTokenRecord(a.ks, a.tokenPath != "", tok))
	if err != nil {
		err = kmserr.Unavailable(err, "the new admin token could not be stored")
		a.record(ctx, err)
		return "", err
	}
	if err := a.record(ctx, nil); err != nil {
		// Unrecorded, the change is undone: put the old record back.
		if _, uerr := putRecord(ctx, a.store, old); uerr != nil {
			a.log.Error("admin token: the change could not be recorded nor undone; the old token works until the server restarts, then only the new one, which nobody was shown: run custos init --new-admin-token", "err", errors.Join(err, uerr))
		}
		return "", err
	}
	a.authn.SetAdminHash(sha256.Sum256([]byte(tok)))
	if a.tokenPath != "" {
		if err := writeFileAtomic(a.tokenPath, []byte(tok+"\n"), 0o600); err != nil {
			a.log.Error("admin token changed, but the dev token file could not be written", "file", a.tokenPath, "err", err)
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
