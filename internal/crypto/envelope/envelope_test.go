// SPDX-License-Identifier: Apache-2.0

package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/aead"
)

func newAEAD(t testing.TB, b byte) *aead.AEAD {
	t.Helper()
	a, err := aead.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const keyName = "projects/p/locations/global/keyRings/r/cryptoKeys/k"

func TestRoundTrip(t *testing.T) {
	a := newAEAD(t, 1)
	for _, tc := range []struct {
		name    string
		kind    Kind
		version uint64
		pt, aad []byte
	}{
		{"encrypt version 1", KindEncrypt, 1, []byte("hello"), []byte("aad")},
		{"ekm version 127", KindEKM, 127, []byte("wrapped dek"), nil},
		{"two-byte version", KindEncrypt, 128, nil, nil},
		{"largest version", KindEKM, MaxVersion, bytes.Repeat([]byte{7}, 1000), []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Seal(a, tc.kind, tc.version, keyName, tc.pt, tc.aad)
			kind, version, err := Parse(c)
			if err != nil || kind != tc.kind || version != tc.version {
				t.Fatalf("Parse = %v, %d, %v, want %v, %d, nil", kind, version, err, tc.kind, tc.version)
			}
			if c[0] != byte(tc.kind) {
				t.Errorf("first byte = %#x, want the kind %#x", c[0], tc.kind)
			}
			want := 1 + uvarintLen(tc.version) + len(tc.pt) + aead.Overhead
			if len(c) != want {
				t.Errorf("len = %d, want %d", len(c), want)
			}
			pt, err := Open(a, tc.kind, keyName, c, tc.aad)
			if err != nil || !bytes.Equal(pt, tc.pt) {
				t.Fatalf("Open = %x, %v, want %x", pt, err, tc.pt)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	a := newAEAD(t, 1)
	aad := []byte("aad")
	c := Seal(a, KindEncrypt, 3, keyName, []byte("secret"), aad)
	for _, tc := range []struct {
		name    string
		a       *aead.AEAD
		want    Kind
		keyName string
		c, aad  []byte
		err     error
	}{
		{"wrong kind", a, KindEKM, keyName, c, aad, ErrWrongKind},
		{"wrong key name", a, KindEncrypt, keyName + "2", c, aad, ErrOpen},
		{"empty key name", a, KindEncrypt, "", c, aad, ErrOpen},
		{"wrong aad", a, KindEncrypt, keyName, c, []byte("aaD"), ErrOpen},
		{"aad missing", a, KindEncrypt, keyName, c, nil, ErrOpen},
		{"wrong key", newAEAD(t, 2), KindEncrypt, keyName, c, aad, ErrOpen},
		{"key name bytes moved into aad", a, KindEncrypt, keyName[:len(keyName)-1], c, append([]byte("k"), aad...), ErrOpen},
		{"version changed", a, KindEncrypt, keyName, withVersion(c, 4), aad, ErrOpen},
		{"kind changed", a, KindEKM, keyName, withKind(c, KindEKM), aad, ErrOpen},
		{"unknown kind", a, KindEncrypt, keyName, withKind(c, 0x03), aad, ErrMalformed},
		{"empty", a, KindEncrypt, keyName, nil, aad, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.a, tc.want, tc.keyName, tc.c, tc.aad); !errors.Is(err, tc.err) {
				t.Errorf("Open = %v, want %v", err, tc.err)
			}
		})
	}
}

func withKind(c []byte, k Kind) []byte {
	d := bytes.Clone(c)
	d[0] = byte(k)
	return d
}

// withVersion re-encodes c's one-byte version.
func withVersion(c []byte, v uint64) []byte {
	d := bytes.Clone(c)
	d[1] = byte(v)
	return d
}

func TestEveryBitFlipFails(t *testing.T) {
	a := newAEAD(t, 1)
	c := Seal(a, KindEKM, 300, keyName, []byte("sixteen byte dek"), []byte("aad"))
	for i := range len(c) * 8 {
		d := bytes.Clone(c)
		d[i/8] ^= 1 << (i % 8)
		pt, err := Open(a, KindEKM, keyName, d, []byte("aad"))
		if err == nil {
			t.Fatalf("Open with bit %d flipped succeeded: %x", i, pt)
		}
		if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWrongKind) {
			t.Fatalf("Open with bit %d flipped = %v, not a sentinel", i, err)
		}
	}
}

func TestTruncation(t *testing.T) {
	a := newAEAD(t, 1)
	c := Seal(a, KindEncrypt, 200, keyName, []byte("abc"), nil)
	hdr := 1 + uvarintLen(200)
	for n := range len(c) {
		_, _, perr := Parse(c[:n])
		_, oerr := Open(a, KindEncrypt, keyName, c[:n], nil)
		switch {
		case n < hdr+aead.Overhead:
			if !errors.Is(perr, ErrMalformed) || !errors.Is(oerr, ErrMalformed) {
				t.Errorf("%d-byte prefix: Parse = %v, Open = %v, want ErrMalformed", n, perr, oerr)
			}
		default:
			if perr != nil || !errors.Is(oerr, ErrOpen) {
				t.Errorf("%d-byte prefix: Parse = %v, Open = %v, want nil, ErrOpen", n, perr, oerr)
			}
		}
	}
}

func TestParseMalformed(t *testing.T) {
	body := make([]byte, aead.Overhead)
	hdr := func(kind byte, varint ...byte) []byte {
		return append(append([]byte{kind}, varint...), body...)
	}
	for _, tc := range []struct {
		name string
		c    []byte
	}{
		{"empty", nil},
		{"kind only", []byte{byte(KindEncrypt)}},
		{"kind 0", hdr(0x00, 1)},
		{"kind 3", hdr(0x03, 1)},
		{"kind 0xff", hdr(0xff, 1)},
		{"version 0", hdr(byte(KindEncrypt), 0)},
		{"version 2^32+1", append(binary.AppendUvarint([]byte{byte(KindEncrypt)}, MaxVersion+1), body...)},
		{"version 2^64-1", append(binary.AppendUvarint([]byte{byte(KindEncrypt)}, 1<<64-1), body...)},
		{"varint overflows 64 bits", hdr(byte(KindEncrypt), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)},
		{"non-minimal varint for 1", hdr(byte(KindEncrypt), 0x81, 0x00)},
		{"non-minimal varint for 0", hdr(byte(KindEncrypt), 0x80, 0x00)},
		{"unterminated varint", []byte{byte(KindEncrypt), 0x81}},
		{"one byte short of nonce and tag", hdr(byte(KindEncrypt), 1)[:2+aead.Overhead-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, v, err := Parse(tc.c); !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse(%x) = %v, %d, %v, want ErrMalformed", tc.c, k, v, err)
			}
		})
	}
	// The shortest well-formed ciphertext: header, nonce and tag, no body.
	if _, _, err := Parse(hdr(byte(KindEKM), 1)); err != nil {
		t.Errorf("Parse(minimal) = %v", err)
	}
}

