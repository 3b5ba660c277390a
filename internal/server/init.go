// SPDX-License-Identifier: Apache-2.0

package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/seal/devfile"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

// adminHashRecord holds the SHA-256 of a production server's admin token:
// the token itself is shown once and never stored.
const adminHashRecord = "system/admin-token-sha256"

// openStore opens the root key (dev: a file in the data folder, created on
// first start; production: the operator's --root-key-file, never created
// here), the embedded store, and the keystore over them.
func openStore(ctx context.Context, opts Options, log *slog.Logger) (storage.Store, *keystore.Keystore, error) {
	var (
		sl  *devfile.Seal
		err error
	)
	if opts.Dev {
		sl, err = devfile.Open(filepath.Join(opts.DataDir, rootKeyFile))
		log.Warn("DEV MODE: the root key is kept in a plain file in the data folder; anyone who can read it can read every key. Never use dev mode in production.",
			"root_key", filepath.Join(opts.DataDir, rootKeyFile))
	} else {
		sl, err = devfile.Load(opts.RootKeyFile)
	}
	if err != nil {
		return nil, nil, err
	}
	root, err := sl.RootKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlite.Open(filepath.Join(opts.DataDir, dbFile))
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	ks, err := keystore.Open(ctx, store, root)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, ks, nil
}

// firstAdmin returns the admin token's hash, creating the first admin on a
// new production store: its token is written once to out and only its hash
// is kept.
func firstAdmin(ctx context.Context, store storage.Store, ks *keystore.Keystore, out io.Writer) ([32]byte, error) {
	var h [32]byte
	rec, err := store.Get(ctx, adminHashRecord)
	if err == nil {
		if err := ks.Verify(rec); err != nil {
			return h, err
		}
		if len(rec.Data) != len(h) {
			return h, fmt.Errorf("admin token record is malformed")
		}
		copy(h[:], rec.Data)
		return h, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return h, fmt.Errorf("read admin token: %w", err)
	}
	tok, err := auth.NewAdminToken()
	if err != nil {
		return h, err
	}
	h = sha256.Sum256([]byte(tok))
	rec = adminTokenRecord(ks, false, tok)
	if err := store.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, rec) }); err != nil {
		return h, fmt.Errorf("store admin token: %w", err)
	}
	if _, err := fmt.Fprintf(out, "custos: the first admin token, shown once; keep it safe (it grants every permission):\n%s\n", tok); err != nil {
		// Nobody has the token: keep no admin, so that the next run
		// makes one it can show.
		derr := store.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, adminHashRecord) })
		return h, errors.Join(fmt.Errorf("show the first admin token: %w", err), derr)
	}
	return h, nil
}

// InitOptions are the settings of `custos init`.
type InitOptions struct {
	DataDir     string
	RootKeyFile string
	Out         io.Writer
	// NewAdminToken replaces the admin token of a prepared folder (one
	// lost, or leaked) with a new one, printed once: the way back in for
	// whoever holds the root key file, with the server stopped.
	NewAdminToken bool
}

// Init prepares a production server: it creates the root key file if it
// does not exist (mode 0600), the store and its barrier key, and the first
// admin, whose token it prints once. Running it again on an initialized
// folder changes nothing and prints no token.
func Init(ctx context.Context, o InitOptions) error {
	if o.DataDir == "" || o.RootKeyFile == "" {
		return errors.New("init needs --data and --root-key-file")
	}
	if inside(mustAbs(o.RootKeyFile), mustAbs(o.DataDir)) {
		return errors.New("keep the root key file outside the data folder: whoever copies the data must not get the key with it")
	}
	if o.NewAdminToken {
		// The way back into a prepared folder creates nothing: a mistyped
		// path must not leave a new root key file or a new store behind.
		if _, err := os.Stat(filepath.Join(o.DataDir, dbFile)); err != nil {
			return fmt.Errorf("--new-admin-token: %s holds no store: name the data folder of a prepared server (%w)", o.DataDir, err)
		}
	} else if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	// Not while a server uses the folder: both could make a first admin.
	unlock, err := lockDataDir(o.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	if o.NewAdminToken {
		// The root key must exist: it is what proves the right to a new
		// token (openStore loads it, and never creates one).
		if _, err := devfile.Load(o.RootKeyFile); err != nil {
			return err
		}
	} else if _, err := devfile.Open(o.RootKeyFile); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	store, ks, err := openStore(ctx, Options{DataDir: o.DataDir, RootKeyFile: o.RootKeyFile}, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if o.NewAdminToken {
		return replaceAdminToken(ctx, store, ks, o.Out)
	}
	var none [32]byte
	h, err := firstAdmin(ctx, store, ks, o.Out)
	if err == nil && subtle.ConstantTimeCompare(h[:], none[:]) == 1 {
		err = errors.New("admin token record is empty")
	}
	return err
}

// inside reports whether path lies in dir or in one of its subfolders.
func inside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// initPrincipal is who changes the admin token offline, in the audit log.
const initPrincipal = "local:custos-init"

// replaceAdminToken gives a prepared production store a new admin token,
// recorded in its audit log (RotateAdminToken by local:custos-init), and
// prints it once. The old token is refused by the next server.
func replaceAdminToken(ctx context.Context, store storage.Store, ks *keystore.Keystore, out io.Writer) error {
	if _, err := store.Get(ctx, adminHashRecord); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return errors.New("--new-admin-token: this folder has no admin yet (a dev folder, or one init never prepared): run init without it")
		}
		return fmt.Errorf("read admin token: %w", err)
	}
	log, err := audit.Open(ctx, store, ks, ks.Derive(audit.ChainKeyInfo, 32), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer log.Close()
	tok, err := auth.NewAdminToken()
	if err != nil {
		return err
	}
	old, err := putRecord(ctx, store, adminHashRecord, func() (storage.Record, error) { return adminTokenRecord(ks, false, tok), nil })
	if err != nil {
		return fmt.Errorf("store the new admin token: %w", err)
	}
	// Shown to nobody yet: undo the change if it cannot be recorded or
	// shown, so that the old token stays the admin's.
	undo := func(cause error) error {
		if _, err := putRecord(ctx, store, adminHashRecord, func() (storage.Record, error) { return old, nil }); err != nil {
			return errors.Join(cause, fmt.Errorf("and the old admin token could not be put back: %w", err))
		}
		return cause
	}
	actx := kms.WithCaller(ctx, &kms.Caller{Principal: initPrincipal, AuthMethod: "root-key-file"})
	if err := log.Record(actx, kms.Event{Method: rotateAdminTokenMethod, Resource: "admin"}); err != nil {
		return undo(fmt.Errorf("record the change: %w", err))
	}
	if _, err := fmt.Fprintf(out, "custos: a new admin token, shown once; the old one is refused from the next start (keep it safe: it grants every permission):\n%s\n", tok); err != nil {
		return undo(fmt.Errorf("show the new admin token: %w", err))
	}
	return nil
}
