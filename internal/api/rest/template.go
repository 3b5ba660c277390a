// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"fmt"
	"net/url"
	"strings"
)

// This file parses and matches the path templates of google.api.HttpRule
// (https://github.com/googleapis/googleapis/blob/master/google/api/http.proto):
//
//	Template = "/" Segments [ Verb ] ;
//	Segments = Segment { "/" Segment } ;
//	Segment  = "*" | "**" | LITERAL | Variable ;
//	Variable = "{" FieldPath [ "=" Segments ] "}" ;
//	FieldPath = IDENT { "." IDENT } ;
//	Verb     = ":" LITERAL ;
//
// A template is compiled once into a flat list of segments; a variable is a
// range of that list. Matching a request is then a length check and one
// string comparison per literal segment, with no allocation.

type segKind uint8

const (
	segLiteral    segKind = iota
	segStar               // "*": exactly one non-empty segment
	segDoubleStar         // "**": one or more non-empty segments, last only
)

type segment struct {
	kind segKind
	lit  string
}

// variable binds the request segments [start, end) to a field path; end is
// len(segments) for a variable that ends with "**", which then extends to the
// end of the request path.
type variable struct {
	field      string // dotted proto field path, e.g. "crypto_key.name"
	start, end int
}

// template is a compiled path template.
type template struct {
	raw  string
	segs []segment
	verb string // without the colon; "" when the template has none
	vars []variable
	tail bool // the last segment is "**"
}

// parseTemplate compiles a path template. It refuses what http.proto forbids
// or what Cloud KMS never uses and this package does not support: "**"
// anywhere but last, nested variables, empty segments.
func parseTemplate(s string) (*template, error) {
	t := &template{raw: s}
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("template %q: must start with /", s)
	}
	p := s[1:]
	seen := map[string]bool{}
	// segment consumes one "*", "**" or literal segment from p.
	segment1 := func() error {
		n := strings.IndexAny(p, "/:}{")
		if n < 0 {
			n = len(p)
		}
		tok := p[:n]
		switch {
		case tok == "":
			return fmt.Errorf("template %q: empty segment", s)
		case tok == "*":
			t.segs = append(t.segs, segment{kind: segStar})
		case tok == "**":
			t.segs = append(t.segs, segment{kind: segDoubleStar})
		case strings.ContainsAny(tok, "*="):
			return fmt.Errorf("template %q: bad segment %q", s, tok)
		default:
			t.segs = append(t.segs, segment{kind: segLiteral, lit: tok})
		}
		p = p[n:]
		return nil
	}
	for {
		if !strings.HasPrefix(p, "{") {
			if err := segment1(); err != nil {
				return nil, err
			}
		} else {
			end := strings.IndexAny(p, "=}")
			if end < 0 {
				return nil, fmt.Errorf("template %q: unterminated variable", s)
			}
			name := p[1:end]
			if !validFieldPath(name) {
				return nil, fmt.Errorf("template %q: bad field path %q", s, name)
			}
			if seen[name] {
				return nil, fmt.Errorf("template %q: field %q bound twice", s, name)
			}
			seen[name] = true
			v := variable{field: name, start: len(t.segs)}
			if p[end] == '}' {
				// {field} is short for {field=*}.
				t.segs = append(t.segs, segment{kind: segStar})
			} else {
				// {field=Segments}: segments up to the closing brace.
				p = p[end+1:]
				for {
					if err := segment1(); err != nil {
						return nil, err
					}
					if !strings.HasPrefix(p, "/") {
						break
					}
					p = p[1:]
				}
				if !strings.HasPrefix(p, "}") {
					return nil, fmt.Errorf("template %q: unterminated variable %q", s, name)
				}
				end = 0
			}
			p = p[end+1:]
			v.end = len(t.segs)
			t.vars = append(t.vars, v)
		}
		switch {
		case p == "":
			return t.finish()
		case p[0] == '/':
			p = p[1:]
		case p[0] == ':':
			t.verb = p[1:]
			if t.verb == "" || strings.ContainsAny(t.verb, "/:{}*=") {
				return nil, fmt.Errorf("template %q: bad verb %q", s, t.verb)
			}
			return t.finish()
		default:
			return nil, fmt.Errorf("template %q: unexpected %q", s, p[:1])
		}
	}
}

