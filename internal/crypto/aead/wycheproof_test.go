// SPDX-License-Identifier: Apache-2.0

package aead

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

type gcmGroup struct {
	IVSize  int         `json:"ivSize"`
	KeySize int         `json:"keySize"`
	TagSize int         `json:"tagSize"`
	Tests   []gcmVector `json:"tests"`
}

type gcmVector struct {
	wycheproof.Vector
	Key wycheproof.Hex `json:"key"`
	IV  wycheproof.Hex `json:"iv"`
	AAD wycheproof.Hex `json:"aad"`
	Msg wycheproof.Hex `json:"msg"`
	CT  wycheproof.Hex `json:"ct"`
	Tag wycheproof.Hex `json:"tag"`
}

// TestWycheproofAESGCM runs every vector of aes_gcm_test.json through the
// standard library's GCM with the vector's IV and tag sizes, and every
// vector with a 96-bit IV, 128-bit tag and AES-128 or AES-256 key through
// [AEAD.OpenRaw] and [AEAD.Open] as well.
func TestWycheproofAESGCM(t *testing.T) {
	var f wycheproof.File[gcmGroup]
	wycheproof.Load(t, "aes_gcm_test.json", &f)
	var n, viaAEAD, sizeRefused, validSkipped int
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) {
				if len(v.Key)*8 != g.KeySize || len(v.IV)*8 != g.IVSize || len(v.Tag)*8 != g.TagSize {
					t.Fatalf("tcId %d: vector sizes disagree with its group", v.TcID)
				}
				block, err := aes.NewCipher(v.Key)
				if err != nil {
					t.Fatalf("tcId %d: aes.NewCipher: %v", v.TcID, err)
				}
				gcm, err := newGCM(block, len(v.IV), len(v.Tag))
				if err != nil {
					// Go refuses this IV or tag size. That is a correct
					// rejection for an invalid vector, and a gap (not a
					// failure) for a valid one.
					sizeRefused++
					if v.Result == wycheproof.Valid {
						validSkipped++
						t.Skipf("tcId %d: Go's GCM refuses ivSize %d / tagSize %d: %v", v.TcID, g.IVSize, g.TagSize, err)
					}
					v.Check(t, false, "GCM construction refused")
					return
				}
				sealed := append(append([]byte(nil), v.CT...), v.Tag...)
				pt, err := gcm.Open(nil, v.IV, sealed, v.AAD)
				opened := err == nil && bytes.Equal(pt, v.Msg)
				v.Check(t, opened, "cipher.AEAD.Open")
				if v.Result == wycheproof.Valid {
					if got := gcm.Seal(nil, v.IV, v.Msg, v.AAD); !bytes.Equal(got, sealed) {
						t.Errorf("tcId %d: Seal = %x, want %x", v.TcID, got, sealed)
					}
				}

				a, err := New(v.Key)
				if g.KeySize == 192 {
					if !errors.Is(err, ErrKeySize) {
						t.Errorf("tcId %d: New(AES-192 key) = %v, want ErrKeySize", v.TcID, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("tcId %d: New: %v", v.TcID, err)
				}
				if g.IVSize != 8*NonceSize || g.TagSize != 8*TagSize {
					// OpenRaw takes only 12-byte IVs: any other must be
					// refused, valid or not.
					if _, err := a.OpenRaw(v.IV, sealed, v.AAD); !errors.Is(err, ErrOpen) {
						t.Errorf("tcId %d: OpenRaw(%d-bit IV) = %v, want ErrOpen", v.TcID, g.IVSize, err)
					}
					return
				}
				viaAEAD++
				pt, err = a.OpenRaw(v.IV, sealed, v.AAD)
				v.Check(t, err == nil && bytes.Equal(pt, v.Msg), "AEAD.OpenRaw")
				if err != nil && !errors.Is(err, ErrOpen) {
					t.Errorf("tcId %d: OpenRaw error %v is not ErrOpen", v.TcID, err)
				}
				pt, err = a.Open(nil, append(append([]byte(nil), v.IV...), sealed...), v.AAD)
				v.Check(t, err == nil && bytes.Equal(pt, v.Msg), "AEAD.Open")
			})
		}
	}
	t.Logf("%d vectors also run through AEAD; %d refused by Go for their IV/tag size, of which %d valid (skipped)", viaAEAD, sizeRefused, validSkipped)
	f.CheckCount(t, n)
}

func newGCM(block cipher.Block, ivSize, tagSize int) (cipher.AEAD, error) {
	switch {
	case ivSize == 12 && tagSize == 16:
		return cipher.NewGCM(block)
	case tagSize == 16:
		return cipher.NewGCMWithNonceSize(block, ivSize)
	case ivSize == 12:
		return cipher.NewGCMWithTagSize(block, tagSize)
	}
	return nil, errors.New("no standard library constructor for both a non-standard IV and tag size")
}
