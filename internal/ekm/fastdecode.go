// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"encoding/json"
)

// The fast path of DecodeRequest. Cloud EKM sends the proto3 JSON form:
// lowerCamel names, each once. For such a body one json.Unmarshal into a
// struct reads every field, at a fraction of the cost of the lenient walk
// (a decoder per object, a token at a time). decodeFast takes a body only
// when it can prove that the walk would read it the same way; for
// anything else (another spelling, a field twice, a value of the wrong
// type, bad base64, malformed JSON) it declines, and the walk decides,
// with its precise errors. FuzzDecodeRequest checks that both agree.

// fastBody is a WrapRequest or UnwrapRequest in proto3 JSON. Strings are
// pointers and the reason raw so that null reads as the walk reads it.
type fastBody struct {
	KeyPath                     *string      `json:"keyPath"`
	KeyURIPrefix                *string      `json:"keyUriPrefix"`
	AdditionalAuthenticatedData *string      `json:"additionalAuthenticatedData"`
	Plaintext                   *string      `json:"plaintext"`
	WrappedBlob                 *string      `json:"wrappedBlob"`
	AdditionalContext           *fastContext `json:"additionalContext"`
}

type fastContext struct {
	FullResourceName     *string `json:"fullResourceName"`
	RelativeResourceName *string `json:"relativeResourceName"`
	IsKeyHealthCheck     *bool   `json:"isKeyHealthCheck"`
	AccessReasonContext  *struct {
		Reason json.RawMessage `json:"reason"`
	} `json:"accessReasonContext"`
}

// names is what the fast path knows of one object's names: the proto3
// JSON spelling of each name the walk reads there, with its folded form
// (fieldKey), and the folded forms alone.
type names struct {
	exact  map[string]string
	folded map[string]bool
}

func newNames(spellings ...string) *names {
	n := &names{exact: map[string]string{}, folded: map[string]bool{}}
	for _, s := range spellings {
		n.exact[s] = fieldKey(s)
		n.folded[fieldKey(s)] = true
	}
	return n
}

// The names the walk reads in the body, in its additionalContext, and in
// that one's accessReasonContext.
var (
	fastRootNames = newNames("keyPath", "keyUriPrefix", "additionalAuthenticatedData",
		"plaintext", "wrappedBlob", "additionalContext")
	fastContextNames = newNames("fullResourceName", "relativeResourceName",
		"isKeyHealthCheck", "accessReasonContext")
	fastReasonNames = newNames("reason")
)

// decodeFast returns the request in body, or ok false when the lenient
// walk must decide. body is trimmed and within MaxBody.
func decodeFast(op Op, body []byte) (req *Request, ok bool) {
	// json.Unmarshal takes null for a struct and does nothing; the walk
	// wants an object.
	var b fastBody
	if body[0] != '{' || json.Unmarshal(body, &b) != nil || !canonicalNames(body) {
		return nil, false
	}
	req = &Request{KeyPath: deref(b.KeyPath), KeyURIPrefix: deref(b.KeyURIPrefix)}
	var err error
	if req.AdditionalAuthenticatedData, err = fastBytes(b.AdditionalAuthenticatedData); err != nil {
		return nil, false
	}
	// The walk reads plaintext only in a wrap and wrappedBlob only in an
	// unwrap; the other is not even type-checked there. Here a string was
	// required of both: a body that fails that went to the walk.
	switch op {
	case OpWrap:
		req.Plaintext, err = fastBytes(b.Plaintext)
	case OpUnwrap:
		req.WrappedBlob, err = fastBytes(b.WrappedBlob)
	}
	if err != nil {
		return nil, false
	}
	if c := b.AdditionalContext; c != nil {
		rc := &req.Context
		rc.FullResourceName, rc.RelativeResourceName = deref(c.FullResourceName), deref(c.RelativeResourceName)
		if c.IsKeyHealthCheck != nil {
			rc.IsKeyHealthCheck = *c.IsKeyHealthCheck
		}
		if a := c.AccessReasonContext; a != nil && a.Reason != nil {
			j, ok := reasonFromJSON(a.Reason)
			if !ok {
				return nil, false
			}
			rc.Justification = j
		}
	}
	return req, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func fastBytes(s *string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	return decodeBase64(*s)
}

// canonicalNames reports whether, in the objects the walk reads (the body,
// its additionalContext, and that one's accessReasonContext), every name
// that folds to a field the walk reads is spelled as proto3 JSON spells it
// and no two names fold alike. Names elsewhere (inside unknown fields) are
// not looked at, as the walk does not look at them either. body must be
// valid JSON: json.Unmarshal has accepted it.
func canonicalNames(body []byte) bool {
	// One frame per open object or array: which names it checks (nil for
	// none) and the folded names seen in it.
	type frame struct {
		names *names
		seen  []string
	}
	var buf [8]frame
	stack := buf[:0]
	pending := fastRootNames // names of the object the next '{' opens
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{':
			stack = append(stack, frame{names: pending})
			pending = nil
		case '[':
			stack = append(stack, frame{})
			pending = nil
		case '}', ']':
			stack = stack[:len(stack)-1]
		case '"':
			start, plain := i+1, true
			for i++; body[i] != '"'; i++ {
				switch {
				case body[i] == '\\':
					plain = false
					i++
				case body[i] >= 0x80:
					plain = false
				}
			}
			name := body[start:i]
			// A string followed by a colon is a name.
			j := i + 1
			for j < len(body) && isSpace(body[j]) {
				j++
			}
			if j == len(body) || body[j] != ':' {
				continue
			}
			i, pending = j, nil
			f := &stack[len(stack)-1]
			if f.names == nil {
				continue
			}
			// encoding/json matches names without regard to case, Unicode
			// folding included ("ſ" is an "s" to it), and unescapes them:
			// with escapes or non-ASCII bytes in a name, the walk decides.
			if !plain {
				return false
			}
			key, exact := f.names.exact[string(name)]
			if !exact {
				key = fieldKey(string(name))
				if f.names.folded[key] {
					return false // another spelling of a name the walk reads
				}
			}
			// Cloud EKM sends at most six names in an object: a body with
			// many more goes to the walk, whose map keeps the check linear.
			if len(f.seen) >= maxFastNames {
				return false
			}
			for _, k := range f.seen {
				if k == key {
					return false // given twice: the walk refuses it
				}
			}
			f.seen = append(f.seen, key)
			switch {
			case len(stack) == 1 && key == "additionalcontext":
				pending = fastContextNames
			case len(stack) == 2 && key == "accessreasoncontext":
				pending = fastReasonNames
			}
		}
	}
	return true
}

// maxFastNames bounds the names of one checked object on the fast path,
// whose duplicate check is quadratic.
const maxFastNames = 16

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
