// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/custos-kms/custos/internal/storage"
)

// maxSegment bounds the entries of one record. The flusher writes each
// batch as records of at most this many entries, and readers rely on the
// bound to find the record that holds a given seq: it is the last record
// whose name is at most the seq and at least seq-maxSegment+1.
const maxSegment = 512

// A segment is one entry record: the entries of one flush, seq first to
// first+n-1, stored under entryName(first) as their JSON objects joined by
// newlines (JSON never holds a raw newline). A record of one entry is
// that entry's JSON object alone.
//
// One record per flush rather than per entry makes the durable append
// cheap: one row, one MAC and one index entry per commit, however many
// calls the commit answers.

// findSegment returns the record that holds entry seq (seq > 0) and the
// seq of its first entry, or an error wrapping storage.ErrNotFound.
func findSegment(ctx context.Context, r storage.Reader, seq int64) (storage.Record, int64, error) {
	// The record starts at most maxSegment-1 entries before seq: list
	// from there, and take the last record that starts at seq or before.
	recs, err := r.List(ctx, storage.ListOptions{Kind: KindEntry, Parent: ParentEntry, After: entryName(max(seq-maxSegment, 0)), Limit: maxSegment})
	if err != nil {
		return storage.Record{}, 0, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if first, ok := parseEntryName(recs[i].Name); ok && first <= seq {
			return recs[i], first, nil
		}
	}
	return storage.Record{}, 0, fmt.Errorf("entry %d: %w", seq, storage.ErrNotFound)
}

// segmentEntry is one decoded entry of a segment with its chain hash.
type segmentEntry struct {
	e   Entry
	sum []byte
}

// segmentLines splits a segment's data into its entries' JSON objects.
func segmentLines(data []byte) [][]byte {
	return bytes.Split(data, []byte{'\n'})
}

// decodeSegment decodes every entry of a segment record named first, and
// checks that they are numbered first, first+1 ... It stops at the first
// that fails and returns the entries before it with the error.
func decodeSegment(first int64, data []byte) ([]segmentEntry, error) {
	lines := segmentLines(data)
	if len(lines) > maxSegment {
		return nil, fmt.Errorf("%w: %d entries in one record, at most %d", errDecode, len(lines), maxSegment)
	}
	out := make([]segmentEntry, 0, len(lines))
	for i, line := range lines {
		e, sum, err := decodeEntry(line)
		if err != nil {
			return out, fmt.Errorf("entry %d: %w", first+int64(i), err)
		}
		if e.Seq != first+int64(i) {
			return out, fmt.Errorf("%w: entry %d of the record holds seq %d", errReordered, first+int64(i), e.Seq)
		}
		out = append(out, segmentEntry{e, sum})
	}
	return out, nil
}

// errReordered is the cause of a segment whose entries are not numbered in
// order from the record's name.
var errReordered = fmt.Errorf("audit: entries out of place")

// segmentRecord returns the signed record of one segment, whose data is
// its entries' JSON objects joined by newlines, named after its first
// entry.
func segmentRecord(first int64, data []byte, signer Signer) storage.Record {
	r := storage.Record{Kind: KindEntry, Name: entryName(first), Parent: ParentEntry, Data: data}
	signer.Sign(&r)
	return r
}

// jsonSize is about the size of e's JSON object, to size a record's
// buffer in one allocation.
func jsonSize(e *Entry) int {
	n := 256 + len(e.Principal) + len(e.AuthMethod) + len(e.Method) + len(e.Resource) + len(e.Status) +
		len(e.RequestID) + len(e.ClientAddress) + len(e.Justification)
	for k, v := range e.Details {
		n += 8 + len(k) + len(v)
	}
	return n
}

// appendEntryJSON appends the JSON object of e, with sum as its hash, in
// the form [Entry]'s field tags give: the form encoding/json reads back.
// It is written by hand because it runs once per audited call, where
// json.Marshal's reflection cost as much as the rest of the append. The
// strings of e must be valid UTF-8 (sanitize sees to it) and its time
// within years 1 to 9999 (Append checks).
//
// keys are the keys of e.Details in increasing order (sortedKeys).
func appendEntryJSON(b []byte, e *Entry, keys []string, sum []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, "principal", e.Principal)
	b = appendField(b, "authMethod", e.AuthMethod)
	b = appendField(b, "method", e.Method)
	b = appendField(b, "resource", e.Resource)
	b = appendField(b, "status", e.Status)
	b = appendField(b, "requestId", e.RequestID)
	b = appendField(b, "clientAddress", e.ClientAddress)
	b = appendField(b, "justification", e.Justification)
	if len(keys) > 0 {
		b = append(b, `,"details":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, e.Details[k])
		}
		b = append(b, '}')
	}
	if len(sum) > 0 {
		b = append(b, `,"hash":"`...)
		b = hex.AppendEncode(b, sum)
		b = append(b, '"')
	}
	return append(b, '}')
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString appends s as a JSON string (RFC 8259, section 7): the
// quotation mark, the reverse solidus and the control characters escaped,
// everything else as is. Invalid UTF-8 becomes U+FFFD, as encoding/json
// would make it.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonPlain holds, for each byte, whether a JSON string holds it as it is
// by itself: printable ASCII but the quotation mark and the reverse solidus.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
