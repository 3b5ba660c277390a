// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var errInternal = status.Error(codes.Internal, "internal error")

// respond writes resp as 200 and proto3 JSON: lowerCamel names, unset fields
// left out, enums by name unless $alt asked for numbers, as Google writes
// them. The output is compact unless prettyPrint asks otherwise (Google's
// front end indents by default; the clients do not care, and compact output
// is cheaper on the hot path).
func (h *handler) respond(ctx context.Context, w http.ResponseWriter, rt *route, resp any, o respOpts) {
	msg, ok := resp.(proto.Message)
	if !ok {
		// A server returned nil with a nil error.
		WriteError(w, errInternal)
		return
	}
	mo := protojson.MarshalOptions{UseEnumNumbers: o.enumNumbers}
	bp := getBuf()
	b, err := mo.MarshalAppend((*bp)[:0], msg)
	pooled := b
	defer func() { putBuf(bp, pooled) }()
	if err == nil && h.decorate != nil {
		b, err = h.decorateJSON(ctx, rt, msg, b)
	}
	if err == nil && o.pretty {
		var out bytes.Buffer
		err = json.Indent(&out, b, "", "  ")
		b = out.Bytes()
	}
	if err != nil {
		// protojson fails only on invalid UTF-8 in a string field or
		// an Any of an unknown type; either is a server bug, and
		// Decorate values that do not marshal are one too.
		WriteError(w, errInternal)
		return
	}
	hd := w.Header()
	hd["Content-Type"] = contentTypeJSON
	hd["X-Content-Type-Options"] = noSniff
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // the client has gone if this fails; nothing to do
}

// decorateJSON adds Config.Decorate's fields to the JSON object b of msg and
// to each element of msg's top-level repeated message fields. When Decorate
// adds nothing, b is returned untouched, so that the common case costs only
// the Decorate calls.
func (h *handler) decorateJSON(ctx context.Context, rt *route, msg proto.Message, b []byte) ([]byte, error) {
	top := h.decorate(ctx, msg)
	m := msg.ProtoReflect()
	var elems [][]map[string]any // per rt.lists field, per element
	for i, fd := range rt.lists {
		list := m.Get(fd).List()
		for j := 0; j < list.Len(); j++ {
			extra := h.decorate(ctx, list.Get(j).Message().Interface())
			if len(extra) == 0 {
				continue
			}
			if elems == nil {
				elems = make([][]map[string]any, len(rt.lists))
			}
			if elems[i] == nil {
				elems[i] = make([]map[string]any, list.Len())
			}
			elems[i][j] = extra
		}
	}
	if elems != nil {
		// Rewrite the lists that have extras. Going through a map loses
		// protojson's field order, which JSON does not promise anyway.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, err
		}
		for i, fd := range rt.lists {
			if elems[i] == nil {
				continue
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(obj[fd.JSONName()], &arr); err != nil {
				return nil, err
			}
			if len(arr) != len(elems[i]) {
				continue // unreachable: protojson writes every element
			}
			for j := range arr {
				var err error
				if arr[j], err = mergeFields(arr[j], elems[i][j], fd.Message()); err != nil {
					return nil, err
				}
			}
			enc, err := json.Marshal(arr)
			if err != nil {
				return nil, err
			}
			obj[fd.JSONName()] = enc
		}
		var err error
		if b, err = json.Marshal(obj); err != nil {
			return nil, err
		}
	}
	return mergeFields(b, top, m.Descriptor())
}

// mergeFields adds extra's keys, sorted, to the JSON object obj, leaving out
// those that name a field of md.
func mergeFields(obj []byte, extra map[string]any, md protoreflect.MessageDescriptor) ([]byte, error) {
	if len(extra) == 0 {
		return obj, nil
	}
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return obj, nil // not an object: unreachable for a message
	}
	keys := make([]string, 0, len(extra))
	fields := md.Fields()
	for k := range extra {
		if fields.ByJSONName(k) == nil && fields.ByName(protoreflect.Name(k)) == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]byte, 0, len(obj)+32*len(keys))
	out = append(out, obj[:len(obj)-1]...)
	empty := len(bytes.TrimSpace(obj[1:len(obj)-1])) == 0
	for _, k := range keys {
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(extra[k])
		if err != nil {
			return nil, err
		}
		if !empty {
			out = append(out, ',')
		}
		empty = false
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, vb...)
	}
	return append(out, '}'), nil
}
