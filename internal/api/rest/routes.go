// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// route is one compiled HTTP binding of one RPC method.
type route struct {
	httpMethod string
	tmpl       *template
	// method is the full method name without the leading slash, as
	// Config.ExtraQuery and Config.WithQuery name it.
	method string
	call   grpc.MethodHandler
	srv    any

	in, out protoreflect.MessageDescriptor

	bodyAll   bool                         // body "*"
	bodyField protoreflect.FieldDescriptor // body "field"; nil for "*" and none
	hasBody   bool

	vars  []boundVar
	bound [][]protoreflect.FieldDescriptor // fields query parameters may not set
	extra map[string]bool                  // Config.ExtraQuery for this method
	lists []protoreflect.FieldDescriptor   // repeated message fields of out, for Decorate
}

// boundVar is a path variable resolved to the request fields it sets.
type boundVar struct {
	v      *variable
	fields []protoreflect.FieldDescriptor
}

// maxVars bounds the variables of one template; Cloud KMS has one per rule.
const maxVars = 4

// service is one gRPC service to expose: its descriptor, the server, the
// handler of each method and where its HTTP rules come from.
type service struct {
	desc     protoreflect.ServiceDescriptor
	srv      any
	handlers map[string]grpc.MethodHandler // by method name
	rule     func(protoreflect.MethodDescriptor) *annotations.HttpRule
}

// embeddedRule reads the google.api.http option of a method.
func embeddedRule(md protoreflect.MethodDescriptor) *annotations.HttpRule {
	r, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	return r
}

// mixinRule looks a method up in mixinRules.
func mixinRule(md protoreflect.MethodDescriptor) *annotations.HttpRule {
	return mixinRules[string(md.FullName())]
}

// handlersOf indexes a generated grpc.ServiceDesc by method name.
func handlersOf(sd *grpc.ServiceDesc) map[string]grpc.MethodHandler {
	m := make(map[string]grpc.MethodHandler, len(sd.Methods))
	for _, md := range sd.Methods {
		m[md.MethodName] = md.Handler
	}
	return m
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// reflectHandlers builds, by reflection on srv, the grpc.MethodHandler of
// every method of sd: the same function the generated code would hold in its
// ServiceDesc. It is for services whose package keeps its ServiceDesc
// unexported (genproto's google.cloud.location.Locations), so that they go
// through the same call path as the others. The method lookup is done here,
// once; each call costs one reflect.Value.Call, which is fine off the hot
// path.
func reflectHandlers(srv any, sd protoreflect.ServiceDescriptor) (map[string]grpc.MethodHandler, error) {
	rv := reflect.ValueOf(srv)
	out := make(map[string]grpc.MethodHandler, sd.Methods().Len())
	for i := 0; i < sd.Methods().Len(); i++ {
		md := sd.Methods().Get(i)
		name := string(md.Name())
		fn := rv.MethodByName(name)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if !fn.IsValid() || err != nil {
			return nil, fmt.Errorf("rest: %T has no method %s", srv, name)
		}
		ft := fn.Type()
		reqType := reflect.TypeOf(mt.Zero().Interface())
		if ft.NumIn() != 2 || ft.In(0) != contextType || ft.In(1) != reqType ||
			ft.NumOut() != 2 || ft.Out(1) != errorType {
			return nil, fmt.Errorf("rest: %T.%s has type %v, not a unary gRPC method", srv, name, ft)
		}
		full := "/" + string(sd.FullName()) + "/" + name
		out[name] = func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := mt.New().Interface()
			if err := dec(in); err != nil {
				return nil, err
			}
			invoke := func(ctx context.Context, req any) (any, error) {
				res := fn.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), reflect.ValueOf(req)})
				err, _ := res[1].Interface().(error)
				return res[0].Interface(), err
			}
			if ic == nil {
				return invoke(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, invoke)
		}
	}
	return out, nil
}

