// SPDX-License-Identifier: Apache-2.0

package kdf

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

type hkdfGroup struct {
	KeySize int          `json:"keySize"`
	Tests   []hkdfVector `json:"tests"`
}

type hkdfVector struct {
	wycheproof.Vector
	IKM  wycheproof.Hex `json:"ikm"`
	Salt wycheproof.Hex `json:"salt"`
	Info wycheproof.Hex `json:"info"`
	Size int            `json:"size"`
	OKM  wycheproof.Hex `json:"okm"`
}

// TestWycheproofHKDFSHA256 runs every vector of hkdf_sha256_test.json
// through crypto/hkdf, the primitive Derive calls, and the vectors with an
// empty salt through Derive itself.
func TestWycheproofHKDFSHA256(t *testing.T) {
	var f wycheproof.File[hkdfGroup]
	wycheproof.Load(t, "hkdf_sha256_test.json", &f)
	var n, viaDerive int
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) {
				okm, err := hkdf.Key(sha256.New, v.IKM, v.Salt, string(v.Info), v.Size)
				v.Check(t, err == nil && bytes.Equal(okm, v.OKM), "hkdf.Key")
				if len(v.Salt) == 0 && v.Size >= 1 && v.Size <= MaxSize {
					viaDerive++
					got := Derive(v.IKM, string(v.Info), v.Size)
					v.Check(t, bytes.Equal(got, v.OKM), "Derive")
				}
			})
		}
	}
	t.Logf("%d vectors also run through Derive", viaDerive)
	f.CheckCount(t, n)
}
