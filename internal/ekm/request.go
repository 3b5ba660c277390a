// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
)

// MaxBody is the largest request body read. It fits the largest plaintext
// and additional authenticated data Cloud KMS allows (64 KiB each, so about
// 87 KiB each in base64) with the request context; anything larger is an
// invalid request (400) and is not read past this limit.
const MaxBody = 256 << 10

// Request is a WrapRequest or an UnwrapRequest of google.cloud.ekms.v0, as
// decoded by [DecodeRequest]. Plaintext is set for a wrap, WrappedBlob for
// an unwrap.
type Request struct {
	KeyPath                     string
	KeyURIPrefix                string
	Plaintext                   []byte // secret: never logged
	WrappedBlob                 []byte
	AdditionalAuthenticatedData []byte
	Context                     RequestContext
}

// RequestContext is google.cloud.ekms.v0.RequestContext.
type RequestContext struct {
	FullResourceName     string
	RelativeResourceName string
	Justification        Justification
	IsKeyHealthCheck     bool
}

// Op is the EKM call: wrap or unwrap.
type Op int

const (
	OpWrap Op = iota
	OpUnwrap
)

// String returns "wrap" or "unwrap", as in the URL.
func (o Op) String() string {
	if o == OpUnwrap {
		return "unwrap"
	}
	return "wrap"
}

// Method returns the method name of the audit log: "Wrap" or "Unwrap".
func (o Op) Method() string {
	if o == OpUnwrap {
		return "Unwrap"
	}
	return "Wrap"
}

// RequestError is a request that cannot be read: malformed JSON, a field
// of the wrong type, bad base64, a field given twice. It maps to 400.
// Field names the field (lowerCamel path) when there is one.
type RequestError struct {
	Field string
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func reqErr(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// fieldKey folds a JSON field name so that the proto3 JSON name
// (keyPath), the proto field name (key_path) and other casings seen in the
// wild (KeyPath, as one vendor's client sends) all meet.
func fieldKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}

// DecodeRequest reads the JSON body of a wrap or unwrap call, leniently as
// Cloud EKM partners must: both the lowerCamel and the snake_case field
// names (any case), null for any field, unknown fields ignored; bytes in
// standard or URL-safe base64, padded or not; the reason as a name or a
// number. A field given twice (under two spellings, say) is refused, so
// that no two readers of the body can disagree on it.
//
// It returns a *RequestError for a body that cannot be read. When the
// error is in a field, the returned request still holds every field that
// could be read, in particular the justification when the context was
// readable; ctxOK reports that.
func DecodeRequest(op Op, body []byte) (req *Request, ctxOK bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, reqErr("", "the request body is empty; a JSON object is expected")
	}
	if len(body) > MaxBody {
		return nil, false, reqErr("", "the request body exceeds %d bytes", MaxBody)
	}
	if req, ok := decodeFast(op, body); ok {
		return req, true, nil
	}
	return decodeLenient(op, body)
}

