// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/custos-kms/custos/internal/kmserr"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// checkKeys refuses what encoding/json would read leniently in body, a JSON
// value already decoded without error: an object with two keys that name
// the same field (encoding/json keeps the last one, and matches names
// whatever their case), and, when v points to a struct, a key of the
// top-level object that is not exactly one of its JSON field names. A
// reader of the body that takes the first key, or the exact name, then
// never sees another setting than the one applied.
func checkKeys(body []byte, v any) error {
	names := fieldNames(v)
	dec := json.NewDecoder(bytesReader(body))
	type frame struct {
		object bool
		keys   map[string]bool
	}
	var stack []frame
	expectKey := false // the next token is a key of the innermost object, or its end
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return kmserr.InvalidArgument("", "malformed JSON")
		}
		if expectKey {
			key, ok := tok.(string)
			if !ok { // the object's '}'
				stack = stack[:len(stack)-1]
				expectKey = len(stack) > 0 && stack[len(stack)-1].object
				continue
			}
			top := stack[len(stack)-1]
			f := foldName(key)
			if top.keys[f] {
				return kmserr.InvalidArgument("", "the key %q appears more than once in an object of the request body", key)
			}
			top.keys[f] = true
			if len(stack) == 1 && names != nil && !names[key] {
				return kmserr.InvalidArgument("", "invalid request body: unknown field %q (field names are case-sensitive)", key)
			}
			expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, keys: map[string]bool{}})
			expectKey = true
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		default: // a scalar value
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		}
	}
}

// foldName is the key under which encoding/json matches a name to a field
// (its appendFoldedName): names with the same fold are the same field.
func foldName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
		} else {
			r = unicode.ToUpper(unicode.ToLower(r))
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fieldNames returns the exact JSON names of the fields of the struct v
// points to, or nil if v is not a pointer to a struct.
func fieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	addFieldNames(t.Elem(), names)
	return names
}

func addFieldNames(t reflect.Type, names map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFieldNames(ft, names)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
}

// checkTrailing refuses anything but JSON whitespace after the value dec
// decoded from body (Decoder.More lets a stray '}' or ']' through).
func checkTrailing(dec *json.Decoder, body []byte) error {
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) != 0 {
		return kmserr.InvalidArgument("", "request body has data after the JSON value")
	}
	return nil
}