func (t *template) finish() (*template, error) {
	for i, sg := range t.segs {
		if sg.kind == segDoubleStar {
			if i != len(t.segs)-1 {
				return nil, fmt.Errorf("template %q: ** must be the last segment", t.raw)
			}
			t.tail = true
		}
	}
	return t, nil
}

func validFieldPath(s string) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for i, c := range id {
			ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
			if !ok {
				return false
			}
		}
	}
	return true
}

// maxSegments bounds the segments of a request path that we look at. The
// longest Cloud KMS path has twelve (v1, a version name of ten, publicKey);
// a longer path matches nothing and is 404.
const maxSegments = 24

// reqPath is a request path split for matching. It lives on the stack of
// ServeHTTP.
type reqPath struct {
	path     string // the escaped path without the leading "/" and the verb
	hasVerb  bool   // the last segment had a ":"
	verb     string // decoded
	n        int
	segs     [maxSegments]string // decoded segments
	offs     [maxSegments]int    // offset of each raw segment in path
	escaped  bool                // some segment was percent-encoded
	tooLong  bool
	badInput bool // an escape that does not decode, or a decoded "/"
}

// split fills p from the escaped request path. Segments are split on the raw
// "/" and percent-decoded one by one, so that "%2F" never splits a segment;
// the verb is what follows the last raw ":" of the last segment, so "%3A"
// never starts one.
func (p *reqPath) split(escaped string) {
	if escaped == "" || escaped[0] != '/' {
		p.badInput = true
		return
	}
	s := escaped[1:]
	last := strings.LastIndexByte(s, '/') + 1
	if c := strings.LastIndexByte(s[last:], ':'); c >= 0 {
		p.hasVerb = true
		p.verb = s[last+c+1:]
		s = s[:last+c]
		if strings.IndexByte(p.verb, '%') >= 0 {
			v, err := url.PathUnescape(p.verb)
			if err != nil {
				p.badInput = true
				return
			}
			p.verb = v
		}
	}
	p.path = s
	off := 0
	for {
		if p.n == maxSegments {
			p.tooLong = true
			return
		}
		i := strings.IndexByte(s[off:], '/')
		end := len(s)
		if i >= 0 {
			end = off + i
		}
		seg := s[off:end]
		if strings.IndexByte(seg, '%') >= 0 {
			d, err := url.PathUnescape(seg)
			if err != nil || strings.IndexByte(d, '/') >= 0 {
				// A segment that decodes to a "/" would make a
				// resource name with a different shape than the
				// one that was matched: refuse it.
				p.badInput = true
				return
			}
			seg = d
			p.escaped = true
		}
		p.segs[p.n] = seg
		p.offs[p.n] = off
		p.n++
		if i < 0 {
			return
		}
		off = end + 1
	}
}

// match reports whether the request path p matches the template, verb apart
// (the caller has already chosen templates by verb).
func (t *template) match(p *reqPath) bool {
	n := len(t.segs)
	if p.n < n || !t.tail && p.n != n {
		return false
	}
	for i := range t.segs {
		sg := &t.segs[i]
		switch sg.kind {
		case segLiteral:
			if p.segs[i] != sg.lit {
				return false
			}
		case segStar:
			if p.segs[i] == "" {
				return false
			}
		case segDoubleStar:
			for _, s := range p.segs[i:p.n] {
				if s == "" {
					return false
				}
			}
		}
	}
	return true
}

// value returns the value of v in a path that matched its template: the
// matched segments, decoded, joined by "/". Without escapes it is a substring
// of the request path and costs no allocation.
func (t *template) value(v *variable, p *reqPath) string {
	end := v.end
	if end == len(t.segs) && t.tail {
		end = p.n
	}
	if !p.escaped {
		last := end - 1
		lastEnd := len(p.path)
		if end < p.n {
			lastEnd = p.offs[last+1] - 1
		}
		return p.path[p.offs[v.start]:lastEnd]
	}
	return strings.Join(p.segs[v.start:end], "/")
}

// overlaps reports whether some request path matches both a and b (verbs
// apart). It decides the ambiguity check of New.
func overlaps(a, b *template) bool {
	na, nb := len(a.segs), len(b.segs)
	// Fixed parts first: a segment position both templates constrain.
	for i := 0; i < na && i < nb; i++ {
		x, y := a.segs[i], b.segs[i]
		if x.kind == segLiteral && y.kind == segLiteral && x.lit != y.lit {
			return false
		}
	}
	switch {
	case na == nb:
		return true
	case na < nb:
		return a.tail
	default:
		return b.tail
	}
}
