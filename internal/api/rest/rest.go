// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Config is what [New] serves.
type Config struct {
	// KMS serves google.cloud.kms.v1.KeyManagementService. Required.
	KMS kmspb.KeyManagementServiceServer
	// IAM serves the google.iam.v1.IAMPolicy mixin. If nil, its routes
	// exist and answer UNIMPLEMENTED.
	IAM iampb.IAMPolicyServer
	// Locations serves the google.cloud.location.Locations mixin. If nil,
	// its routes exist and answer UNIMPLEMENTED.
	Locations location.LocationsServer

	// Authenticate turns the request's credential into the context of the
	// call (the server puts the caller in it). Its error should carry a
	// gRPC status, such as UNAUTHENTICATED; any other error is answered
	// as INTERNAL with a generic message. It runs after routing and before
	// the body is read. If nil, the call gets the request's context.
	Authenticate func(r *http.Request) (context.Context, error)

	// ExtraQuery lists the Custos extension query parameters that a
	// method accepts, by full method name without the leading slash
	// ("google.cloud.kms.v1.KeyManagementService/CreateCryptoKey") to
	// parameter names ("exportable"). Elsewhere they are unknown
	// parameters. A name that is also a request field is taken as the
	// extension. ExtraQuery requires WithQuery.
	ExtraQuery map[string][]string
	// WithQuery is called, after Authenticate and before the call, with
	// the extension parameters that the request has (only when it has
	// some); it returns the context for the call, or an error that is
	// answered like Authenticate's.
	WithQuery func(ctx context.Context, method string, params url.Values) (context.Context, error)

	// Decorate, if set, returns extra top-level JSON fields for a response
	// message (Custos extension fields such as "externalKeyUri" on a
	// CryptoKey). It is called with the call's context for the response
	// message and for each element of its top-level repeated message
	// fields (each CryptoKey of a ListCryptoKeysResponse). A key that is
	// the name of a field of the message is dropped: extensions never
	// shadow the API. Values are written with encoding/json.
	Decorate func(ctx context.Context, m proto.Message) map[string]any

	// MaxBodyBytes bounds the request body; 0 means 1 MiB. A larger body
	// is INVALID_ARGUMENT.
	MaxBodyBytes int64

	// Sanitize, if set, sees the error of every method call before it is
	// written, and returns the error to write: the server logs there the
	// causes that the answer hides (as its gRPC interceptor does).
	Sanitize func(error) error
}

// DefaultMaxBodyBytes is the body limit when Config.MaxBodyBytes is 0. Cloud
// KMS takes at most 64 KiB of plaintext, which base64 and JSON make about
// 90 KiB; 1 MiB leaves room without inviting abuse.
const DefaultMaxBodyBytes = 1 << 20

// handler is the http.Handler that New returns. It is immutable after New
// and safe for concurrent use.
type handler struct {
	noVerb []*route            // templates without a verb
	byVerb map[string][]*route // templates with a verb, by verb

	authenticate func(r *http.Request) (context.Context, error)
	withQuery    func(ctx context.Context, method string, params url.Values) (context.Context, error)
	decorate     func(ctx context.Context, m proto.Message) map[string]any
	maxBody      int64

	sanitize func(error) error

	// intercept is passed to every method handler. It is nil in
	// production; tests set it to see each decoded request.
	intercept grpc.UnaryServerInterceptor

	calls sync.Pool // of *call
}