func TestSealPanicsOnBadArguments(t *testing.T) {
	a := newAEAD(t, 1)
	for _, tc := range []struct {
		name    string
		kind    Kind
		version uint64
	}{
		{"version 0", KindEncrypt, 0},
		{"version above max", KindEncrypt, MaxVersion + 1},
		{"unknown kind", Kind(9), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Seal(%v, %d) did not panic", tc.kind, tc.version)
				}
			}()
			Seal(a, tc.kind, tc.version, keyName, nil, nil)
		})
	}
}

// fuzzSeeds adds valid ciphertexts sealed under a, and a few malformed
// ones, to the corpus.
func fuzzSeeds(f *testing.F, a *aead.AEAD) {
	f.Add(Seal(a, KindEncrypt, 1, keyName, []byte("hello"), []byte("aad")), []byte("aad"))
	f.Add(Seal(a, KindEKM, 300, keyName, nil, nil), []byte(nil))
	f.Add(Seal(a, KindEncrypt, MaxVersion, keyName, bytes.Repeat([]byte{1}, 64), nil), []byte(nil))
	f.Add([]byte{}, []byte(nil))
	f.Add([]byte{byte(KindEncrypt), 0x80, 0x00}, []byte(nil))
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f, newAEAD(f, 1))
	f.Fuzz(func(t *testing.T, c, _ []byte) {
		kind, version, err := Parse(c)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v is not ErrMalformed", err)
			}
			return
		}
		if !kind.valid() || version == 0 || version > MaxVersion {
			t.Fatalf("Parse accepted kind %v version %d", kind, version)
		}
		// The header re-encodes to the same bytes: one encoding per value.
		hdr := binary.AppendUvarint([]byte{byte(kind)}, version)
		if !bytes.HasPrefix(c, hdr) || len(c) < len(hdr)+aead.Overhead {
			t.Fatalf("Parse(%x) = %v, %d, which does not re-encode as its header", c, kind, version)
		}
	})
}

func FuzzOpen(f *testing.F) {
	a := newAEAD(f, 1)
	fuzzSeeds(f, a)
	f.Fuzz(func(t *testing.T, c, aad []byte) {
		kind, _, perr := Parse(c)
		for _, want := range []Kind{KindEncrypt, KindEKM} {
			pt, err := Open(a, want, keyName, c, aad)
			switch {
			case perr != nil:
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse failed (%v) but Open(%v) = %v", perr, want, err)
				}
			case kind != want:
				if !errors.Is(err, ErrWrongKind) {
					t.Fatalf("Parse kind %v, Open(%v) = %v, want ErrWrongKind", kind, want, err)
				}
			case err == nil:
				// It opened: it must be a genuine ciphertext, so resealing
				// the plaintext must round-trip.
				c2 := Seal(a, kind, mustVersion(t, c), keyName, pt, aad)
				if pt2, err := Open(a, kind, keyName, c2, aad); err != nil || !bytes.Equal(pt2, pt) {
					t.Fatalf("reseal round trip failed: %v", err)
				}
			case !errors.Is(err, ErrOpen):
				t.Fatalf("Parse ok but Open = %v, want nil or ErrOpen", err)
			}
		}
	})
}

func mustVersion(t *testing.T, c []byte) uint64 {
	_, v, err := Parse(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
