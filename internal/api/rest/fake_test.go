// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"context"
	"sync"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// fakeKMS implements a few KeyManagementService methods: each records the
// request it received and answers err if set, else a fixed response. The
// other methods answer UNIMPLEMENTED.
type fakeKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer

	mu     sync.Mutex
	method string        // last method called
	req    proto.Message // its request
	err    error         // returned by every method when set
}

var _ kmspb.KeyManagementServiceServer = (*fakeKMS)(nil)

func (f *fakeKMS) record(method string, req proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.method, f.req = method, req
	return f.err
}

// last returns the last method called and its request.
func (f *fakeKMS) last() (string, proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.method, f.req
}

func (f *fakeKMS) CreateKeyRing(_ context.Context, req *kmspb.CreateKeyRingRequest) (*kmspb.KeyRing, error) {
	if err := f.record("CreateKeyRing", req); err != nil {
		return nil, err
	}
	return &kmspb.KeyRing{Name: req.GetParent() + "/keyRings/" + req.GetKeyRingId()}, nil
}

func (f *fakeKMS) CreateCryptoKey(_ context.Context, req *kmspb.CreateCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	if err := f.record("CreateCryptoKey", req); err != nil {
		return nil, err
	}
	k := &kmspb.CryptoKey{}
	if req.GetCryptoKey() != nil {
		k = proto.Clone(req.GetCryptoKey()).(*kmspb.CryptoKey)
	}
	k.Name = req.GetParent() + "/cryptoKeys/" + req.GetCryptoKeyId()
	return k, nil
}

func (f *fakeKMS) GetCryptoKey(_ context.Context, req *kmspb.GetCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	if err := f.record("GetCryptoKey", req); err != nil {
		return nil, err
	}
	return &kmspb.CryptoKey{
		Name:    req.GetName(),
		Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT,
		Primary: &kmspb.CryptoKeyVersion{
			Name:  req.GetName() + "/cryptoKeyVersions/1",
			State: kmspb.CryptoKeyVersion_ENABLED,
		},
		RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(86400e9)},
	}, nil
}

func (f *fakeKMS) UpdateCryptoKey(_ context.Context, req *kmspb.UpdateCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	if err := f.record("UpdateCryptoKey", req); err != nil {
		return nil, err
	}
	return req.GetCryptoKey(), nil
}

func (f *fakeKMS) ListCryptoKeys(_ context.Context, req *kmspb.ListCryptoKeysRequest) (*kmspb.ListCryptoKeysResponse, error) {
	if err := f.record("ListCryptoKeys", req); err != nil {
		return nil, err
	}
	return &kmspb.ListCryptoKeysResponse{
		CryptoKeys: []*kmspb.CryptoKey{
			{Name: req.GetParent() + "/cryptoKeys/a", Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT},
			{Name: req.GetParent() + "/cryptoKeys/b", Purpose: kmspb.CryptoKey_MAC},
		},
		TotalSize: 2,
	}, nil
}

func (f *fakeKMS) ListCryptoKeyVersions(_ context.Context, req *kmspb.ListCryptoKeyVersionsRequest) (*kmspb.ListCryptoKeyVersionsResponse, error) {
	if err := f.record("ListCryptoKeyVersions", req); err != nil {
		return nil, err
	}
	return &kmspb.ListCryptoKeyVersionsResponse{
		CryptoKeyVersions: []*kmspb.CryptoKeyVersion{{
			Name:      req.GetParent() + "/cryptoKeyVersions/1",
			State:     kmspb.CryptoKeyVersion_ENABLED,
			Algorithm: kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION,
		}},
		NextPageToken: "next",
		TotalSize:     1,
	}, nil
}

func (f *fakeKMS) Encrypt(_ context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	if err := f.record("Encrypt", req); err != nil {
		return nil, err
	}
	return &kmspb.EncryptResponse{
		Name:                    req.GetName() + "/cryptoKeyVersions/1",
		Ciphertext:              append([]byte("ct:"), req.GetPlaintext()...),
		VerifiedPlaintextCrc32C: req.GetPlaintextCrc32C() != nil,
		ProtectionLevel:         kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}

// fakeIAM records GetIamPolicy and TestIamPermissions.
type fakeIAM struct {
	iampb.UnimplementedIAMPolicyServer

	mu  sync.Mutex
	req proto.Message
}

var _ iampb.IAMPolicyServer = (*fakeIAM)(nil)

func (f *fakeIAM) GetIamPolicy(_ context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req = req
	return &iampb.Policy{Version: 3, Etag: []byte("e")}, nil
}

func (f *fakeIAM) TestIamPermissions(_ context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req = req
	// Grant the first permission asked for, if any.
	return &iampb.TestIamPermissionsResponse{Permissions: req.GetPermissions()[:min(1, len(req.GetPermissions()))]}, nil
}

// fakeLocations answers both Locations methods.
type fakeLocations struct {
	location.UnimplementedLocationsServer
}

var _ location.LocationsServer = (*fakeLocations)(nil)

func (*fakeLocations) ListLocations(_ context.Context, req *location.ListLocationsRequest) (*location.ListLocationsResponse, error) {
	return &location.ListLocationsResponse{Locations: []*location.Location{
		{Name: req.GetName() + "/locations/global", LocationId: "global"},
	}}, nil
}

func (*fakeLocations) GetLocation(_ context.Context, req *location.GetLocationRequest) (*location.Location, error) {
	return &location.Location{Name: req.GetName(), LocationId: "global"}, nil
}
