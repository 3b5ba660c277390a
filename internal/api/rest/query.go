// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// sysParam is what a system parameter does here.
type sysParam uint8

const (
	sysIgnore      sysParam = iota // accepted, no effect
	sysAlt                         // response format
	sysPretty                      // indent the response
	sysUnsupported                 // refused, for the reasons given at systemParams
)

// systemParams are the query parameters that Google's front end takes for
// every API (https://cloud.google.com/apis/docs/system-parameters, with the
// older access_token, oauth_token, $apiFormat and userIp, and the
// uploadType and upload_protocol of discovery documents). They never set a
// request field. Credentials (key, access_token) are ignored because they
// reach Config.Authenticate with the request; fields (response filtering)
// and callback (JSONP) are ignored as permitted, the response being then a
// superset or plain JSON. $ct changes how the request is read, and
// passwd/password are reserved so that passwords never sit in URLs: those are
// refused rather than silently ignored.
var systemParams = map[string]sysParam{
	"$alt": sysAlt, "alt": sysAlt,
	"$prettyPrint": sysPretty, "prettyPrint": sysPretty,
	"access_token": sysIgnore, "oauth_token": sysIgnore,
	"key": sysIgnore, "$key": sysIgnore,
	"fields": sysIgnore, "$fields": sysIgnore,
	"callback": sysIgnore, "$callback": sysIgnore,
	"$.xgafv": sysIgnore, "$apiFormat": sysIgnore,
	"quotaUser": sysIgnore, "$quotaUser": sysIgnore,
	"$userProject": sysIgnore, "$requestReason": sysIgnore,
	"$apiVersion": sysIgnore, "userIp": sysIgnore,
	"uploadType": sysIgnore, "upload_protocol": sysIgnore,
	"$ct": sysUnsupported, "passwd": sysUnsupported, "password": sysUnsupported,
}

// respOpts are the response options the system parameters chose.
type respOpts struct {
	enumNumbers bool
	pretty      bool
}

// nextParam splits the first pair off a raw query string. Only "&" separates
// pairs: a ";" stays in the value, because the Java REST clients send
// $alt=json;enum-encoding=int without escaping it (which is also why this
// does not use url.ParseQuery, which refuses ";").
func nextParam(q string) (key, val, rest string) {
	pair, rest, _ := strings.Cut(q, "&")
	key, val, _ = strings.Cut(pair, "=")
	return key, val, rest
}

