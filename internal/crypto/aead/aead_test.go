// SPDX-License-Identifier: Apache-2.0

package aead

import (
	"bytes"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
)

func mustNew(t testing.TB, size int) *AEAD {
	t.Helper()
	a, err := New(bytes.Repeat([]byte{0x42}, size))
	if err != nil {
		t.Fatalf("New(%d-byte key) = %v", size, err)
	}
	return a
}

func TestNewKeySize(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		err  error
	}{
		{"AES-128", 16, nil},
		{"AES-256", 32, nil},
		{"AES-192 refused", 24, ErrKeySize},
		{"empty refused", 0, ErrKeySize},
		{"one byte short refused", 15, ErrKeySize},
		{"one byte long refused", 33, ErrKeySize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(make([]byte, tc.size))
			if !errors.Is(err, tc.err) {
				t.Errorf("New(%d bytes) = %v, want %v", tc.size, err, tc.err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	for _, size := range []int{16, 32} {
		a := mustNew(t, size)
		for _, n := range []int{0, 1, 15, 16, 17, 1000} {
			pt := make([]byte, n)
			rand.Read(pt)
			aad := []byte("aad")
			sealed := a.Seal(nil, pt, aad)
			if len(sealed) != n+Overhead {
				t.Fatalf("len(Seal) = %d, want %d", len(sealed), n+Overhead)
			}
			got, err := a.Open(nil, sealed, aad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open(Seal(%d bytes)) = %x, %v", n, got, err)
			}
			if _, err := a.Open(nil, sealed, []byte("other")); !errors.Is(err, ErrOpen) {
				t.Errorf("Open with wrong aad = %v, want ErrOpen", err)
			}
			other, err := New(bytes.Repeat([]byte{0x43}, size))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Open(nil, sealed, aad); !errors.Is(err, ErrOpen) {
				t.Errorf("Open with wrong key = %v, want ErrOpen", err)
			}
		}
	}
}

func TestSealAppendsToDst(t *testing.T) {
	a := mustNew(t, 32)
	prefix := []byte("prefix")
	out := a.Seal(append([]byte(nil), prefix...), []byte("hello"), nil)
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("Seal did not keep dst: %x", out)
	}
	pt, err := a.Open([]byte("x"), out[len(prefix):], nil)
	if err != nil || string(pt) != "xhello" {
		t.Fatalf("Open = %q, %v, want %q", pt, err, "xhello")
	}
}

func TestSealInPlace(t *testing.T) {
	a := mustNew(t, 16)
	buf := make([]byte, 5, 5+Overhead)
	copy(buf, "hello")
	sealed := a.Seal(buf[:0], buf, nil)
	if &sealed[0] != &buf[0] {
		t.Fatal("Seal into plaintext[:0] reallocated")
	}
	pt, err := a.Open(sealed[:0], sealed, nil)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("in-place Open = %q, %v", pt, err)
	}
}

func TestNoncesDiffer(t *testing.T) {
	a := mustNew(t, 16)
	x := a.Seal(nil, []byte("same"), nil)
	y := a.Seal(nil, []byte("same"), nil)
	if bytes.Equal(x[:NonceSize], y[:NonceSize]) {
		t.Fatal("two Seals used the same nonce")
	}
}

func TestOpenShortInput(t *testing.T) {
	a := mustNew(t, 16)
	for n := 0; n < Overhead; n++ {
		if _, err := a.Open(nil, make([]byte, n), nil); !errors.Is(err, ErrOpen) {
			t.Errorf("Open(%d bytes) = %v, want ErrOpen", n, err)
		}
	}
	for _, tc := range []struct {
		name   string
		iv, ct []byte
	}{
		{"nil iv", nil, make([]byte, 16)},
		{"11-byte iv", make([]byte, 11), make([]byte, 16)},
		{"13-byte iv", make([]byte, 13), make([]byte, 16)},
		{"short ciphertext", make([]byte, 12), make([]byte, 15)},
	} {
		if _, err := a.OpenRaw(tc.iv, tc.ct, nil); !errors.Is(err, ErrOpen) {
			t.Errorf("OpenRaw(%s) = %v, want ErrOpen", tc.name, err)
		}
	}
}

func TestRawRoundTrip(t *testing.T) {
	a := mustNew(t, 32)
	pt := []byte("raw encrypt")
	aad := []byte("raw aad")
	iv, ct := a.SealRaw(pt, aad)
	if len(iv) != NonceSize || len(ct) != len(pt)+TagSize {
		t.Fatalf("SealRaw lengths = %d, %d", len(iv), len(ct))
	}
	// Appending to iv must not clobber the ciphertext that follows it.
	_ = append(iv, 0xff)
	got, err := a.OpenRaw(iv, ct, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("OpenRaw = %q, %v", got, err)
	}
	// The raw form and the Seal form are the same bytes in a different
	// frame: Open accepts iv || ct.
	got, err = a.Open(nil, append(append([]byte(nil), iv...), ct...), aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open(iv || ct) = %q, %v", got, err)
	}
	ct[0] ^= 1
	if _, err := a.OpenRaw(iv, ct, aad); !errors.Is(err, ErrOpen) {
		t.Errorf("OpenRaw(tampered) = %v, want ErrOpen", err)
	}
}

func TestAllocations(t *testing.T) {
	a := mustNew(t, 32)
	pt := make([]byte, 64)
	aad := []byte("aad")
	if n := testing.AllocsPerRun(100, func() { a.Seal(nil, pt, aad) }); n > 1 {
		t.Errorf("Seal(nil dst) allocates %v times, want at most 1", n)
	}
	dst := make([]byte, 0, len(pt)+Overhead)
	if n := testing.AllocsPerRun(100, func() { a.Seal(dst, pt, aad) }); n > 0 {
		t.Errorf("Seal(dst with room) allocates %v times, want 0", n)
	}
	sealed := a.Seal(nil, pt, aad)
	out := make([]byte, 0, len(pt))
	if n := testing.AllocsPerRun(100, func() {
		if _, err := a.Open(out, sealed, aad); err != nil {
			t.Fatal(err)
		}
	}); n > 0 {
		t.Errorf("Open(dst with room) allocates %v times, want 0", n)
	}
}

func TestConcurrent(t *testing.T) {
	a := mustNew(t, 16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := []byte{byte(g)}
			for range 200 {
				got, err := a.Open(nil, a.Seal(nil, pt, nil), nil)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("goroutine %d: Open = %x, %v", g, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkSeal1K(b *testing.B) {
	a := mustNew(b, 32)
	pt := make([]byte, 1024)
	dst := make([]byte, 0, len(pt)+Overhead)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		a.Seal(dst, pt, nil)
	}
}
