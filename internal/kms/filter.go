// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"strings"

	"github.com/custos-kms/custos/internal/kmserr"
)

// The filter language is the part of AIP-160 (https://google.aip.dev/160)
// that Cloud KMS list filters use:
//
//	filter     = conjunction
//	conjunction = disjunction { "AND" disjunction }
//	disjunction = term { "OR" term }        (OR binds tighter, as in AIP-160)
//	term       = [ "NOT" | "-" ] field op value
//	op         = "=" | "!=" | ":" | "<" | "<=" | ">" | ">="
//
// Values may be quoted with double quotes. ":" means "has": the value occurs
// in the field (or, with "*", the field is set). Comparisons are on strings;
// times compare correctly because they are formatted to sort.

type filterTerm struct {
	not   bool
	path  string
	op    string
	value string
}

// filterExpr is a conjunction of disjunctions; nil matches everything.
type filterExpr [][]filterTerm

func parseFilter(s string, known func(string) bool) (filterExpr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, nil
	}
	var expr filterExpr
	var disj []filterTerm
	expectTerm := true
	for i := 0; i < len(toks); {
		t := toks[i]
		if !expectTerm {
			switch t {
			case "AND":
				expr = append(expr, disj)
				disj = nil
			case "OR":
			default:
				return nil, kmserr.InvalidArgument("filter", "expected AND or OR before %q", t)
			}
			expectTerm = true
			i++
			continue
		}
		var term filterTerm
		if t == "NOT" {
			term.not = true
			i++
		}
		if i >= len(toks) {
			return nil, kmserr.InvalidArgument("filter", "incomplete expression")
		}
		// A term is "field op value" as one token or three.
		field, op, value, n, err := splitTerm(toks[i:])
		if err != nil {
			return nil, err
		}
		if f, ok := strings.CutPrefix(field, "-"); ok && !term.not {
			term.not, field = true, f
		}
		if !known(field) {
			return nil, kmserr.InvalidArgument("filter", "unknown field %q", field)
		}
		term.path, term.op, term.value = field, op, value
		disj = append(disj, term)
		i += n
		expectTerm = false
	}
	if expectTerm {
		return nil, kmserr.InvalidArgument("filter", "incomplete expression")
	}
	return append(expr, disj), nil
}

var ops = []string{"<=", ">=", "!=", "=", ":", "<", ">"}

// splitTerm reads "a=b", "a = b", "a= b" or "a =b" from the tokens.
func splitTerm(toks []string) (field, op, value string, n int, err error) {
	joined := ""
	for n = 0; n < len(toks) && n < 3; n++ {
		if toks[n] == "AND" || toks[n] == "OR" {
			break
		}
		joined += toks[n]
		if f, o, v, ok := cutOp(joined); ok && v != "" {
			return f, o, unquote(v), n + 1, nil
		}
	}
	return "", "", "", 0, kmserr.InvalidArgument("filter", "expected field, operator and value near %q", toks[0])
}

func cutOp(s string) (field, op, value string, ok bool) {
	// Find the first operator outside quotes.
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return "", "", "", false
		}
		for _, o := range ops {
			if strings.HasPrefix(s[i:], o) {
				if i == 0 {
					return "", "", "", false
				}
				return s[:i], o, s[i+len(o):], true
			}
		}
	}
	return "", "", "", false
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// tokenize splits on spaces outside double quotes.
func tokenize(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			cur.WriteByte(c)
		case (c == ' ' || c == '\t') && !inQuote:
			if cur.Len() > 0 {
				toks = append(toks, cur.String())
				cur.Reset()
			}
		case (c == '(' || c == ')') && !inQuote:
			return nil, kmserr.InvalidArgument("filter", "parentheses are not supported")
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, kmserr.InvalidArgument("filter", "unterminated quote")
	}
	if cur.Len() > 0 {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

func (e filterExpr) match(f fields) (bool, error) {
	for _, disj := range e {
		any := false
		for _, t := range disj {
			v, _ := f(t.path)
			if t.eval(v) != t.not {
				any = true
				break
			}
		}
		if !any {
			return false, nil
		}
	}
	return true, nil
}

func (t filterTerm) eval(v string) bool {
	switch t.op {
	case "=":
		return v == t.value
	case "!=":
		return v != t.value
	case ":":
		if t.value == "*" {
			return v != ""
		}
		return strings.Contains(v, t.value)
	case "<":
		return v < t.value
	case "<=":
		return v <= t.value
	case ">":
		return v > t.value
	case ">=":
		return v >= t.value
	}
	return false
}

type orderTerm struct {
	path string
	desc bool
}

// parseOrderBy reads "field [asc|desc], ..." (https://google.aip.dev/132).
func parseOrderBy(s string, known func(string) bool) ([]orderTerm, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []orderTerm
	for _, part := range strings.Split(s, ",") {
		w := strings.Fields(part)
		if len(w) == 0 || len(w) > 2 {
			return nil, kmserr.InvalidArgument("order_by", "cannot parse %q", strings.TrimSpace(part))
		}
		o := orderTerm{path: w[0]}
		if len(w) == 2 {
			switch strings.ToLower(w[1]) {
			case "asc":
			case "desc":
				o.desc = true
			default:
				return nil, kmserr.InvalidArgument("order_by", "direction must be asc or desc, not %q", w[1])
			}
		}
		if !known(o.path) {
			return nil, kmserr.InvalidArgument("order_by", "unknown field %q", o.path)
		}
		out = append(out, o)
	}
	return out, nil
}
