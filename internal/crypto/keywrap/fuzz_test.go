// SPDX-License-Identifier: Apache-2.0

package keywrap

import (
	"bytes"
	"testing"
)

// FuzzUnwrap feeds arbitrary ciphertexts to Unwrap and UnwrapPad: they must
// never panic, and whatever they accept must wrap back to the same bytes.
func FuzzUnwrap(f *testing.F) {
	kek := bytes.Repeat([]byte{0x5c}, 16)
	for _, n := range []int{1, 8, 9, 16, 24} {
		w, _ := WrapPad(kek, bytes.Repeat([]byte{1}, n))
		f.Add(w)
	}
	w, _ := Wrap(kek, make([]byte, 16))
	f.Add(w)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, c []byte) {
		if p, err := Unwrap(kek, c); err == nil {
			if w, err := Wrap(kek, p); err != nil || !bytes.Equal(w, c) {
				t.Fatalf("Unwrap accepted %x but rewrapping gives %x, %v", c, w, err)
			}
		}
		if p, err := UnwrapPad(kek, c); err == nil {
			if w, err := WrapPad(kek, p); err != nil || !bytes.Equal(w, c) {
				t.Fatalf("UnwrapPad accepted %x but rewrapping gives %x, %v", c, w, err)
			}
		}
	})
}
