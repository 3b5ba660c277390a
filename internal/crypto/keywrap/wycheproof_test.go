// SPDX-License-Identifier: Apache-2.0

package keywrap

import (
	"bytes"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

type wrapGroup struct {
	KeySize int          `json:"keySize"`
	Tests   []wrapVector `json:"tests"`
}

type wrapVector struct {
	wycheproof.Vector
	Key wycheproof.Hex `json:"key"`
	Msg wycheproof.Hex `json:"msg"`
	CT  wycheproof.Hex `json:"ct"`
}

func TestWycheproofKW(t *testing.T) {
	runWrapVectors(t, "aes_wrap_test.json", Wrap, Unwrap)
}

func TestWycheproofKWP(t *testing.T) {
	runWrapVectors(t, "aes_kwp_test.json", WrapPad, UnwrapPad)
}

// runWrapVectors runs every vector of file. A valid vector must wrap msg to
// exactly ct and unwrap ct to msg. An invalid one must fail to unwrap, and
// wrapping its msg must fail or give something other than ct (some invalid
// vectors are plaintexts the RFC cannot wrap, with an empty ct).
func runWrapVectors(t *testing.T, file string, wrap, unwrap func(kek, b []byte) ([]byte, error)) {
	var f wycheproof.File[wrapGroup]
	wycheproof.Load(t, file, &f)
	n := 0
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) {
				if len(v.Key)*8 != g.KeySize {
					t.Fatalf("tcId %d: key size disagrees with the group", v.TcID)
				}
				pt, err := unwrap(v.Key, v.CT)
				unwrapped := err == nil && bytes.Equal(pt, v.Msg)
				if err == nil && !bytes.Equal(pt, v.Msg) {
					t.Errorf("tcId %d: unwrap = %x, want %x", v.TcID, pt, v.Msg)
				}
				v.Check(t, unwrapped, "unwrap")
				w, err := wrap(v.Key, v.Msg)
				wrapped := err == nil && bytes.Equal(w, v.CT)
				v.Check(t, wrapped, "wrap")
			})
		}
	}
	f.CheckCount(t, n)
}