// unescape decodes a query component (percent escapes, "+" for space) into
// dst. A component without escapes is returned as is, and with dst on the
// caller's stack a short one costs no allocation: lookups such as
// systemParams[string(b)] do not copy.
func unescape(dst []byte, s string) ([]byte, bool) {
	dst = dst[:0]
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return nil, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func invalidArg(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

var errBadQuery = status.Error(codes.InvalidArgument, "the query string is not valid URL encoding")

// scanSystem reads the system and extension parameters of the query. It
// runs before authentication and the call, and leaves the field parameters
// to decodeQuery. ext is nil when the request has no extension parameter.
//
// Keys and values are unescaped into buffers on the stack and only copied
// into strings where they are kept, so that the usual
// "%24alt=json%3Benum-encoding%3Dint" costs no allocation.
func scanSystem(rt *route, q string) (o respOpts, ext url.Values, err error) {
	var kbuf, vbuf [64]byte
	for q != "" {
		var rk, rv string
		rk, rv, q = nextParam(q)
		if rk == "" && rv == "" {
			continue
		}
		k, ok := unescape(kbuf[:], rk)
		if !ok {
			return o, nil, errBadQuery
		}
		sp, sys := systemParams[string(k)]
		if !sys && !rt.extra[string(k)] {
			continue // a field: decodeQuery's business
		}
		v, ok := unescape(vbuf[:], rv)
		if !ok {
			return o, nil, errBadQuery
		}
		if !sys {
			if ext == nil {
				ext = url.Values{}
			}
			ext.Add(string(k), string(v))
			continue
		}
		switch sp {
		case sysAlt:
			// "json", or "json;enum-encoding=int", which the official
			// REST clients send so that enums they do not know yet
			// still decode.
			switch string(v) {
			case "json":
				o.enumNumbers = false
			case "json;enum-encoding=int":
				o.enumNumbers = true
			default:
				return o, nil, invalidArg("%s=%q is not supported: the only response format is json", string(k), string(v))
			}
		case sysPretty:
			o.pretty, ok = parseFlag(string(v))
			if !ok {
				return o, nil, invalidArg("%s=%q is not a boolean", string(k), string(v))
			}
		case sysUnsupported:
			return o, nil, invalidArg("system parameter %s is not supported", string(k))
		}
	}
	return o, ext, nil
}

// parseFlag reads a boolean system parameter; a bare "?prettyPrint" is true.
func parseFlag(s string) (bool, bool) {
	switch s {
	case "", "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// decodeQuery sets the request fields named by the query parameters, other
// than system and extension parameters: each key is a field path of proto3
// JSON names or proto names ("options.requestedPolicyVersion"), each value
// the field's value as a string.
func decodeQuery(rt *route, m protoreflect.Message, q string) error {
	var kbuf [64]byte
	for q != "" {
		var rk, rv string
		rk, rv, q = nextParam(q)
		if rk == "" && rv == "" {
			continue
		}
		k, ok := unescape(kbuf[:], rk)
		if !ok {
			return errBadQuery
		}
		if _, sys := systemParams[string(k)]; sys || rt.extra[string(k)] {
			continue
		}
		key := string(k)
		val, err := url.QueryUnescape(rv)
		if err != nil {
			return errBadQuery
		}
		if err := setParam(rt, m, key, val); err != nil {
			return err
		}
	}
	return nil
}

// maxDepth bounds the dotted field paths of query parameters.
const maxDepth = 8

// setParam sets the field that key names to val.
func setParam(rt *route, m protoreflect.Message, key, val string) error {
	if rt.bodyAll {
		// http.proto: with body "*" every field not in the path is in
		// the body, so there are no query parameters.
		return invalidArg("unknown query parameter %q: this method takes its fields in the request body", key)
	}
	var chain [maxDepth]protoreflect.FieldDescriptor
	depth := 0
	md := m.Descriptor()
	for rest := key; ; {
		name, more, dotted := strings.Cut(rest, ".")
		fields := md.Fields()
		fd := fields.ByJSONName(name)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(name))
		}
		if fd == nil || depth == maxDepth {
			return invalidArg("unknown query parameter %q", key)
		}
		chain[depth] = fd
		depth++
		if !dotted {
			break
		}
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || isSpecial(fd.Message()) {
			return invalidArg("query parameter %q: %s has no fields", key, name)
		}
		md = fd.Message()
		rest = more
	}
	path := chain[:depth]
	for _, b := range rt.bound {
		if sharePrefix(b, path) {
			return invalidArg("query parameter %q: the field is set by the URL path or the request body", key)
		}
	}
	for _, fd := range path[:depth-1] {
		m = m.Mutable(fd).Message()
	}
	fd := path[depth-1]
	switch {
	case fd.IsMap():
		return invalidArg("query parameter %q: a map field cannot be set in the query", key)
	case fd.IsList():
		list := m.Mutable(fd).List()
		if fd.Kind() == protoreflect.MessageKind {
			e := list.NewElement()
			if err := parseMessage(e.Message(), key, val); err != nil {
				return err
			}
			list.Append(e)
			return nil
		}
		v, err := parseScalar(fd, key, val)
		if err != nil {
			return err
		}
		list.Append(v)
		return nil
	case m.Has(fd):
		// Only the query sets fields not bound by the path or the
		// body, so a set field means the parameter came twice.
		return invalidArg("query parameter %q given more than once", key)
	case fd.Kind() == protoreflect.MessageKind:
		v := m.NewField(fd)
		if err := parseMessage(v.Message(), key, val); err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	default:
		v, err := parseScalar(fd, key, val)
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
}

// sharePrefix reports whether one field path is a prefix of the other.
func sharePrefix(a, b []protoreflect.FieldDescriptor) bool {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// isSpecial reports the well-known types whose JSON form is a single value,
// which a query parameter gives whole.
func isSpecial(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case "google.protobuf.FieldMask", "google.protobuf.Duration", "google.protobuf.Timestamp":
		return true
	}
	return isWrapper(md)
}

func isWrapper(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Path() == "google/protobuf/wrappers.proto"
}

// parseMessage fills a message-typed field from one query value, as its
// proto3 JSON string form would.
func parseMessage(m protoreflect.Message, key, val string) error {
	md := m.Descriptor()
	switch {
	case md.FullName() == "google.protobuf.FieldMask":
		// The official clients send the JSON form, lowerCamel paths
		// separated by commas; people write snake_case. Both become
		// the proto field names the server compares against.
		paths := m.Mutable(md.Fields().ByName("paths")).List()
		for p := range strings.SplitSeq(val, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			s := snakeCase(p)
			if !validFieldPath(s) {
				return invalidArg("query parameter %q: %q is not a field path", key, p)
			}
			paths.Append(protoreflect.ValueOfString(s))
		}
		return nil
	case md.FullName() == "google.protobuf.Duration" || md.FullName() == "google.protobuf.Timestamp":
		js, err := json.Marshal(val)
		if err == nil {
			err = protojson.Unmarshal(js, m.Interface())
		}
		if err != nil {
			return invalidArg("query parameter %q: %s", key, protoErrText(err))
		}
		return nil
	case isWrapper(md):
		fd := md.Fields().ByName("value")
		v, err := parseScalar(fd, key, val)
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
	return invalidArg("query parameter %q: a message cannot be given as one value; name its fields with dots", key)
}

// parseScalar parses one query value as the proto3 JSON mapping reads the
// same value in a JSON string.
func parseScalar(fd protoreflect.FieldDescriptor, key, s string) (protoreflect.Value, error) {
	bad := func(what string) (protoreflect.Value, error) {
		return protoreflect.Value{}, invalidArg("query parameter %q: %q is not %s", key, s, what)
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch s {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return bad("true or false")
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
		return bad("a value of " + string(fd.Enum().FullName()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return bad("a 32-bit integer")
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return bad("a 64-bit integer")
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return bad("an unsigned 32-bit integer")
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return bad("an unsigned 64-bit integer")
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		f, err := parseFloat(s, bits)
		if err != nil {
			return bad("a number")
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.StringKind:
		if !utf8.ValidString(s) {
			return bad("valid UTF-8")
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		// Standard or URL-safe base64, padded or not, as protojson
		// reads bytes.
		enc := base64.StdEncoding
		if strings.ContainsAny(s, "-_") {
			enc = base64.URLEncoding
		}
		if len(s)%4 != 0 {
			enc = enc.WithPadding(base64.NoPadding)
		}
		b, err := enc.DecodeString(s)
		if err != nil {
			return bad("base64")
		}
		return protoreflect.ValueOfBytes(b), nil
	}
	return bad("a scalar") // message kinds are parseMessage's
}

// parseFloat accepts the JSON spellings of the special values as well.
func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, bits)
}

// snakeCase turns a lowerCamel field path into proto names: rotationPeriod
// becomes rotation_period; a snake_case path is left as it is.
func snakeCase(p string) string {
	if strings.IndexFunc(p, func(r rune) bool { return 'A' <= r && r <= 'Z' }) < 0 {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// protoErrText is a protobuf error's text without its "proto:" prefix,
// which protobuf spells with a space or a no-break space at random to keep
// programs from matching on it.
func protoErrText(err error) string {
	s := strings.TrimPrefix(err.Error(), "proto:")
	return strings.TrimLeft(s, " \u00a0")
}
