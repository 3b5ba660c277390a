// SPDX-License-Identifier: Apache-2.0

package grpcapi_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/custos-kms/custos/internal/api/grpcapi"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

type allowAll struct{}

func (allowAll) Authorize(context.Context, string, resource.Name) error { return nil }

// newServer returns a Server over a real core and the context of an admin
// call, with the key ring testRing created.
func newServer(t testing.TB) (*grpcapi.Server, context.Context) {
	t.Helper()
	st, ks := sqlitetest.Open(t, 2)
	srv := grpcapi.New(kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: allowAll{}}))
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	if _, err := srv.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/p/locations/global", KeyRingId: "r"}); err != nil {
		t.Fatal(err)
	}
	return srv, ctx
}

const testRing = "projects/p/locations/global/keyRings/r"

func codeOf(err error) codes.Code { return status.Code(err) }

// Every method, called with an empty request and with a nil one, answers a
// client error, never a panic or an INTERNAL.
func TestEmptyAndNilRequests(t *testing.T) {
	srv, ctx := newServer(t)
	v := reflect.ValueOf(srv)
	typ := reflect.TypeOf((*kmspb.KeyManagementServiceServer)(nil)).Elem()
	for i := 0; i < typ.NumMethod(); i++ {
		m := typ.Method(i)
		if m.Type.NumIn() != 2 {
			continue // the unexported marker method
		}
		reqType := m.Type.In(1)
		for _, nilReq := range []bool{false, true} {
			req := reflect.New(reqType.Elem())
			if nilReq {
				req = reflect.Zero(reqType)
			}
			name := m.Name
			if nilReq {
				name += "(nil)"
			}
			t.Run(name, func(t *testing.T) {
				out := v.MethodByName(m.Name).Call([]reflect.Value{reflect.ValueOf(ctx), req})
				err, _ := out[1].Interface().(error)
				switch c := codeOf(err); c {
				case codes.InvalidArgument, codes.Unimplemented, codes.NotFound, codes.FailedPrecondition:
				default:
					t.Errorf("%s = %v (%v), want a client error", name, c, err)
				}
			})
		}
	}
}

func crcOf(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))))
}

