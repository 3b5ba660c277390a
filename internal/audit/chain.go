// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// hashSize is the size of a chain hash: HMAC-SHA256.
const hashSize = sha256.Size

// entryPrefix is the start of every entry's record name; the rest is the
// sequence number in 20 decimal digits, so that names sort in seq order.
const entryPrefix = "audit/"

// entryName returns the record name of entry seq.
func entryName(seq int64) string { return fmt.Sprintf(entryPrefix+"%020d", seq) }

// parseEntryName returns the seq of an entry record name, or false if the
// name is not one that [entryName] produces.
func parseEntryName(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, entryPrefix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || seq <= 0 {
		return 0, false
	}
	return seq, true
}

// chainer computes chain hashes under the chain key. It is not safe for
// concurrent use: each goroutine that chains has its own.
type chainer struct {
	mac hash.Hash
	buf []byte
}

func newChainer(chainKey []byte) *chainer {
	return &chainer{mac: hmac.New(sha256.New, chainKey)}
}

// sum returns HMAC-SHA256(chainKey, prev || canonical(e)). keys are the
// keys of e.Details in increasing order (sortedKeys).
func (c *chainer) sum(prev []byte, e *Entry, keys []string) []byte {
	c.buf = appendCanonical(c.buf[:0], e, keys)
	c.mac.Reset()
	c.mac.Write(prev)
	c.mac.Write(c.buf)
	return c.mac.Sum(nil)
}

// appendCanonical appends the canonical encoding of e to b (see the package
// documentation): every field but Hash, in a fixed order, so that no two
// entries share an encoding.
//
//	seq            8 bytes, big endian
//	time           string: RFC 3339 with nanoseconds, UTC (time.RFC3339Nano)
//	principal, authMethod, method, resource, status, requestId,
//	clientAddress, justification
//	               strings, in this order
//	details        8-byte count, then each key and its value as strings,
//	               keys in increasing byte order
//
// A string is its length in 8 bytes, big endian, then its bytes.
//
// keys are the keys of e.Details in increasing order (sortedKeys).
func appendCanonical(b []byte, e *Entry, keys []string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	var buf [64]byte
	ts := e.Time.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
	b = binary.BigEndian.AppendUint64(b, uint64(len(ts)))
	b = append(b, ts...)
	for _, s := range [...]string{e.Principal, e.AuthMethod, e.Method, e.Resource, e.Status, e.RequestID, e.ClientAddress, e.Justification} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Details)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, e.Details[k])
	}
	return b
}

// sortedKeys appends the keys of d to dst[:0] in increasing byte order.
// The entry's encodings take them in that order; the flusher and Verify
// sort them once for both.
func sortedKeys(dst []string, d map[string]string) []string {
	dst = dst[:0]
	for k := range d {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// sanitize makes every string of e valid UTF-8 (invalid bytes become
// U+FFFD) and its time UTC without a monotonic reading, so that the JSON
// stored is exactly what was hashed: encoding/json would replace invalid
// bytes itself, after the hash, and Verify would then see another entry.
func sanitize(e *Entry) {
	for _, p := range [...]*string{&e.Principal, &e.AuthMethod, &e.Method, &e.Resource, &e.Status, &e.RequestID, &e.ClientAddress, &e.Justification} {
		*p = validUTF8(*p)
	}
	if len(e.Details) == 0 {
		e.Details = nil
	}
	for k, v := range e.Details {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			// A copy, so that the caller's map is left as it was.
			d := make(map[string]string, len(e.Details))
			for k, v := range e.Details {
				d[validUTF8(k)] = validUTF8(v)
			}
			e.Details = d
			break
		}
	}
	e.Time = e.Time.UTC().Round(0)
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// errDecode is the cause of an entry or head record whose Data does not
// decode; Verify reports it as a problem of that entry.
var errDecode = errors.New("audit: malformed record data")

// decodeEntry decodes an entry record's Data strictly: one JSON object with
// no unknown field and no trailing data, a positive seq and a 32-byte hex
// hash. It never panics, whatever data holds.
func decodeEntry(data []byte) (Entry, []byte, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, nil, fmt.Errorf("%w: %v", errDecode, err)
	}
	if dec.More() {
		return Entry{}, nil, fmt.Errorf("%w: data after the entry", errDecode)
	}
	if e.Seq <= 0 {
		return Entry{}, nil, fmt.Errorf("%w: seq %d", errDecode, e.Seq)
	}
	sum, err := hex.DecodeString(e.Hash)
	if err != nil || len(sum) != hashSize {
		return Entry{}, nil, fmt.Errorf("%w: hash is not %d hex bytes", errDecode, hashSize)
	}
	return e, sum, nil
}

// head is the chain's head: the seq and hash of the last entry. The zero
// head (seq 0, 32 zero bytes) is the head of an empty log.
type head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// decodeHead decodes the head record's Data.
func decodeHead(data []byte) (head, []byte, error) {
	var h head
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return head{}, nil, fmt.Errorf("%w: head: %v", errDecode, err)
	}
	if dec.More() {
		return head{}, nil, fmt.Errorf("%w: data after the head", errDecode)
	}
	sum, err := hex.DecodeString(h.Hash)
	if err != nil || len(sum) != hashSize || h.Seq < 0 {
		return head{}, nil, fmt.Errorf("%w: head seq %d or hash malformed", errDecode, h.Seq)
	}
	return h, sum, nil
}

// zeroHash is what entry 1 chains from.
var zeroHash = make([]byte, hashSize)