// compile builds the routes of every method of the services that has an
// HTTP rule.
func compile(services []service, extra map[string][]string) ([]*route, error) {
	var routes []*route
	known := map[string]bool{}
	for _, s := range services {
		methods := s.desc.Methods()
		for i := 0; i < methods.Len(); i++ {
			md := methods.Get(i)
			rule := s.rule(md)
			if rule == nil {
				continue // no REST mapping: gRPC only
			}
			h := s.handlers[string(md.Name())]
			if h == nil {
				return nil, fmt.Errorf("rest: no handler for %s", md.FullName())
			}
			name := string(s.desc.FullName()) + "/" + string(md.Name())
			known[name] = true
			var ex map[string]bool
			for _, p := range extra[name] {
				if _, sys := systemParams[p]; sys {
					return nil, fmt.Errorf("rest: ExtraQuery %s: %q is a system parameter", name, p)
				}
				if ex == nil {
					ex = map[string]bool{}
				}
				ex[p] = true
			}
			bindings := append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...)
			for j, b := range bindings {
				if j > 0 && len(b.GetAdditionalBindings()) > 0 {
					return nil, fmt.Errorf("rest: %s: nested additional_bindings", md.FullName())
				}
				rt, err := compileRule(md, b)
				if err != nil {
					return nil, err
				}
				rt.method, rt.call, rt.srv, rt.extra = name, h, s.srv, ex
				routes = append(routes, rt)
			}
		}
	}
	for name := range extra {
		if !known[name] {
			return nil, fmt.Errorf("rest: ExtraQuery names unknown method %q", name)
		}
	}
	// Refuse a table where a path could reach two methods: the order of
	// the routes must never decide.
	for i, a := range routes {
		for _, b := range routes[i+1:] {
			if a.httpMethod == b.httpMethod && a.tmpl.verb == b.tmpl.verb && overlaps(a.tmpl, b.tmpl) {
				return nil, fmt.Errorf("rest: %s %s (%s) and %s (%s) overlap",
					a.httpMethod, a.tmpl.raw, a.method, b.tmpl.raw, b.method)
			}
		}
	}
	return routes, nil
}

// compileRule compiles one binding of method md.
func compileRule(md protoreflect.MethodDescriptor, r *annotations.HttpRule) (*route, error) {
	rt := &route{in: md.Input(), out: md.Output()}
	var path string
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		rt.httpMethod, path = "GET", p.Get
	case *annotations.HttpRule_Put:
		rt.httpMethod, path = "PUT", p.Put
	case *annotations.HttpRule_Post:
		rt.httpMethod, path = "POST", p.Post
	case *annotations.HttpRule_Delete:
		rt.httpMethod, path = "DELETE", p.Delete
	case *annotations.HttpRule_Patch:
		rt.httpMethod, path = "PATCH", p.Patch
	case *annotations.HttpRule_Custom:
		rt.httpMethod, path = p.Custom.GetKind(), p.Custom.GetPath()
	default:
		return nil, fmt.Errorf("rest: %s: rule without a pattern", md.FullName())
	}
	if r.GetResponseBody() != "" {
		return nil, fmt.Errorf("rest: %s: response_body is not supported", md.FullName())
	}
	t, err := parseTemplate(path)
	if err != nil {
		return nil, fmt.Errorf("rest: %s: %w", md.FullName(), err)
	}
	rt.tmpl = t
	if len(t.vars) > maxVars {
		return nil, fmt.Errorf("rest: %s: more than %d path variables", md.FullName(), maxVars)
	}
	for i := range t.vars {
		v := &t.vars[i]
		fields, err := resolve(md.Input(), v.field)
		if err != nil {
			return nil, fmt.Errorf("rest: %s: %w", md.FullName(), err)
		}
		leaf := fields[len(fields)-1]
		if leaf.Kind() != protoreflect.StringKind || leaf.Cardinality() == protoreflect.Repeated {
			return nil, fmt.Errorf("rest: %s: path variable %s is not a string field", md.FullName(), v.field)
		}
		rt.vars = append(rt.vars, boundVar{v: v, fields: fields})
		rt.bound = append(rt.bound, fields)
	}
	switch body := r.GetBody(); body {
	case "":
	case "*":
		rt.bodyAll, rt.hasBody = true, true
	default:
		fd := md.Input().Fields().ByName(protoreflect.Name(body))
		if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.Cardinality() == protoreflect.Repeated {
			// Cloud KMS only names singular message fields; the
			// other cases of http.proto are not needed.
			return nil, fmt.Errorf("rest: %s: body %q is not a message field", md.FullName(), body)
		}
		rt.bodyField, rt.hasBody = fd, true
		rt.bound = append(rt.bound, []protoreflect.FieldDescriptor{fd})
	}
	fields := md.Output().Fields()
	for i := 0; i < fields.Len(); i++ {
		if fd := fields.Get(i); fd.IsList() && fd.Kind() == protoreflect.MessageKind {
			rt.lists = append(rt.lists, fd)
		}
	}
	return rt, nil
}

// resolve turns a dotted proto field path of a path variable into fields:
// every step but the last a singular message.
func resolve(md protoreflect.MessageDescriptor, path string) ([]protoreflect.FieldDescriptor, error) {
	var out []protoreflect.FieldDescriptor
	for name := range strings.SplitSeq(path, ".") {
		if md == nil {
			return nil, fmt.Errorf("field path %q goes through a non-message field", path)
		}
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil, fmt.Errorf("field path %q: no field %q in %s", path, name, md.FullName())
		}
		out = append(out, fd)
		md = nil
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			md = fd.Message()
		}
	}
	return out, nil
}

// allowed lists the HTTP methods of the routes that match p, for the Allow
// header of a 405.
func allowed(routes []*route, p *reqPath) string {
	var ms []string
	for _, rt := range routes {
		if rt.tmpl.match(p) && !slices.Contains(ms, rt.httpMethod) {
			ms = append(ms, rt.httpMethod)
		}
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}
