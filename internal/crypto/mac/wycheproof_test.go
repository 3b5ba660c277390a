// SPDX-License-Identifier: Apache-2.0

package mac

import (
	"crypto"
	"crypto/hmac"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

type macGroup struct {
	KeySize int         `json:"keySize"`
	TagSize int         `json:"tagSize"`
	Tests   []macVector `json:"tests"`
}

type macVector struct {
	wycheproof.Vector
	Key wycheproof.Hex `json:"key"`
	Msg wycheproof.Hex `json:"msg"`
	Tag wycheproof.Hex `json:"tag"`
}

func TestWycheproofHMACSHA256(t *testing.T) { runMAC(t, "hmac_sha256_test.json", crypto.SHA256) }
func TestWycheproofHMACSHA384(t *testing.T) { runMAC(t, "hmac_sha384_test.json", crypto.SHA384) }
func TestWycheproofHMACSHA512(t *testing.T) { runMAC(t, "hmac_sha512_test.json", crypto.SHA512) }

// runMAC runs every vector of file. Groups with tagSize below the hash size
// hold truncated tags: the test truncates Sign's output to compare, and
// checks that Verify, which takes only full tags, refuses them.
func runMAC(t *testing.T, file string, h crypto.Hash) {
	var f wycheproof.File[macGroup]
	wycheproof.Load(t, file, &f)
	n := 0
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) {
				size := g.TagSize / 8
				if len(v.Key)*8 != g.KeySize || size > h.Size() {
					t.Fatalf("tcId %d: sizes disagree with the group", v.TcID)
				}
				full := Sign(h, v.Key, v.Msg)
				if len(full) != h.Size() {
					t.Fatalf("tcId %d: Sign returned %d bytes", v.TcID, len(full))
				}
				v.Check(t, len(v.Tag) == size && hmac.Equal(full[:size], v.Tag), "truncated comparison")
				verified := Verify(h, v.Key, v.Msg, v.Tag)
				if size == h.Size() {
					v.Check(t, verified, "Verify")
				} else if verified {
					t.Errorf("tcId %d: Verify accepted a %d-byte truncated tag", v.TcID, size)
				}
			})
		}
	}
	f.CheckCount(t, n)
}