// Every *_crc32c request field is verified (a wrong one is INVALID_ARGUMENT
// naming it) and reported in the verified_* field of the answer.
func TestChecksums(t *testing.T) {
	srv, ctx := newServer(t)
	mk := func(id string, p kmspb.CryptoKey_CryptoKeyPurpose, a kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm) string {
		k, err := srv.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: testRing, CryptoKeyId: id, CryptoKey: &kmspb.CryptoKey{
			Purpose: p, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: a},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return k.GetName()
	}
	sym := mk("sym", kmspb.CryptoKey_ENCRYPT_DECRYPT, 0)
	raw := mk("raw", kmspb.CryptoKey_RAW_ENCRYPT_DECRYPT, kmspb.CryptoKeyVersion_AES_256_GCM) + "/cryptoKeyVersions/1"
	sign := mk("sign", kmspb.CryptoKey_ASYMMETRIC_SIGN, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256) + "/cryptoKeyVersions/1"
	hm := mk("mac", kmspb.CryptoKey_MAC, kmspb.CryptoKeyVersion_HMAC_SHA256) + "/cryptoKeyVersions/1"
	pt, aad := []byte("plaintext"), []byte("aad")
	bad := wrapperspb.Int64(1)

	enc, err := srv.Encrypt(ctx, &kmspb.EncryptRequest{Name: sym, Plaintext: pt, PlaintextCrc32C: crcOf(pt), AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crcOf(aad)})
	if err != nil || !enc.GetVerifiedPlaintextCrc32C() || !enc.GetVerifiedAdditionalAuthenticatedDataCrc32C() || !proto.Equal(enc.GetCiphertextCrc32C(), crcOf(enc.GetCiphertext())) {
		t.Fatalf("Encrypt with checksums = %v, %v", enc, err)
	}
	dec, err := srv.Decrypt(ctx, &kmspb.DecryptRequest{Name: sym, Ciphertext: enc.GetCiphertext(), CiphertextCrc32C: crcOf(enc.GetCiphertext()), AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crcOf(aad)})
	if err != nil || !bytes.Equal(dec.GetPlaintext(), pt) || !proto.Equal(dec.GetPlaintextCrc32C(), crcOf(pt)) {
		t.Fatalf("Decrypt with checksums = %v, %v", dec, err)
	}
	renc, err := srv.RawEncrypt(ctx, &kmspb.RawEncryptRequest{Name: raw, Plaintext: pt, PlaintextCrc32C: crcOf(pt), AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crcOf(aad), InitializationVectorCrc32C: crcOf(nil)})
	if err != nil || !renc.GetVerifiedPlaintextCrc32C() || !renc.GetVerifiedAdditionalAuthenticatedDataCrc32C() || !renc.GetVerifiedInitializationVectorCrc32C() {
		t.Fatalf("RawEncrypt with checksums = %v, %v", renc, err)
	}
	rdec, err := srv.RawDecrypt(ctx, &kmspb.RawDecryptRequest{Name: raw, Ciphertext: renc.GetCiphertext(), CiphertextCrc32C: crcOf(renc.GetCiphertext()),
		AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crcOf(aad), InitializationVector: renc.GetInitializationVector(), InitializationVectorCrc32C: crcOf(renc.GetInitializationVector())})
	if err != nil || !rdec.GetVerifiedCiphertextCrc32C() || !rdec.GetVerifiedAdditionalAuthenticatedDataCrc32C() || !rdec.GetVerifiedInitializationVectorCrc32C() {
		t.Fatalf("RawDecrypt with checksums = %v, %v", rdec, err)
	}
	sig, err := srv.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: sign, Data: pt, DataCrc32C: crcOf(pt)})
	if err != nil || !sig.GetVerifiedDataCrc32C() || !proto.Equal(sig.GetSignatureCrc32C(), crcOf(sig.GetSignature())) {
		t.Fatalf("AsymmetricSign with checksums = %v, %v", sig, err)
	}
	ms, err := srv.MacSign(ctx, &kmspb.MacSignRequest{Name: hm, Data: pt, DataCrc32C: crcOf(pt)})
	if err != nil || !ms.GetVerifiedDataCrc32C() {
		t.Fatalf("MacSign with checksums = %v, %v", ms, err)
	}
	mv, err := srv.MacVerify(ctx, &kmspb.MacVerifyRequest{Name: hm, Data: pt, DataCrc32C: crcOf(pt), Mac: ms.GetMac(), MacCrc32C: crcOf(ms.GetMac())})
	if err != nil || !mv.GetSuccess() || !mv.GetVerifiedDataCrc32C() || !mv.GetVerifiedMacCrc32C() || !mv.GetVerifiedSuccessIntegrity() {
		t.Fatalf("MacVerify with checksums = %v, %v", mv, err)
	}

	wrong := []struct {
		name string
		call func() error
	}{
		{"Encrypt plaintext", func() error {
			_, err := srv.Encrypt(ctx, &kmspb.EncryptRequest{Name: sym, Plaintext: pt, PlaintextCrc32C: bad})
			return err
		}},
		{"Encrypt aad", func() error {
			_, err := srv.Encrypt(ctx, &kmspb.EncryptRequest{Name: sym, Plaintext: pt, AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: bad})
			return err
		}},
		{"Decrypt ciphertext", func() error {
			_, err := srv.Decrypt(ctx, &kmspb.DecryptRequest{Name: sym, Ciphertext: enc.GetCiphertext(), CiphertextCrc32C: bad, AdditionalAuthenticatedData: aad})
			return err
		}},
		{"Decrypt aad", func() error {
			_, err := srv.Decrypt(ctx, &kmspb.DecryptRequest{Name: sym, Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: bad})
			return err
		}},
		{"RawDecrypt iv", func() error {
			_, err := srv.RawDecrypt(ctx, &kmspb.RawDecryptRequest{Name: raw, Ciphertext: renc.GetCiphertext(), InitializationVector: renc.GetInitializationVector(), InitializationVectorCrc32C: bad, AdditionalAuthenticatedData: aad})
			return err
		}},
		{"AsymmetricSign digest", func() error {
			d := make([]byte, 32)
			_, err := srv.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: sign, Digest: &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: d}}, DigestCrc32C: bad})
			return err
		}},
		{"MacVerify mac", func() error {
			_, err := srv.MacVerify(ctx, &kmspb.MacVerifyRequest{Name: hm, Data: pt, Mac: ms.GetMac(), MacCrc32C: bad})
			return err
		}},
	}
	for _, tc := range wrong {
		if err := tc.call(); codeOf(err) != codes.InvalidArgument {
			t.Errorf("%s with a wrong checksum = %v, want INVALID_ARGUMENT", tc.name, err)
		}
	}
}

