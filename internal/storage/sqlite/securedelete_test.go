// SPDX-License-Identifier: Apache-2.0

package sqlite

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/custos-kms/custos/internal/storage"
)

// TestReplacedDataLeavesTheFile: bytes that a Put replaced or a Delete
// removed are in no file of the store once it is closed (the WAL
// checkpointed). The core erases a destroyed version's material by
// rewriting its record; SQLite would otherwise leave the old cell in the
// page's free space, or the old overflow pages on the freelist.
func TestReplacedDataLeavesTheFile(t *testing.T) {
	s, path := openTemp(t)
	secret := func(n int) []byte {
		b := make([]byte, n/2)
		rand.Read(b)
		return []byte(hex.EncodeToString(b))
	}
	var gone [][]byte
	for i, size := range []int{64, 600, 20_000} { // in a page; in a page; overflow pages
		put, del := testRecord("put/"+string(rune('a'+i))), testRecord("del/"+string(rune('a'+i)))
		put.Data, del.Data = secret(size), secret(size)
		gone = append(gone, put.Data, del.Data)
		update(t, s, func(tx storage.Tx) error {
			if err := tx.Create(t.Context(), put); err != nil {
				return err
			}
			return tx.Create(t.Context(), del)
		})
		put.Data = []byte("erased")
		update(t, s, func(tx storage.Tx) error {
			if err := tx.Put(t.Context(), put); err != nil {
				return err
			}
			return tx.Delete(t.Context(), del.Name)
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gone {
			// 32 bytes in the middle: the whole of each page's share.
			if w := g[len(g)/2-16 : len(g)/2+16]; bytes.Contains(b, w) {
				t.Errorf("%s holds bytes of a %d-byte value that was replaced or deleted", ent.Name(), len(g))
			}
		}
	}
}
