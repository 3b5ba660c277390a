// SPDX-License-Identifier: Apache-2.0

package keywrap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC3394 runs the vectors of RFC 3394 section 4.
func TestRFC3394(t *testing.T) {
	const (
		kek128 = "000102030405060708090A0B0C0D0E0F"
		kek192 = "000102030405060708090A0B0C0D0E0F1011121314151617"
		kek256 = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
		data16 = "00112233445566778899AABBCCDDEEFF"
		data24 = "00112233445566778899AABBCCDDEEFF0001020304050607"
		data32 = "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"
	)
	for _, tc := range []struct {
		name, kek, data, wrapped string
	}{
		{"4.1 128 bits of key data with a 128-bit KEK", kek128, data16,
			"1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"4.2 128 bits of key data with a 192-bit KEK", kek192, data16,
			"96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
		{"4.3 128 bits of key data with a 256-bit KEK", kek256, data16,
			"64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
		{"4.4 192 bits of key data with a 192-bit KEK", kek192, data24,
			"031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2"},
		{"4.5 192 bits of key data with a 256-bit KEK", kek256, data24,
			"A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
		{"4.6 256 bits of key data with a 256-bit KEK", kek256, data32,
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kek, data, want := unhex(t, tc.kek), unhex(t, tc.data), unhex(t, tc.wrapped)
			got, err := Wrap(kek, data)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Wrap = %X, %v, want %X", got, err, want)
			}
			got, err = Unwrap(kek, want)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("Unwrap = %X, %v, want %X", got, err, data)
			}
		})
	}
}

// TestRFC5649 runs the vectors of RFC 5649 section 6.
func TestRFC5649(t *testing.T) {
	const kek = "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8"
	for _, tc := range []struct {
		name, data, wrapped string
	}{
		{"20 octets of key data", "c37b7e6492584340 bed1220780894115 5068f738",
			"138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"},
		{"7 octets of key data", "466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kek, data, want := unhex(t, kek), unhex(t, tc.data), unhex(t, tc.wrapped)
			got, err := WrapPad(kek, data)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("WrapPad = %x, %v, want %x", got, err, want)
			}
			got, err = UnwrapPad(kek, want)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("UnwrapPad = %x, %v, want %x", got, err, data)
			}
		})
	}
}

func TestRoundTripAllSizes(t *testing.T) {
	for _, kekSize := range []int{16, 24, 32} {
		kek := make([]byte, kekSize)
		rand.Read(kek)
		for n := 1; n <= 80; n++ {
			pt := make([]byte, n)
			rand.Read(pt)
			w, err := WrapPad(kek, pt)
			if err != nil || len(w) != (n+7)/8*8+8 {
				t.Fatalf("WrapPad(%d bytes) = %d bytes, %v", n, len(w), err)
			}
			got, err := UnwrapPad(kek, w)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("UnwrapPad(WrapPad(%d bytes)) = %x, %v", n, got, err)
			}
			// Both unwrappers refuse the other's output (the IVs differ).
			if _, err := Unwrap(kek, w); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("Unwrap(WrapPad(%d bytes)) = %v, want ErrUnwrap", n, err)
			}
			if n%8 != 0 || n < 16 {
				if _, err := Wrap(kek, pt); !errors.Is(err, ErrPlaintextSize) {
					t.Fatalf("Wrap(%d bytes) = %v, want ErrPlaintextSize", n, err)
				}
				continue
			}
			w, err = Wrap(kek, pt)
			if err != nil || len(w) != n+8 {
				t.Fatalf("Wrap(%d bytes) = %d bytes, %v", n, len(w), err)
			}
			got, err = Unwrap(kek, w)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Unwrap(Wrap(%d bytes)) = %x, %v", n, got, err)
			}
			if _, err := UnwrapPad(kek, w); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("UnwrapPad(Wrap(%d bytes)) = %v, want ErrUnwrap", n, err)
			}
		}
	}
}

func TestEveryBitFlipFails(t *testing.T) {
	kek := make([]byte, 32)
	for _, n := range []int{5, 8, 20, 32} {
		w, err := WrapPad(kek, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(w) * 8 {
			d := bytes.Clone(w)
			d[i/8] ^= 1 << (i % 8)
			if _, err := UnwrapPad(kek, d); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("UnwrapPad(%d bytes, bit %d flipped) = %v, want ErrUnwrap", n, i, err)
			}
			if n%8 == 0 && n >= 16 {
				w2, _ := Wrap(kek, make([]byte, n))
				d := bytes.Clone(w2)
				d[i/8] ^= 1 << (i % 8)
				if _, err := Unwrap(kek, d); !errors.Is(err, ErrUnwrap) {
					t.Fatalf("Unwrap(%d bytes, bit %d flipped) = %v, want ErrUnwrap", n, i, err)
				}
			}
		}
	}
}