// New returns an http.Handler that serves the Cloud KMS v1 REST surface over
// cfg's servers. It returns an error if cfg.KMS is nil, if ExtraQuery names
// an unknown method or a system parameter, or if the HTTP rules cannot be
// compiled into an unambiguous table, which would be a bug in the protos or
// in mixins.go.
func New(cfg Config) (http.Handler, error) {
	if cfg.KMS == nil {
		return nil, errors.New("rest: Config.KMS is nil")
	}
	if len(cfg.ExtraQuery) > 0 && cfg.WithQuery == nil {
		return nil, errors.New("rest: Config.ExtraQuery needs Config.WithQuery")
	}
	var iamSrv iampb.IAMPolicyServer = iampb.UnimplementedIAMPolicyServer{}
	if cfg.IAM != nil {
		iamSrv = cfg.IAM
	}
	var locSrv location.LocationsServer = &location.UnimplementedLocationsServer{}
	if cfg.Locations != nil {
		locSrv = cfg.Locations
	}
	locDesc := location.File_google_cloud_location_locations_proto.Services().ByName("Locations")
	locHandlers, err := reflectHandlers(locSrv, locDesc)
	if err != nil {
		return nil, err
	}
	services := []service{{
		desc:     kmspb.File_google_cloud_kms_v1_service_proto.Services().ByName("KeyManagementService"),
		srv:      cfg.KMS,
		handlers: handlersOf(&kmspb.KeyManagementService_ServiceDesc),
		rule:     embeddedRule,
	}, {
		desc:     iampb.File_google_iam_v1_iam_policy_proto.Services().ByName("IAMPolicy"),
		srv:      iamSrv,
		handlers: handlersOf(&iampb.IAMPolicy_ServiceDesc),
		rule:     mixinRule,
	}, {
		desc:     locDesc,
		srv:      locSrv,
		handlers: locHandlers,
		rule:     mixinRule,
	}}
	routes, err := compile(services, cfg.ExtraQuery)
	if err != nil {
		return nil, err
	}
	h := &handler{
		byVerb:       map[string][]*route{},
		authenticate: cfg.Authenticate,
		withQuery:    cfg.WithQuery,
		decorate:     cfg.Decorate,
		maxBody:      cfg.MaxBodyBytes,
		sanitize:     cfg.Sanitize,
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	for _, rt := range routes {
		if rt.tmpl.verb == "" {
			h.noVerb = append(h.noVerb, rt)
		} else {
			h.byVerb[rt.tmpl.verb] = append(h.byVerb[rt.tmpl.verb], rt)
		}
	}
	h.calls.New = func() any {
		c := new(call)
		c.dec = c.decode // bound once, so that a call costs no closure
		return c
	}
	return h, nil
}

// call is the state of one request that the decode function needs. Calls
// are pooled.
type call struct {
	h    *handler
	rt   *route
	r    *http.Request
	vals [maxVars]string // path variable values, in rt.vars order
	dec  func(any) error
}

// candidates returns the routes whose verb matches p's.
func (h *handler) candidates(p *reqPath) []*route {
	if p.hasVerb {
		return h.byVerb[p.verb]
	}
	return h.noVerb
}

// ServeHTTP routes, authenticates, decodes, calls and encodes one request.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p reqPath
	p.split(r.URL.EscapedPath())
	var rt *route
	if !p.badInput && !p.tooLong {
		for _, c := range h.candidates(&p) {
			if c.httpMethod == r.Method && c.tmpl.match(&p) {
				rt = c
				break
			}
		}
	}
	if rt == nil {
		h.noRoute(w, r, &p)
		return
	}
	opts, ext, err := scanSystem(rt, r.URL.RawQuery)
	if err != nil {
		WriteError(w, err)
		return
	}
	ctx := r.Context()
	if h.authenticate != nil {
		actx, err := h.authenticate(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		if actx != nil {
			ctx = actx
		}
	}
	if ext != nil {
		qctx, err := h.withQuery(ctx, rt.method, ext)
		if err != nil {
			WriteError(w, err)
			return
		}
		if qctx != nil {
			ctx = qctx
		}
	}

	c := h.calls.Get().(*call)
	c.h, c.rt, c.r = h, rt, r
	for i := range rt.vars {
		c.vals[i] = rt.tmpl.value(rt.vars[i].v, &p)
	}
	resp, err := rt.call(rt.srv, ctx, c.dec, h.intercept)
	*c = call{dec: c.dec} // keep nothing of the request in the pool
	h.calls.Put(c)
	if err != nil {
		if h.sanitize != nil {
			err = h.sanitize(err)
		}
		WriteError(w, err)
		return
	}
	h.respond(ctx, w, rt, resp, opts)
}

// noRoute answers a request that no route serves: 405 with an Allow header
// when the path exists for other HTTP methods, else 404, as Google's front
// end does for an unknown URL.
func (h *handler) noRoute(w http.ResponseWriter, r *http.Request, p *reqPath) {
	if !p.badInput && !p.tooLong {
		if allow := allowed(h.candidates(p), p); allow != "" {
			w.Header().Set("Allow", allow)
			writeStatus(w, http.StatusMethodNotAllowed, status.Newf(codes.Unimplemented,
				"HTTP method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
			return
		}
	}
	writeStatus(w, http.StatusNotFound, status.Newf(codes.NotFound,
		"no Cloud KMS REST method matches %s %s", r.Method, r.URL.Path))
}

// unmarshalOpts decodes request bodies. Unknown fields are refused (the
// caller misspelled something and should hear about it); the recursion limit
// is far above any Cloud KMS message and far below what a hostile body could
// make protojson do.
var unmarshalOpts = protojson.UnmarshalOptions{DiscardUnknown: false, RecursionLimit: 100}

// decode fills the request message v: body, then path variables, then query,
// as doc.go explains. The method handler calls it with its concrete request.
func (c *call) decode(v any) error {
	msg, ok := v.(proto.Message)
	if !ok {
		// Unreachable: every handler passes its generated request.
		return status.Error(codes.Internal, "internal error")
	}
	m := msg.ProtoReflect()
	rt := c.rt
	if rt.hasBody {
		if err := c.decodeBody(msg, m); err != nil {
			return err
		}
	}
	for i := range rt.vars {
		if !utf8.ValidString(c.vals[i]) {
			return invalidArg("the URL path is not valid UTF-8")
		}
		setPath(m, rt.vars[i].fields, c.vals[i])
	}
	return decodeQuery(rt, m, c.r.URL.RawQuery)
}

// setPath sets the string field at the end of fields, creating the messages
// on the way (crypto_key.name creates crypto_key when the body had none).
func setPath(m protoreflect.Message, fields []protoreflect.FieldDescriptor, s string) {
	last := len(fields) - 1
	for _, fd := range fields[:last] {
		m = m.Mutable(fd).Message()
	}
	// The official clients also send the name in a "*" body; when it is
	// the same, leave it: Set would cost an allocation on the hot path.
	if fd := fields[last]; m.Get(fd).String() != s {
		m.Set(fd, protoreflect.ValueOfString(s))
	}
}

// bufPool holds byte buffers for request bodies and responses.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled keeps an unusually large buffer out of the pool.
const maxPooled = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte, b []byte) {
	if cap(b) <= maxPooled {
		*bp = b[:0]
		bufPool.Put(bp)
	}
}

// decodeBody reads the body and unmarshals it into the request or into the
// rule's body field. An empty body leaves them unset, as an empty JSON
// object would.
func (c *call) decodeBody(msg proto.Message, m protoreflect.Message) error {
	r := c.r
	if r.Body == nil {
		return nil
	}
	if r.ContentLength > c.h.maxBody {
		return invalidArg("request body exceeds %d bytes", c.h.maxBody)
	}
	bp := getBuf()
	b, err := readBody(r.Body, (*bp)[:0], c.h.maxBody)
	defer putBuf(bp, b) // protojson copies what it keeps: b may be reused
	switch {
	case errors.Is(err, errTooLarge):
		return invalidArg("request body exceeds %d bytes", c.h.maxBody)
	case err != nil:
		return status.Error(codes.InvalidArgument, "cannot read the request body")
	}
	b = bytes.TrimSpace(b)
	// The Node.js client's REST transport (google-gax) sends the JSON
	// string "" as the body of a method whose body field is an empty
	// message (createKeyRing without keyRing): read it as no body.
	if len(b) == 0 || string(b) == `""` {
		return nil
	}
	target := msg
	if c.rt.bodyField != nil {
		target = m.Mutable(c.rt.bodyField).Message().Interface()
	}
	if err := unmarshalOpts.Unmarshal(b, target); err != nil {
		return invalidArg("%s", bodyErrText(err))
	}
	return nil
}

// Parts of protojson's error texts that bodyErrText keeps.
var (
	errPosRe   = regexp.MustCompile(`\(line (\d+:\d+)\)`)
	errFieldRe = regexp.MustCompile(`invalid value for \w+ (?:field \w+|key)`)
	errNameRe  = regexp.MustCompile(`(?:unknown|duplicate) field "[\w.@/\[\]-]{1,128}"`)
	errWKTRe   = regexp.MustCompile(`google\.protobuf\.\w+`)
)

// bodyErrText describes an error of protojson's Unmarshal: where, and which
// field when it says so, but never the offending token that protojson
// quotes from the body, which may be a secret (plaintext that a client
// forgot to encode, key material): error messages end up in logs.
func bodyErrText(err error) string {
	s := protoErrText(err)
	msg := "invalid JSON body"
	if m := errPosRe.FindStringSubmatch(s); m != nil {
		msg += " at line " + m[1]
	}
	if m := errFieldRe.FindString(s); m != "" {
		return msg + ": " + m
	}
	if m := errNameRe.FindString(s); m != "" {
		return msg + ": " + m
	}
	switch {
	case strings.Contains(s, "syntax error"):
		return msg + ": not valid JSON"
	case strings.Contains(s, "unexpected EOF"):
		return msg + ": unexpected end of input"
	case strings.Contains(s, "recursion depth"):
		return msg + ": nested too deeply"
	case strings.Contains(s, "unknown field"):
		return msg + ": unknown field"
	case strings.Contains(s, "oneof"):
		return msg + ": two fields of a oneof are set"
	}
	if m := errWKTRe.FindString(s); m != "" {
		return msg + ": invalid " + m + " value"
	}
	return msg
}

var errTooLarge = errors.New("body too large")

// readBody appends r to buf, failing with errTooLarge past limit bytes.
func readBody(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
