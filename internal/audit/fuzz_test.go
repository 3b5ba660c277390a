// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecodeEntry feeds arbitrary record data to the decoder Verify uses:
// it must never panic, and whatever it accepts must encode back to an
// entry that decodes to the same canonical encoding and hash.
func FuzzDecodeEntry(f *testing.F) {
	e := testEntry(1)
	e.Seq, e.Time, e.Hash = 1, time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC), "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	e.Details = map[string]string{"k": "v"}
	good, _ := json.Marshal(e)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"seq":1,"hash":"zz"}`))
	f.Add([]byte(`{"seq":-1}`))
	f.Add([]byte(`{"seq":1,"time":"10000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"seq":1} {}`))
	f.Add([]byte("\xff\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, sum, err := decodeEntry(data)
		if err != nil {
			return
		}
		if e.Seq <= 0 || len(sum) != hashSize {
			t.Fatalf("decodeEntry(%q) accepted seq %d, hash of %d bytes", data, e.Seq, len(sum))
		}
		c := newChainer(make([]byte, 32))
		h1 := c.sum(zeroHash, &e, sortedKeys(nil, e.Details))
		again, err := json.Marshal(&e)
		if err != nil {
			return // a time json cannot write; Append never stores one
		}
		e2, sum2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry %s does not decode: %v", again, err)
		}
		if !bytes.Equal(sum, sum2) || !bytes.Equal(h1, c.sum(zeroHash, &e2, sortedKeys(nil, e2.Details))) {
			t.Fatalf("entry %q changed through a round trip", data)
		}
	})
}
