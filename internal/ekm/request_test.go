// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRequest(t *testing.T) {
	pt := []byte{0xfb, 0xff, 0x01, 0x02} // base64 differs between alphabets
	std := base64.StdEncoding.EncodeToString(pt)
	url := base64.URLEncoding.EncodeToString(pt)
	rawURL := base64.RawURLEncoding.EncodeToString(pt)
	tests := []struct {
		name      string
		op        Op
		body      string
		want      *Request
		wantErr   string // field of the *RequestError, "-" for none
		wantCtxOK bool
	}{
		{
			name: "canonical wrap",
			body: `{"keyPath":"k","plaintext":"` + std + `","additionalAuthenticatedData":"YWFk","keyUriPrefix":"p",
				"additionalContext":{"fullResourceName":"//cloudkms.googleapis.com/projects/p/k","relativeResourceName":"projects/p/k",
				"accessReasonContext":{"reason":"CUSTOMER_INITIATED_ACCESS"},"isKeyHealthCheck":true}}`,
			want: &Request{KeyPath: "k", KeyURIPrefix: "p", Plaintext: pt, AdditionalAuthenticatedData: []byte("aad"),
				Context: RequestContext{FullResourceName: "//cloudkms.googleapis.com/projects/p/k", RelativeResourceName: "projects/p/k",
					Justification: Justification{Known, "CUSTOMER_INITIATED_ACCESS"}, IsKeyHealthCheck: true}},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name: "snake case, URL base64 padded",
			body: `{"key_path":"k","plaintext":"` + url + `","additional_authenticated_data":"YWFk","additional_context":
				{"relative_resource_name":"r","access_reason_context":{"reason":6},"is_key_health_check":null}}`,
			want: &Request{KeyPath: "k", Plaintext: pt, AdditionalAuthenticatedData: []byte("aad"),
				Context: RequestContext{RelativeResourceName: "r", Justification: Justification{Known, "GOOGLE_INITIATED_SYSTEM_OPERATION"}}},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "a vendor's casing, raw URL base64",
			body:    `{"plaintext":"` + rawURL + `","additionalContext":{"accessReasonContext":{"reason":"CUSTOMER_INITIATED_SUPPORT"},"RelativeResourceName":"r","is_key_health_check":null}}`,
			want:    &Request{Plaintext: pt, Context: RequestContext{RelativeResourceName: "r", Justification: Justification{Known, "CUSTOMER_INITIATED_SUPPORT"}}},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "nulls and unknown fields",
			body:    `{"plaintext":null,"keyPath":null,"additionalContext":null,"somethingNew":{"x":[1,2]},"additionalAuthenticatedData":null}`,
			want:    &Request{},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "empty object",
			body:    `{}`,
			want:    &Request{},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "no reason, null context",
			body:    `{"plaintext":"YQ","additionalContext":{"accessReasonContext":null}}`,
			want:    &Request{Plaintext: []byte("a")},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "unknown reason is no error",
			body:    `{"plaintext":"YQ","additionalContext":{"accessReasonContext":{"reason":"NEW_REASON_2030"}}}`,
			want:    &Request{Plaintext: []byte("a"), Context: RequestContext{Justification: Justification{Unknown, "NEW_REASON_2030"}}},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "unwrap",
			op:      OpUnwrap,
			body:    `{"wrappedBlob":"` + std + `","plaintext":"!!ignored, not a field of unwrap"}`,
			want:    &Request{WrappedBlob: pt},
			wantErr: "-", wantCtxOK: true,
		},
		{
			name:    "bad base64 keeps the justification",
			body:    `{"plaintext":"***","additionalContext":{"accessReasonContext":{"reason":"THIRD_PARTY_DATA_REQUEST"}}}`,
			want:    &Request{Context: RequestContext{Justification: Justification{Known, "THIRD_PARTY_DATA_REQUEST"}}},
			wantErr: "plaintext", wantCtxOK: true,
		},
		{
			name:    "mixed alphabets",
			body:    `{"plaintext":"a+b-"}`,
			want:    &Request{},
			wantErr: "plaintext", wantCtxOK: true,
		},
		{
			name:    "too much padding",
			body:    `{"plaintext":"YQ==="}`,
			want:    &Request{},
			wantErr: "plaintext", wantCtxOK: true,
		},
		{
			name:    "bytes as a number",
			body:    `{"plaintext":5}`,
			want:    &Request{},
			wantErr: "plaintext", wantCtxOK: true,
		},
		{name: "keyPath as a number", body: `{"keyPath":5}`, want: &Request{}, wantErr: "keyPath", wantCtxOK: true},
		{name: "empty body", body: ``, wantErr: ""},
		{name: "not an object", body: `[1]`, wantErr: ""},
		{name: "malformed", body: `{"plaintext":`, wantErr: ""},
		{name: "trailing data", body: `{} {}`, wantErr: ""},
		{name: "field twice", body: `{"keyPath":"a","key_path":"b"}`, wantErr: "key_path"},
		{name: "same field twice", body: `{"plaintext":"YQ","plaintext":"Yg"}`, wantErr: "plaintext"},
		{name: "reason twice", body: `{"additionalContext":{"accessReasonContext":{"reason":"A","reason":5}}}`, wantErr: "additionalContext.accessReasonContext.reason"},
		{name: "reason is a boolean", body: `{"additionalContext":{"accessReasonContext":{"reason":true}}}`, wantErr: "additionalContext.accessReasonContext.reason"},
		{name: "context is a string", body: `{"additionalContext":"x"}`, wantErr: "additionalContext"},
		{name: "health check is a string", body: `{"additionalContext":{"isKeyHealthCheck":"yes"}}`, wantErr: "additionalContext.isKeyHealthCheck"},
		{name: "too large", body: `{"plaintext":"` + strings.Repeat("A", MaxBody) + `"}`, wantErr: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ctxOK, err := DecodeRequest(tc.op, []byte(tc.body))
			if tc.wantErr == "-" {
				if err != nil {
					t.Fatalf("DecodeRequest = %v, want no error", err)
				}
			} else {
				var re *RequestError
				if !errors.As(err, &re) || re.Field != tc.wantErr {
					t.Fatalf("DecodeRequest = %#v, want a *RequestError on field %q", err, tc.wantErr)
				}
			}
			if ctxOK != tc.wantCtxOK {
				t.Errorf("DecodeRequest ctxOK = %v, want %v", ctxOK, tc.wantCtxOK)
			}
			if tc.want != nil || got != nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("DecodeRequest (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "",
		-time.Second:            "",
		300 * time.Second:       `"300s"`,
		1500 * time.Millisecond: `"1.500s"`,
		time.Hour:               `"3600s"`,
	} {
		if got := string(durationJSON(d)); got != want {
			t.Errorf("durationJSON(%v) = %s, want %s", d, got, want)
		}
	}
}

// fastPathCases are bodies the fast path must take (fast true) or leave
// to the walk: Cloud EKM's own form is taken, whitespace included; other
// spellings, unknown names, null, escapes, non-ASCII bytes, names given
// twice, numbers that are not plain integers, and anything the walk
// refuses are not.
var fastPathCases = []struct {
	body string
	fast bool
}{
	{`{"keyPath":"projects/p/k","plaintext":"YWJj","additionalAuthenticatedData":"eA==","additionalContext":{"fullResourceName":"//cloudkms.googleapis.com/x","relativeResourceName":"x","accessReasonContext":{"reason":"CUSTOMER_INITIATED_ACCESS"},"isKeyHealthCheck":false}}`, true},
	{` { "wrappedBlob" : "-_8" ,` + "\n\t" + `"plaintext":"YWJj", "additionalContext":{"accessReasonContext":{"reason":5}, "isKeyHealthCheck":true}} `, true},
	{`{"additionalContext":{"accessReasonContext":{"reason":-0}}}`, true},
	{`{"additionalContext":{"accessReasonContext":{}}}`, true},
	{`{"additionalAuthenticatedData":"","keyUriPrefix":"https://h/k/"}`, true},
	{`{}`, true},
	// Outside the subset: the walk decides.
	{`{"keyUriPrefix":null}`, false},
	{`{"additionalContext":{"accessReasonContext":{"reason":null}}}`, false},
	{`{"additionalContext":null}`, false},
	{`{"plaintext":"YWJj","unknown":[{"plaintext":true}]}`, false},
	{`{"key_path":"a","plaintext":"YWJj"}`, false},
	{`{"KeyPath":"a","plaintext":"YWJj"}`, false},
	{`{"keyPath":"a","keyPath":"b"}`, false},
	{`{"keyPath":"a","keypath":"b"}`, false},
	{`{"x":1,"x":2}`, false},
	{`{"\u006beyPath":"a"}`, false},
	{"{\"\u212aeyPath\":\"a\"}", false},
	{"{\"additionalContext\":{\"i\u017fKeyHealthCheck\":true}}", false},
	{`{"additionalContext":{"accessReasonContext":{"reason":"A","reason":"B"}}}`, false},
	{`{"additionalContext":{"accessReasonContext":{"reason":[1]}}}`, false},
	{`{"additionalContext":{"accessReasonContext":{"reason":5.0}}}`, false},
	{`{"additionalContext":{"accessReasonContext":{"reason":05}}}`, false},
	{`{"additionalContext":{"accessReasonContext":{"reason":1e2}}}`, false},
	{`{"additionalContext":{"isKeyHealthCheck":"true"}}`, false},
	{`{"additionalContext":{"isKeyHealthCheck":truex}}`, false},
	{`{"additionalContext":{"fullResourceName":"caf\u00e9"}}`, false},
	{"{\"keyPath\":\"caf\u00e9\"}", false},
	{`{"plaintext":"YW\/j"}`, false},
	{`{"additionalAuthenticatedData":"!!!"}`, false},
	{`{"plaintext":5}`, false},
	{`{"plaintext":"YWJj"} x`, false},
	{"{\"plaintext\":\"YWJj\"}\x00", false},
	{`{"plaintext":"YWJj",}`, false},
	{`{"plaintext":"YWJj"`, false},
	{`{"plaintext":"YWJj`, false},
	// A name the walk reads at one level only, given at another.
	{`{"reason":5}`, false},
	{`{"accessReasonContext":{"reason":5}}`, false},
	{`{"additionalContext":{"keyPath":"a"}}`, false},
	{`{"additionalContext":{"reason":5}}`, false},
	{`{"additionalContext":{"accessReasonContext":{"isKeyHealthCheck":true}}}`, false},
	{`{"additionalContext":{"additionalContext":{}}}`, false},
	{`{"additionalContext":{"accessReasonContext":{"reason":-999999999999999999}}}`, true},
	{`{"additionalContext":{"accessReasonContext":{"reason":9999999999999999999}}}`, false},
	{`[]`, false},
	{`null`, false},
	{` null `, false},
}

// TestDecodeManyNames checks that a body of many names is read in linear
// time: the fast path leaves it to the walk, which checks names with a
// map. A quadratic check took a second on 256 KiB of names.
func TestDecodeManyNames(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"plaintext":"YWJj"`)
	for i := 0; b.Len() < MaxBody-32; i++ {
		fmt.Fprintf(&b, `,"%d":0`, i)
	}
	b.WriteString("}")
	body := []byte(b.String())
	if _, ok := decodeFast(OpWrap, body); ok {
		t.Fatal("the fast path took a body of thousands of names")
	}
	req, ctxOK, err := DecodeRequest(OpWrap, body)
	if err != nil || !ctxOK || string(req.Plaintext) != "abc" {
		t.Fatalf("DecodeRequest of many names = %v, %v, %v", req, ctxOK, err)
	}
}

func TestDecodeFastPath(t *testing.T) {
	for _, tc := range fastPathCases {
		for _, op := range []Op{OpWrap, OpUnwrap} {
			body := bytes.TrimSpace([]byte(tc.body))
			fast, ok := decodeFast(op, body)
			if ok != tc.fast {
				t.Errorf("decodeFast(%v, %s) took it: %v, want %v", op, tc.body, ok, tc.fast)
			}
			if !ok {
				continue
			}
			slow, ctxOK, err := decodeLenient(op, body)
			if err != nil || !ctxOK || !reflect.DeepEqual(fast, slow) {
				t.Errorf("%v %s: the fast path reads %+v, the walk %+v (ctxOK %v, err %v)", op, tc.body, fast, slow, ctxOK, err)
			}
		}
	}
}

// BenchmarkDecodeRequest measures reading Cloud EKM's usual wrap body: the
// fast path, and the lenient walk it saves.
func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(fastPathCases[0].body)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeRequest(OpWrap, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := decodeLenient(OpWrap, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeRequest checks that the decoder never panics, refuses with a
// *RequestError only, and that what it accepts survives a canonical
// round trip unchanged.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"plaintext":"YWJj","additionalContext":{"accessReasonContext":{"reason":"CUSTOMER_INITIATED_ACCESS"}}}`,
		`{"wrapped_blob":"-_8","additional_context":{"access_reason_context":{"reason":12}}}`,
		`{"keyPath":null,"x":{"y":[1,{"z":null}]}}`,
		`{"additionalContext":{"fullResourceName":"\u0000","isKeyHealthCheck":true}}`,
		`[]`, `{`, `{"a":1}{`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
	}
	for _, s := range fastPathCases {
		f.Add(uint8(0), []byte(s.body))
		f.Add(uint8(1), []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, opb uint8, body []byte) {
		op := Op(opb % 2)
		// The fast path may decline anything, but what it takes, the
		// lenient walk must read the same way.
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && len(trimmed) <= MaxBody {
			if fast, ok := decodeFast(op, trimmed); ok {
				slow, ctxOK, err := decodeLenient(op, trimmed)
				if err != nil || !ctxOK || !reflect.DeepEqual(fast, slow) {
					t.Fatalf("%s: the fast path reads %+v, the walk %+v (ctxOK %v, err %v)", body, fast, slow, ctxOK, err)
				}
			}
		}
		req, ctxOK, err := DecodeRequest(op, body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("DecodeRequest error %T %v, want a *RequestError", err, err)
			}
			if req == nil && ctxOK {
				t.Fatalf("ctxOK without a request")
			}
			return
		}
		// Re-encode canonically and decode again.
		var rc map[string]any
		reason := any(nil)
		switch req.Context.Justification.Class {
		case Known, Unknown:
			reason = req.Context.Justification.Reason
		}
		rc = map[string]any{
			"fullResourceName":     req.Context.FullResourceName,
			"relativeResourceName": req.Context.RelativeResourceName,
			"isKeyHealthCheck":     req.Context.IsKeyHealthCheck,
			"accessReasonContext":  map[string]any{"reason": reason},
		}
		canon := map[string]any{
			"keyPath": req.KeyPath, "keyUriPrefix": req.KeyURIPrefix,
			"additionalAuthenticatedData": req.AdditionalAuthenticatedData,
			"additionalContext":           rc,
		}
		if op == OpWrap {
			canon["plaintext"] = req.Plaintext
		} else {
			canon["wrappedBlob"] = req.WrappedBlob
		}
		b, err := json.Marshal(canon)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := DecodeRequest(op, b)
		if err != nil {
			// Only an unknown reason cut to its printable form may read
			// differently; anything else must round-trip.
			t.Fatalf("canonical re-encoding %s does not decode: %v", b, err)
		}
		norm := func(r *Request) *Request {
			c := *r
			for _, p := range []*[]byte{&c.Plaintext, &c.WrappedBlob, &c.AdditionalAuthenticatedData} {
				if len(*p) == 0 {
					*p = nil
				}
			}
			return &c
		}
		want, got := norm(req), norm(again)
		if want.Context.Justification.Class == Unknown {
			// The printable form may read as another class (digits read as
			// numbers); only the class of known and missing ones is fixed.
			want.Context.Justification, got.Context.Justification = Justification{}, Justification{}
		}
		if !bytes.Equal(want.Plaintext, got.Plaintext) || !cmp.Equal(want, got) {
			t.Fatalf("round trip changed the request:\n%s", cmp.Diff(want, got))
		}
	})
}

// TestWrapAnswer: the hand-made WrapResponse is byte for byte what
// json.Marshal makes of it (for a blob that is not nil: a wrap always
// makes one).
func TestWrapAnswer(t *testing.T) {
	for _, blob := range [][]byte{{}, {0}, []byte("\xff\xfe>?<&"), bytes.Repeat([]byte{0xfb}, 200)} {
		want, err := json.Marshal(struct {
			WrappedBlob []byte `json:"wrappedBlob"`
		}{blob})
		if err != nil {
			t.Fatal(err)
		}
		if got := wrapAnswer(blob); !bytes.Equal(got, want) || cap(got) < len(got)+1 {
			t.Errorf("wrapAnswer(%x) = %s (cap %d), want %s", blob, got, cap(got), want)
		}
	}
}
