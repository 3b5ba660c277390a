// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// Storage kinds and names of the records of apps. App names are unique
// server-wide, so an app's record is named by its name alone.
//
//	apps/NAME                  kindApp, parent "apps"
//	appkeys/KEYID              kindAppKey, parent "apps/NAME"
//	appidx/google/EMAIL        kindAppIndex: lower-cased Google service account -> app name
//	appidx/mtls/FINGERPRINT    kindAppIndex: certificate SHA-256 (hex) -> key id
const (
	kindApp      storage.Kind = "app"
	kindAppKey   storage.Kind = "appkey"
	kindAppIndex storage.Kind = "appindex"

	appsParent = "apps"
)

func appRecordName(name string) string    { return "apps/" + name }
func keyRecordName(id string) string      { return "appkeys/" + id }
func googleIndexName(email string) string { return "appidx/google/" + email }
func mtlsIndexName(fp string) string      { return "appidx/mtls/" + fp }

// encode serializes v into a record signed by the keystore.
func (a *Apps) encode(kind storage.Kind, name, parent string, v any) (storage.Record, error) {
	return signed.Encode(a.ks, kind, name, parent, 0, v)
}

// decode verifies r's MAC and kind, then unmarshals it into v. A record that
// fails either check was altered or moved on disk: it is refused, never used.
func (a *Apps) decode(r storage.Record, kind storage.Kind, v any) error {
	err := signed.Decode(a.ks, r, kind, v)
	if err != nil {
		a.log.Error("stored record failed its integrity check", "name", r.Name, "kind", r.Kind)
	}
	return err
}

// storeErr converts a storage error into the API error for a resource.
func storeErr(err error, what, name string) error { return signed.Err(err, what, name) }

// readApp reads and verifies an app record through r (a store or a tx).
func (a *Apps) readApp(ctx context.Context, r storage.Reader, name string) (*App, storage.Record, error) {
	rec, err := r.Get(ctx, appRecordName(name))
	if err != nil {
		return nil, rec, storeErr(err, "app", name)
	}
	app := new(App)
	if err := a.decode(rec, kindApp, app); err != nil {
		return nil, rec, err
	}
	if app.Name != name {
		return nil, rec, kmserr.DataLoss(nil, "stored record %s holds app %s", rec.Name, app.Name)
	}
	return app, rec, nil
}

// readKey reads and verifies a key record through r.
func (a *Apps) readKey(ctx context.Context, r storage.Reader, id string) (*keyRecord, storage.Record, error) {
	rec, err := r.Get(ctx, keyRecordName(id))
	if err != nil {
		return nil, rec, storeErr(err, "key", id)
	}
	k := new(keyRecord)
	if err := a.decode(rec, kindAppKey, k); err != nil {
		return nil, rec, err
	}
	if k.ID != id || rec.Parent != appRecordName(k.App) {
		return nil, rec, kmserr.DataLoss(nil, "stored record %s holds key %s of app %s", rec.Name, k.ID, k.App)
	}
	return k, rec, nil
}

// readIndex reads and verifies an index record: the name it points to.
func (a *Apps) readIndex(ctx context.Context, r storage.Reader, name string) (string, storage.Record, error) {
	rec, err := r.Get(ctx, name)
	if err != nil {
		return "", rec, storeErr(err, "index", name)
	}
	var target string
	if err := a.decode(rec, kindAppIndex, &target); err != nil {
		return "", rec, err
	}
	return target, rec, nil
}

// update runs fn in a storage transaction, then drops the record names it
// wrote from the cache. It maps storage errors to API errors.
func (a *Apps) update(ctx context.Context, fn func(tx storage.Tx) ([]string, error)) error {
	var touched []string
	var fnErr error
	err := a.store.Update(ctx, func(tx storage.Tx) error {
		touched, fnErr = fn(tx)
		return fnErr
	})
	// Invalidate even on error: dropping a cache entry is always safe.
	a.cache.invalidate(touched...)
	if fnErr != nil {
		return fnErr
	}
	return storeErr(err, "resource", "")
}