// Times and durations that protobuf can carry but the core cannot keep are
// INVALID_ARGUMENT, not INTERNAL.
func TestOutOfRangeTimes(t *testing.T) {
	srv, ctx := newServer(t)
	tests := []struct {
		name string
		key  *kmspb.CryptoKey
	}{
		{"next_rotation_time in year 36812", &kmspb.CryptoKey{
			Purpose:          kmspb.CryptoKey_ENCRYPT_DECRYPT,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(48 * time.Hour)},
			NextRotationTime: &timestamppb.Timestamp{Seconds: 1 << 40},
		}},
		{"next_rotation_time before year 1", &kmspb.CryptoKey{
			Purpose:          kmspb.CryptoKey_ENCRYPT_DECRYPT,
			NextRotationTime: &timestamppb.Timestamp{Seconds: -1 << 40},
		}},
		{"rotation_period of 2^62 seconds", &kmspb.CryptoKey{
			Purpose:          kmspb.CryptoKey_ENCRYPT_DECRYPT,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: &durationpb.Duration{Seconds: 1 << 62}},
			NextRotationTime: timestamppb.New(time.Now().Add(time.Hour)),
		}},
		{"negative destroy_scheduled_duration", &kmspb.CryptoKey{
			Purpose:                  kmspb.CryptoKey_ENCRYPT_DECRYPT,
			DestroyScheduledDuration: &durationpb.Duration{Seconds: -5},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := srv.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: testRing, CryptoKeyId: "k", CryptoKey: tc.key})
			if codeOf(err) != codes.InvalidArgument {
				t.Errorf("CreateCryptoKey = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

// FuzzRequests decodes arbitrary protobuf bytes into the request of a
// KeyManagementService method, as the gRPC server does, and calls it on a
// real core: the conversion and validation must never panic nor answer
// INTERNAL or UNKNOWN. Methods that generate RSA keys are left out (each
// call takes seconds).
func FuzzRequests(f *testing.F) {
	seeds := []proto.Message{
		&kmspb.CreateCryptoKeyRequest{Parent: testRing, CryptoKeyId: "k", CryptoKey: &kmspb.CryptoKey{
			Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT, Labels: map[string]string{"a": "b"},
			NextRotationTime: &timestamppb.Timestamp{Seconds: 1 << 40},
		}},
		&kmspb.EncryptRequest{Name: testRing + "/cryptoKeys/k", Plaintext: []byte("x"), PlaintextCrc32C: wrapperspb.Int64(-1)},
		&kmspb.ListCryptoKeysRequest{Parent: testRing, PageSize: -1, PageToken: "e30", Filter: "name:k OR", OrderBy: "name desc"},
		&kmspb.UpdateCryptoKeyRequest{CryptoKey: &kmspb.CryptoKey{Name: testRing + "/cryptoKeys/k", Purpose: kmspb.CryptoKey_MAC}},
		&kmspb.AsymmetricSignRequest{Name: testRing + "/cryptoKeys/k/cryptoKeyVersions/1", Digest: &kmspb.Digest{}},
		&kmspb.GenerateRandomBytesRequest{Location: "projects/p/locations/global", LengthBytes: -5, ProtectionLevel: 77},
	}
	srv, ctx := newServer(f)
	typ := reflect.TypeOf((*kmspb.KeyManagementServiceServer)(nil)).Elem()
	var methods []reflect.Method
	for i := 0; i < typ.NumMethod(); i++ {
		if m := typ.Method(i); m.Type.NumIn() == 2 {
			methods = append(methods, m)
		}
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		for i, m := range methods {
			if m.Type.In(1) == reflect.TypeOf(s) {
				f.Add(uint8(i), b)
			}
		}
	}
	v := reflect.ValueOf(srv)
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := methods[int(which)%len(methods)]
		req := reflect.New(m.Type.In(1).Elem())
		if proto.Unmarshal(data, req.Interface().(proto.Message)) != nil {
			return
		}
		switch r := req.Interface().(type) {
		case *kmspb.CreateImportJobRequest:
			return
		case *kmspb.CreateCryptoKeyRequest:
			if r.GetCryptoKey().GetPurpose() == kmspb.CryptoKey_ASYMMETRIC_DECRYPT || r.GetCryptoKey().GetPurpose() == kmspb.CryptoKey_ASYMMETRIC_SIGN {
				return
			}
		case *kmspb.CreateCryptoKeyVersionRequest:
			return
		}
		out := v.MethodByName(m.Name).Call([]reflect.Value{reflect.ValueOf(ctx), req})
		err, _ := out[1].Interface().(error)
		if c := codeOf(err); c == codes.Internal || c == codes.Unknown {
			t.Fatalf("%s(%v) = %v", m.Name, req.Interface(), err)
		}
	})
}