func TestBadSizes(t *testing.T) {
	kek := make([]byte, 16)
	for _, size := range []int{0, 8, 15, 17, 33, 64} {
		k := make([]byte, size)
		if _, err := Wrap(k, make([]byte, 16)); !errors.Is(err, ErrKeySize) {
			t.Errorf("Wrap(%d-byte kek) = %v, want ErrKeySize", size, err)
		}
		if _, err := Unwrap(k, make([]byte, 24)); !errors.Is(err, ErrKeySize) {
			t.Errorf("Unwrap(%d-byte kek) = %v, want ErrKeySize", size, err)
		}
		if _, err := WrapPad(k, make([]byte, 16)); !errors.Is(err, ErrKeySize) {
			t.Errorf("WrapPad(%d-byte kek) = %v, want ErrKeySize", size, err)
		}
		if _, err := UnwrapPad(k, make([]byte, 24)); !errors.Is(err, ErrKeySize) {
			t.Errorf("UnwrapPad(%d-byte kek) = %v, want ErrKeySize", size, err)
		}
	}
	if _, err := WrapPad(kek, nil); !errors.Is(err, ErrPlaintextSize) {
		t.Errorf("WrapPad(empty) = %v, want ErrPlaintextSize", err)
	}
	for _, n := range []int{0, 1, 7, 8, 15, 16, 23, 25} {
		if _, err := Unwrap(kek, make([]byte, n)); !errors.Is(err, ErrUnwrap) {
			t.Errorf("Unwrap(%d bytes) = %v, want ErrUnwrap", n, err)
		}
		if n == 16 {
			continue // a valid UnwrapPad length
		}
		if _, err := UnwrapPad(kek, make([]byte, n)); !errors.Is(err, ErrUnwrap) {
			t.Errorf("UnwrapPad(%d bytes) = %v, want ErrUnwrap", n, err)
		}
	}
}

// TestOpenSSL checks WrapPad and UnwrapPad against OpenSSL's
// id-aes256-wrap-pad cipher (RFC 5649), and Wrap against id-aes256-wrap
// (RFC 3394), in both directions.
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl binary not found")
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	dir := t.TempDir()
	for _, tc := range []struct {
		cipher, iv string
		wrap       func(kek, p []byte) ([]byte, error)
		unwrap     func(kek, c []byte) ([]byte, error)
		sizes      []int
	}{
		{"id-aes256-wrap-pad", "A65959A6", WrapPad, UnwrapPad, []int{1, 7, 8, 9, 20, 32, 33, 100}},
		{"id-aes256-wrap", "A6A6A6A6A6A6A6A6", Wrap, Unwrap, []int{16, 24, 32, 64}},
	} {
		for _, n := range tc.sizes {
			pt := make([]byte, n)
			rand.Read(pt)
			w, err := tc.wrap(kek, pt)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "in")
			if err := os.WriteFile(in, w, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("openssl", "enc", "-d", "-"+tc.cipher, "-K", hex.EncodeToString(kek), "-iv", tc.iv, "-in", in).Output()
			if err != nil || !bytes.Equal(out, pt) {
				t.Errorf("%s: openssl unwrap of %d bytes = %x, %v, want %x", tc.cipher, n, out, err, pt)
			}
			if err := os.WriteFile(in, pt, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err = exec.Command("openssl", "enc", "-e", "-"+tc.cipher, "-K", hex.EncodeToString(kek), "-iv", tc.iv, "-in", in).Output()
			if err != nil {
				t.Fatalf("%s: openssl wrap of %d bytes: %v", tc.cipher, n, err)
			}
			if !bytes.Equal(out, w) {
				t.Errorf("%s: openssl wrap of %d bytes = %x, Go = %x", tc.cipher, n, out, w)
			}
			got, err := tc.unwrap(kek, out)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("%s: unwrap of openssl output = %x, %v, want %x", tc.cipher, got, err, pt)
			}
		}
	}
}