// decodeLenient is DecodeRequest's walk of a body that the fast path
// declined: one field at a time, any spelling, with precise errors.
func decodeLenient(op Op, body []byte) (req *Request, ctxOK bool, err error) {
	req = &Request{}
	var firstErr error
	keep := func(e error) {
		if firstErr == nil {
			firstErr = e
		}
	}
	err = eachField(body, "", func(key, path string, v json.RawMessage) error {
		switch key {
		case "keypath":
			s, err := stringField(path, v)
			req.KeyPath = s
			keep(err)
		case "keyuriprefix":
			s, err := stringField(path, v)
			req.KeyURIPrefix = s
			keep(err)
		case "additionalauthenticateddata":
			b, err := bytesField(path, v)
			req.AdditionalAuthenticatedData = b
			keep(err)
		case "plaintext":
			if op == OpWrap {
				b, err := bytesField(path, v)
				req.Plaintext = b
				keep(err)
			}
		case "wrappedblob":
			if op == OpUnwrap {
				b, err := bytesField(path, v)
				req.WrappedBlob = b
				keep(err)
			}
		case "additionalcontext":
			if err := decodeContext(path, v, &req.Context); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The structure itself is broken: nothing can be trusted.
		return nil, false, err
	}
	return req, true, firstErr
}

// decodeContext reads a RequestContext. A broken context is an error for
// the whole request: the justification cannot be known.
func decodeContext(path string, v json.RawMessage, rc *RequestContext) error {
	if isNull(v) {
		return nil
	}
	return eachField(v, path, func(key, p string, v json.RawMessage) error {
		var err error
		switch key {
		case "fullresourcename":
			rc.FullResourceName, err = stringField(p, v)
		case "relativeresourcename":
			rc.RelativeResourceName, err = stringField(p, v)
		case "iskeyhealthcheck":
			rc.IsKeyHealthCheck, err = boolField(p, v)
		case "accessreasoncontext":
			if isNull(v) {
				return nil
			}
			err = eachField(v, p, func(key, p string, v json.RawMessage) error {
				if key != "reason" {
					return nil
				}
				j, ok := reasonFromJSON(v)
				if !ok {
					return reqErr(p, "must be a reason name (a string) or number")
				}
				rc.Justification = j
				return nil
			})
		}
		return err
	})
}

// eachField calls fn for each member of the JSON object raw, with the
// folded key and the member's path for messages. It fails if raw is not
// one JSON object, or if two members fold to the same key.
func eachField(raw []byte, parent string, fn func(key, path string, v json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	where := parent
	if where == "" {
		where = "the request body"
	}
	tok, err := dec.Token()
	if err != nil {
		return reqErr(parent, "malformed JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return reqErr(parent, "%s must be a JSON object", where)
	}
	seen := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return reqErr(parent, "malformed JSON")
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return reqErr(parent, "malformed JSON")
		}
		key := fieldKey(name)
		path := name
		if parent != "" {
			path = parent + "." + name
		}
		if prev, dup := seen[key]; dup {
			return reqErr(path, "is given twice (also as %q)", printable(prev, 64))
		}
		seen[key] = name
		if err := fn(key, path, v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return reqErr(parent, "malformed JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return reqErr(parent, "%s has data after the JSON object", where)
	}
	return nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

func stringField(path string, v json.RawMessage) (string, error) {
	if isNull(v) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", reqErr(path, "must be a string")
	}
	return s, nil
}

func boolField(path string, v json.RawMessage) (bool, error) {
	if isNull(v) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return false, reqErr(path, "must be true or false")
	}
	return b, nil
}

// bytesField decodes a proto3 JSON bytes field: standard or URL-safe
// base64, with or without padding (protojson accepts the same).
func bytesField(path string, v json.RawMessage) ([]byte, error) {
	if isNull(v) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, reqErr(path, "must be a base64 string")
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, reqErr(path, "is not valid base64")
	}
	return b, nil
}

// decodeBase64 accepts both alphabets, padded or not (up to two '='), but
// not a mix of alphabets.
func decodeBase64(s string) ([]byte, error) {
	trimmed := strings.TrimRight(s, "=")
	if len(s)-len(trimmed) > 2 {
		return nil, errors.New("bad padding")
	}
	url := strings.ContainsAny(trimmed, "-_")
	std := strings.ContainsAny(trimmed, "+/")
	switch {
	case url && std:
		return nil, errors.New("mixed base64 alphabets")
	case url:
		return base64.RawURLEncoding.DecodeString(trimmed)
	default:
		return base64.RawStdEncoding.DecodeString(trimmed)
	}
}

// wrapAnswer is the canonical proto3 JSON WrapResponse, with room for
// writeJSON's newline: what json.Marshal makes of a struct with one []byte
// field, "wrappedBlob", at a fraction of the cost.
func wrapAnswer(blob []byte) []byte {
	const head, tail = `{"wrappedBlob":"`, `"}`
	b := make([]byte, 0, len(head)+base64.StdEncoding.EncodedLen(len(blob))+len(tail)+1)
	b = append(b, head...)
	b = base64.StdEncoding.AppendEncode(b, blob)
	return append(b, tail...)
}

// unwrapResponse is the canonical proto3 JSON UnwrapResponse.
type unwrapResponse struct {
	Plaintext            []byte          `json:"plaintext"`
	AllowedCacheDuration json.RawMessage `json:"allowedCacheDuration,omitempty"`
}

// durationJSON is d as a proto3 JSON Duration ("300s", "1.500s"), or nil
// for 0, so that the field is left out.
func durationJSON(d time.Duration) json.RawMessage {
	if d <= 0 {
		return nil
	}
	b, err := protojson.Marshal(durationpb.New(d))
	if err != nil {
		// Unreachable: any positive time.Duration is a valid Duration.
		panic("ekm: internal error: " + err.Error())
	}
	return json.RawMessage(b)
}
