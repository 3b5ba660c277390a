// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestOfficialClient drives the handler with the official Go REST client
// over loopback HTTP: the URLs, query strings and bodies are the client's
// own, and so is the parsing of our answers and errors.
func TestOfficialClient(t *testing.T) {
	f := &fakeKMS{}
	iam := &fakeIAM{}
	srv := httptest.NewServer(newHandler(t, Config{KMS: f, IAM: iam, Locations: &fakeLocations{}}))
	defer srv.Close()
	ctx := context.Background()
	c, err := kms.NewKeyManagementRESTClient(ctx, option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// check compares the request the fake last received.
	check := func(t *testing.T, wantMethod string, want proto.Message) {
		t.Helper()
		gotMethod, got := f.last()
		if gotMethod != wantMethod {
			t.Errorf("server got %s, want %s", gotMethod, wantMethod)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s request (-want +got):\n%s", wantMethod, diff)
		}
	}

	t.Run("CreateKeyRing", func(t *testing.T) {
		req := &kmspb.CreateKeyRingRequest{Parent: "projects/p/locations/l", KeyRingId: "r", KeyRing: &kmspb.KeyRing{}}
		kr, err := c.CreateKeyRing(ctx, req)
		if err != nil || kr.GetName() != keyRing {
			t.Fatalf("CreateKeyRing = %v, %v", kr, err)
		}
		check(t, "CreateKeyRing", req)
	})
	t.Run("CreateCryptoKey", func(t *testing.T) {
		req := &kmspb.CreateCryptoKeyRequest{
			Parent: keyRing, CryptoKeyId: "k", SkipInitialVersionCreation: true,
			CryptoKey: &kmspb.CryptoKey{
				Purpose: kmspb.CryptoKey_ASYMMETRIC_SIGN,
				VersionTemplate: &kmspb.CryptoKeyVersionTemplate{
					Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256,
				},
			},
		}
		k, err := c.CreateCryptoKey(ctx, req)
		if err != nil || k.GetName() != key || k.GetPurpose() != kmspb.CryptoKey_ASYMMETRIC_SIGN {
			t.Fatalf("CreateCryptoKey = %v, %v", k, err)
		}
		check(t, "CreateCryptoKey", req)
	})
	t.Run("UpdateCryptoKey", func(t *testing.T) {
		req := &kmspb.UpdateCryptoKeyRequest{
			CryptoKey: &kmspb.CryptoKey{
				Name:             key,
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(7 * 86400e9)},
				Labels:           map[string]string{"env": "prod"},
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rotation_period", "labels"}},
		}
		if _, err := c.UpdateCryptoKey(ctx, req); err != nil {
			t.Fatalf("UpdateCryptoKey: %v", err)
		}
		check(t, "UpdateCryptoKey", req)
	})
	t.Run("Encrypt", func(t *testing.T) {
		req := &kmspb.EncryptRequest{Name: version, Plaintext: []byte("secret"), PlaintextCrc32C: wrapperspb.Int64(4294967295)}
		resp, err := c.Encrypt(ctx, req)
		if err != nil || string(resp.GetCiphertext()) != "ct:secret" || !resp.GetVerifiedPlaintextCrc32C() ||
			resp.GetProtectionLevel() != kmspb.ProtectionLevel_SOFTWARE {
			t.Fatalf("Encrypt = %v, %v", resp, err)
		}
		check(t, "Encrypt", req)
	})
	t.Run("ListCryptoKeyVersions", func(t *testing.T) {
		req := &kmspb.ListCryptoKeyVersionsRequest{
			Parent: key, View: kmspb.CryptoKeyVersion_FULL, Filter: "state=ENABLED", OrderBy: "name", PageSize: 1,
		}
		it := c.ListCryptoKeyVersions(ctx, req)
		v, err := it.Next()
		if err != nil || v.GetState() != kmspb.CryptoKeyVersion_ENABLED {
			t.Fatalf("ListCryptoKeyVersions.Next = %v, %v", v, err)
		}
		check(t, "ListCryptoKeyVersions", req)
	})
	t.Run("ListCryptoKeys", func(t *testing.T) {
		it := c.ListCryptoKeys(ctx, &kmspb.ListCryptoKeysRequest{Parent: keyRing})
		var n int
		for {
			_, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 2 {
			t.Errorf("ListCryptoKeys listed %d keys, want 2", n)
		}
	})
	t.Run("GetIamPolicy", func(t *testing.T) {
		req := &iampb.GetIamPolicyRequest{Resource: key, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}}
		p, err := c.GetIamPolicy(ctx, req)
		if err != nil || p.GetVersion() != 3 {
			t.Fatalf("GetIamPolicy = %v, %v", p, err)
		}
		if diff := cmp.Diff(req, iam.req, protocmp.Transform()); diff != "" {
			t.Errorf("GetIamPolicy request (-want +got):\n%s", diff)
		}
	})
	t.Run("ListLocations", func(t *testing.T) {
		it := c.ListLocations(ctx, &location.ListLocationsRequest{Name: "projects/p"})
		loc, err := it.Next()
		if err != nil || loc.GetLocationId() != "global" {
			t.Fatalf("ListLocations.Next = %v, %v", loc, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			err      error
			wantHTTP int
			wantCode codes.Code // as the client maps the HTTP status back
		}{
			{status.Error(codes.NotFound, "no such key"), 404, codes.NotFound},
			{status.Error(codes.PermissionDenied, "denied"), 403, codes.PermissionDenied},
			{status.Error(codes.FailedPrecondition, "disabled"), 400, codes.InvalidArgument},
			{errors.New("database is on fire"), 500, codes.Internal},
		}
		for _, tc := range tests {
			f.mu.Lock()
			f.err = tc.err
			f.mu.Unlock()
			_, err := c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
			var ae *apierror.APIError
			if !errors.As(err, &ae) || ae.HTTPCode() != tc.wantHTTP || status.Code(err) != tc.wantCode {
				t.Errorf("GetCryptoKey with server error %v = %v, want HTTP %d, %v", tc.err, err, tc.wantHTTP, tc.wantCode)
			}
		}
	})
}
