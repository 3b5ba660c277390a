// SPDX-License-Identifier: Apache-2.0

package keystore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

func openStore(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSealUnseal(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	root := bytes.Repeat([]byte{7}, 32)
	k, err := Open(ctx, st, root)
	if err != nil {
		t.Fatal(err)
	}
	material := []byte("0123456789abcdef0123456789abcdef")
	sealed := k.Seal("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", material)
	if bytes.Contains(sealed, material) {
		t.Fatal("sealed material contains the plaintext")
	}
	got, err := k.Unseal("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", sealed)
	if err != nil || !bytes.Equal(got, material) {
		t.Fatalf("Unseal = %x, %v", got, err)
	}
	tests := []struct {
		name   string
		rename string
		mutate func([]byte) []byte
	}{
		{"other resource name", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2", nil},
		{"flipped byte", "", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"truncated", "", func(b []byte) []byte { return b[:len(b)-1] }},
		{"unknown barrier", "", func(b []byte) []byte { b[5] = 9; return b }},
		{"empty", "", func([]byte) []byte { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
			if tc.rename != "" {
				name = tc.rename
			}
			b := bytes.Clone(sealed)
			if tc.mutate != nil {
				b = tc.mutate(b)
			}
			if _, err := k.Unseal(name, b); !errors.Is(err, ErrTampered) {
				t.Fatalf("Unseal = %v, want ErrTampered", err)
			}
		})
	}

	// The same root key reopens the store; another is refused.
	k2, err := Open(ctx, st, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Unseal("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", sealed); err != nil {
		t.Fatalf("reopened keystore cannot unseal: %v", err)
	}
	if _, err := Open(ctx, st, bytes.Repeat([]byte{8}, 32)); !errors.Is(err, ErrWrongRootKey) {
		t.Fatalf("Open with another root key = %v, want ErrWrongRootKey", err)
	}
}

func TestRecordMAC(t *testing.T) {
	ctx := context.Background()
	k, err := Open(ctx, openStore(t), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := storage.Record{Kind: "cryptokey", Name: "a", Parent: "p", Due: 5, Data: []byte(`{"x":1}`)}
	k.Sign(&r)
	if err := k.Verify(r); err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(r *storage.Record){
		"kind":   func(r *storage.Record) { r.Kind = "version" },
		"name":   func(r *storage.Record) { r.Name = "b" },
		"parent": func(r *storage.Record) { r.Parent = "q" },
		"due":    func(r *storage.Record) { r.Due = 6 },
		"data":   func(r *storage.Record) { r.Data = []byte(`{"x":2}`) },
		"mac":    func(r *storage.Record) { r.MAC = bytes.Clone(r.MAC); r.MAC[0] ^= 1 },
		// Moving bytes between fields must not keep the MAC valid.
		"shifted boundary": func(r *storage.Record) { r.Name, r.Parent = "ap", "" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			c := r
			change(&c)
			if err := k.Verify(c); !errors.Is(err, ErrTampered) {
				t.Fatalf("Verify after changing %s = %v, want ErrTampered", name, err)
			}
		})
	}
}

// TestRotate: a new barrier key seals what comes after; what older keys
// sealed still opens, also through another keystore on the same store (a
// second node, or the next start), which learns the new key when it meets
// material sealed under it; a rotation on each node gives two new keys.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	root := bytes.Repeat([]byte{7}, 32)
	a, err := Open(ctx, st, root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, st, root)
	if err != nil {
		t.Fatal(err)
	}
	const name = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
	old := a.Seal(name, []byte("old material"))
	if id, ok := SealedWith(old); !ok || id != 1 || a.Barrier() != 1 {
		t.Fatalf("before a rotation: sealed with %d (%v), current %d; want 1", id, ok, a.Barrier())
	}
	id, err := a.Rotate(ctx)
	if err != nil || id != 2 || a.Barrier() != 2 {
		t.Fatalf("Rotate() = %d, %v (current %d), want 2", id, err, a.Barrier())
	}
	young := a.Seal(name, []byte("new material"))
	if id, _ := SealedWith(young); id != 2 {
		t.Fatalf("after a rotation new material is sealed with %d, want 2", id)
	}
	for _, k := range []*Keystore{a, b} {
		for sealed, want := range map[string]string{string(old): "old material", string(young): "new material"} {
			if got, err := k.Unseal(name, []byte(sealed)); err != nil || string(got) != want {
				t.Errorf("Unseal = %q, %v; want %q", got, err, want)
			}
		}
	}
	if b.Barrier() != 2 {
		t.Errorf("the second keystore seals with %d after meeting key 2, want 2", b.Barrier())
	}
	// b rotates from 2 to 3; a, which knows only 2, goes past it to 4.
	if id, err := b.Rotate(ctx); err != nil || id != 3 {
		t.Fatalf("second node Rotate() = %d, %v, want 3", id, err)
	}
	if id, err := a.Rotate(ctx); err != nil || id != 4 {
		t.Fatalf("first node Rotate() = %d, %v, want 4", id, err)
	}
	c, err := Open(ctx, st, root)
	if err != nil || c.Barrier() != 4 {
		t.Fatalf("a keystore opened after the rotations seals with %d (%v), want 4", c.Barrier(), err)
	}
	// Material naming a barrier key that does not exist is refused.
	forged := bytes.Clone(young)
	forged[len(materialTag)+3] = 9
	if _, err := c.Unseal(name, forged); !errors.Is(err, ErrTampered) {
		t.Errorf("Unseal of material under barrier key 9 = %v, want ErrTampered", err)
	}
	if _, err := Open(ctx, st, bytes.Repeat([]byte{8}, 32)); !errors.Is(err, ErrWrongRootKey) {
		t.Errorf("Open with another root key = %v, want ErrWrongRootKey", err)
	}
}
