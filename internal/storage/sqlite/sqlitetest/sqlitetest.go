// SPDX-License-Identifier: Apache-2.0

// Package sqlitetest opens what most tests of the server's packages start
// from: a SQLite store in a temporary folder and a keystore over it.
package sqlitetest

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

// Open returns a store in a temporary folder of t, closed when the test
// ends, and a keystore over it whose root key is 32 bytes of root: tests
// that open the same store again pass the same byte.
func Open(t testing.TB, root byte) (*sqlite.Store, *keystore.Keystore) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ks, err := keystore.Open(context.Background(), st, bytes.Repeat([]byte{root}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return st, ks
}
