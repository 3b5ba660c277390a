// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"math"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestSetParam covers each kind of field a query parameter can set, on
// messages that have them; no route binds anything here.
func TestSetParam(t *testing.T) {
	type param struct{ key, val string }
	tests := []struct {
		name   string
		msg    proto.Message
		params []param
		want   proto.Message
	}{
		{"int32 and strings", &kmspb.ListCryptoKeysRequest{},
			[]param{{"pageSize", "-7"}, {"page_token", "t"}, {"filter", "labels.env=prod"}},
			&kmspb.ListCryptoKeysRequest{PageSize: -7, PageToken: "t", Filter: "labels.env=prod"}},
		{"enum by name and bool", &kmspb.CryptoKey{},
			[]param{{"purpose", "MAC"}, {"importOnly", "true"}},
			&kmspb.CryptoKey{Purpose: kmspb.CryptoKey_MAC, ImportOnly: true}},
		{"nested field by dotted JSON names", &kmspb.CryptoKey{},
			[]param{{"versionTemplate.algorithm", "7"}, {"version_template.protectionLevel", "HSM"}},
			&kmspb.CryptoKey{VersionTemplate: &kmspb.CryptoKeyVersionTemplate{
				Algorithm: kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(7), ProtectionLevel: kmspb.ProtectionLevel_HSM}}},
		{"duration and timestamp", &kmspb.CryptoKey{},
			[]param{{"rotationPeriod", "3600.5s"}, {"nextRotationTime", "2030-01-01T00:00:00.5Z"}},
			&kmspb.CryptoKey{
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(3600.5e9)},
				NextRotationTime: &timestamppb.Timestamp{Seconds: 1893456000, Nanos: 5e8},
			}},
		{"bytes in both base64 alphabets and an int64 wrapper", &kmspb.EncryptRequest{},
			[]param{{"plaintext", "-_8"}, {"additionalAuthenticatedData", "+/8="}, {"plaintextCrc32c", "4294967295"}},
			&kmspb.EncryptRequest{Plaintext: []byte{0xfb, 0xff}, AdditionalAuthenticatedData: []byte{0xfb, 0xff},
				PlaintextCrc32C: wrapperspb.Int64(4294967295)}},
		{"field mask in lowerCamel, snake_case and mixed", &kmspb.UpdateCryptoKeyRequest{},
			[]param{{"updateMask", "rotationPeriod, labels,version_template.algorithm,versionTemplate.protectionLevel"}},
			&kmspb.UpdateCryptoKeyRequest{UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{
				"rotation_period", "labels", "version_template.algorithm", "version_template.protection_level"}}}},
		{"repeated by repetition", &iampb.TestIamPermissionsRequest{},
			[]param{{"permissions", "a"}, {"permissions", "b"}},
			&iampb.TestIamPermissionsRequest{Permissions: []string{"a", "b"}}},
		{"uint64", &wrapperspb.UInt64Value{}, []param{{"value", "18446744073709551615"}},
			wrapperspb.UInt64(math.MaxUint64)},
		{"double special value", &wrapperspb.DoubleValue{}, []param{{"value", "-Infinity"}},
			wrapperspb.Double(math.Inf(-1))},
		{"float", &wrapperspb.FloatValue{}, []param{{"value", "1.5"}}, wrapperspb.Float(1.5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msg.ProtoReflect()
			for _, p := range tc.params {
				if err := setParam(&route{}, m, p.key, p.val); err != nil {
					t.Fatalf("setParam(%q, %q): %v", p.key, p.val, err)
				}
			}
			if diff := cmp.Diff(tc.want, tc.msg, protocmp.Transform()); diff != "" {
				t.Errorf("after %v (-want +got):\n%s", tc.params, diff)
			}
		})
	}
}

func TestSetParamRefuses(t *testing.T) {
	tests := []struct {
		name     string
		msg      proto.Message
		key, val string
	}{
		{"unknown field", &kmspb.CryptoKey{}, "purpse", "MAC"},
		{"unknown nested field", &kmspb.CryptoKey{}, "versionTemplate.algo", "1"},
		{"dot through a scalar", &kmspb.CryptoKey{}, "purpose.x", "1"},
		{"dot into a well-known type", &kmspb.CryptoKey{}, "rotationPeriod.seconds", "1"},
		{"map", &kmspb.CryptoKey{}, "labels", "a"},
		{"whole message", &kmspb.CryptoKey{}, "versionTemplate", "{}"},
		{"enum out of names", &kmspb.CryptoKey{}, "purpose", "SIGN"},
		{"int32 overflow", &kmspb.ListCryptoKeysRequest{}, "pageSize", "2147483648"},
		{"bool spelled otherwise", &kmspb.CryptoKey{}, "importOnly", "yes"},
		{"bad base64", &kmspb.EncryptRequest{}, "plaintext", "!!"},
		{"bad duration", &kmspb.CryptoKey{}, "rotationPeriod", "1h"},
		{"bad timestamp", &kmspb.CryptoKey{}, "nextRotationTime", "tomorrow"},
		{"bad mask path", &kmspb.UpdateCryptoKeyRequest{}, "updateMask", "a..b"},
		{"invalid UTF-8", &kmspb.ListCryptoKeysRequest{}, "filter", "\xff"},
		{"too deep", &kmspb.CryptoKey{}, "a.b.c.d.e.f.g.h.i.j", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := setParam(&route{}, tc.msg.ProtoReflect(), tc.key, tc.val)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("setParam(%q, %q) = %v, want INVALID_ARGUMENT", tc.key, tc.val, err)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"%24alt", "$alt", true},
		{"json%3Benum-encoding%3Dint", "json;enum-encoding=int", true},
		{"a+b%20c", "a b c", true},
		{"plain", "plain", true},
		{"%", "", false},
		{"%2", "", false},
		{"%zz", "", false},
	}
	for _, tc := range tests {
		var buf [8]byte
		got, ok := unescape(buf[:], tc.in)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("unescape(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
