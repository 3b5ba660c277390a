// SPDX-License-Identifier: Apache-2.0

package ekm

import "encoding/json"

// The fast path of DecodeRequest. Cloud EKM sends the proto3 JSON form:
// lowerCamel names, each once, plain ASCII strings. decodeFast reads that
// form, and only that form, in one pass over the body: a strict subset of
// JSON in which every name is one the walk reads, in its proto3 JSON
// spelling, at most once per object; every value has the type the walk
// wants (a string, true or false, an object, a reason as a string or an
// integer); strings are printable ASCII without escapes. Anything else
// (another spelling, an unknown field, null, an escape, a field twice,
// bad base64, malformed JSON) is declined, and the lenient walk decides,
// with its precise errors. Within that subset the two cannot read a body
// differently; FuzzDecodeRequest checks that they agree.

// Fields of the body, of its additionalContext, and of that one's
// accessReasonContext, as bits: each may be given once.
const (
	fKeyPath = 1 << iota
	fKeyURIPrefix
	fAAD
	fPlaintext
	fWrappedBlob
	fContext
	fFullResourceName
	fRelativeResourceName
	fIsKeyHealthCheck
	fReasonContext
	fReason
)

// fastScanner walks the body; i is the next byte to read. Every method
// returns false when the body leaves the subset.
type fastScanner struct {
	b []byte
	i int
}

// next skips whitespace and returns the next byte, or 0 at the end.
func (s *fastScanner) next() byte {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
	if s.i == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// take consumes c, the next byte after whitespace.
func (s *fastScanner) take(c byte) bool {
	if s.next() != c {
		return false
	}
	s.i++
	return true
}

// str reads a string of printable ASCII without escapes and returns its
// contents, which alias the body.
func (s *fastScanner) str() ([]byte, bool) {
	if !s.take('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// bool reads true or false.
func (s *fastScanner) bool() (v, ok bool) {
	s.next()
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}

// integer reads an integer of at most 18 digits in JSON's grammar (no
// leading zero) and returns its text.
func (s *fastScanner) integer() ([]byte, bool) {
	s.next()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || n > 18 || (n > 1 && s.b[digits] == '0') {
		return nil, false
	}
	// A fraction or an exponent leaves the subset.
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return nil, false
	}
	return s.b[start:s.i], true
}

// fastDecoder reads a request with a fastScanner. seen holds the fields
// read so far: each may be given once.
type fastDecoder struct {
	fastScanner
	op   Op
	req  Request
	seen int
}

// object reads an object whose names are all in names, reading each value
// with value. A name outside names, or given twice, leaves the subset.
func (d *fastDecoder) object(names map[string]int) bool {
	if !d.take('{') {
		return false
	}
	if d.take('}') {
		return true
	}
	for {
		name, ok := d.str()
		if !ok || !d.take(':') {
			return false
		}
		bit := names[string(name)]
		if bit == 0 || d.seen&bit != 0 {
			return false
		}
		d.seen |= bit
		if !d.value(bit) {
			return false
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// value reads the value of the field bit into the request.
func (d *fastDecoder) value(bit int) bool {
	req, rc := &d.req, &d.req.Context
	switch bit {
	case fKeyPath:
		return d.string(&req.KeyPath)
	case fKeyURIPrefix:
		return d.string(&req.KeyURIPrefix)
	case fAAD:
		return d.bytes(&req.AdditionalAuthenticatedData, true)
	// The walk reads plaintext only in a wrap and wrappedBlob only in an
	// unwrap, and does not even look at the other; here a string is
	// required of both.
	case fPlaintext:
		return d.bytes(&req.Plaintext, d.op == OpWrap)
	case fWrappedBlob:
		return d.bytes(&req.WrappedBlob, d.op == OpUnwrap)
	case fContext:
		return d.object(fastContextNames)
	case fFullResourceName:
		return d.string(&rc.FullResourceName)
	case fRelativeResourceName:
		return d.string(&rc.RelativeResourceName)
	case fIsKeyHealthCheck:
		var ok bool
		rc.IsKeyHealthCheck, ok = d.bool()
		return ok
	case fReasonContext:
		return d.object(fastReasonNames)
	default: // fReason: a name or a number
		if d.next() == '"' {
			v, ok := d.str()
			rc.Justification = ReasonByName(string(v))
			return ok
		}
		v, ok := d.integer()
		if ok {
			rc.Justification, ok = reasonFromJSON(json.RawMessage(v))
		}
		return ok
	}
}

func (d *fastDecoder) string(dst *string) bool {
	v, ok := d.str()
	*dst = string(v)
	return ok
}

// bytes decodes base64 as the walk does, into dst if read.
func (d *fastDecoder) bytes(dst *[]byte, read bool) bool {
	v, ok := d.str()
	if !ok || !read {
		return ok
	}
	b, err := decodeBase64(string(v))
	*dst = b
	return err == nil
}

var (
	fastRootNames = map[string]int{
		"keyPath": fKeyPath, "keyUriPrefix": fKeyURIPrefix,
		"additionalAuthenticatedData": fAAD, "plaintext": fPlaintext,
		"wrappedBlob": fWrappedBlob, "additionalContext": fContext,
	}
	fastContextNames = map[string]int{
		"fullResourceName": fFullResourceName, "relativeResourceName": fRelativeResourceName,
		"isKeyHealthCheck": fIsKeyHealthCheck, "accessReasonContext": fReasonContext,
	}
	fastReasonNames = map[string]int{"reason": fReason}
)

// decodeFast returns the request in body, or ok false when the lenient
// walk must decide. body is trimmed and within MaxBody.
func decodeFast(op Op, body []byte) (req *Request, ok bool) {
	d := &fastDecoder{fastScanner: fastScanner{b: body}, op: op}
	if !d.object(fastRootNames) {
		return nil, false
	}
	if d.next(); d.i != len(d.b) {
		return nil, false // more than one value
	}
	return &d.req, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
