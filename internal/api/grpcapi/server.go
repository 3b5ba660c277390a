// SPDX-License-Identifier: Apache-2.0

// Package grpcapi serves google.cloud.kms.v1.KeyManagementService (and the
// Locations mixin) over the core service. It only converts: every rule is in
// package kms. The REST adapter calls this same server in process, so both
// surfaces behave alike by construction.
package grpcapi

import (
	"context"
	"crypto"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/genproto/googleapis/cloud/location"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// Server implements kmspb.KeyManagementServiceServer over a kms.Service.
type Server struct {
	kmspb.UnimplementedKeyManagementServiceServer
	svc *kms.Service
}

var _ kmspb.KeyManagementServiceServer = (*Server)(nil)

// New returns a Server over svc.
func New(svc *kms.Service) *Server { return &Server{svc: svc} }

func (s *Server) CreateKeyRing(ctx context.Context, req *kmspb.CreateKeyRingRequest) (*kmspb.KeyRing, error) {
	r, err := s.svc.CreateKeyRing(ctx, req.GetParent(), req.GetKeyRingId())
	if err != nil {
		return nil, err
	}
	return keyRingToProto(r), nil
}

func (s *Server) GetKeyRing(ctx context.Context, req *kmspb.GetKeyRingRequest) (*kmspb.KeyRing, error) {
	r, err := s.svc.GetKeyRing(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return keyRingToProto(r), nil
}

func (s *Server) ListKeyRings(ctx context.Context, req *kmspb.ListKeyRingsRequest) (*kmspb.ListKeyRingsResponse, error) {
	rings, next, total, err := s.svc.ListKeyRings(ctx, req.GetParent(), page(req.GetPageSize(), req.GetPageToken(), req.GetFilter(), req.GetOrderBy()))
	if err != nil {
		return nil, err
	}
	resp := &kmspb.ListKeyRingsResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, r := range rings {
		resp.KeyRings = append(resp.KeyRings, keyRingToProto(r))
	}
	return resp, nil
}

func (s *Server) CreateCryptoKey(ctx context.Context, req *kmspb.CreateCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	k, err := keyFromProto(req.GetCryptoKey())
	if err != nil {
		return nil, err
	}
	k.Exportable = exportableFrom(ctx)
	info, err := s.svc.CreateCryptoKey(ctx, kms.CreateKeyRequest{
		Parent: req.GetParent(), ID: req.GetCryptoKeyId(), Key: k,
		SkipInitialVersion: req.GetSkipInitialVersionCreation(),
	})
	if err != nil {
		return nil, err
	}
	return keyToProto(info), nil
}

func (s *Server) GetCryptoKey(ctx context.Context, req *kmspb.GetCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	info, err := s.svc.GetCryptoKey(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return keyToProto(info), nil
}

func (s *Server) ListCryptoKeys(ctx context.Context, req *kmspb.ListCryptoKeysRequest) (*kmspb.ListCryptoKeysResponse, error) {
	keys, next, total, err := s.svc.ListCryptoKeys(ctx, req.GetParent(), page(req.GetPageSize(), req.GetPageToken(), req.GetFilter(), req.GetOrderBy()))
	if err != nil {
		return nil, err
	}
	resp := &kmspb.ListCryptoKeysResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, k := range keys {
		resp.CryptoKeys = append(resp.CryptoKeys, keyToProto(k))
	}
	return resp, nil
}

func (s *Server) UpdateCryptoKey(ctx context.Context, req *kmspb.UpdateCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	k, err := keyFromProto(req.GetCryptoKey())
	if err != nil {
		return nil, err
	}
	info, err := s.svc.UpdateCryptoKey(ctx, k, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return keyToProto(info), nil
}

func (s *Server) UpdateCryptoKeyPrimaryVersion(ctx context.Context, req *kmspb.UpdateCryptoKeyPrimaryVersionRequest) (*kmspb.CryptoKey, error) {
	info, err := s.svc.UpdateCryptoKeyPrimaryVersion(ctx, req.GetName(), req.GetCryptoKeyVersionId())
	if err != nil {
		return nil, err
	}
	return keyToProto(info), nil
}

func (s *Server) CreateCryptoKeyVersion(ctx context.Context, req *kmspb.CreateCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	a := req.GetCryptoKeyVersion().GetAlgorithm()
	v, err := s.svc.CreateCryptoKeyVersion(ctx, req.GetParent(), alg.Algorithm(enumName(int32(a), a.String())))
	if err != nil {
		return nil, err
	}
	return versionToProto(v), nil
}

func (s *Server) GetCryptoKeyVersion(ctx context.Context, req *kmspb.GetCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	v, err := s.svc.GetCryptoKeyVersion(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return versionToProto(v), nil
}

func (s *Server) ListCryptoKeyVersions(ctx context.Context, req *kmspb.ListCryptoKeyVersionsRequest) (*kmspb.ListCryptoKeyVersionsResponse, error) {
	vs, next, total, err := s.svc.ListCryptoKeyVersions(ctx, req.GetParent(), page(req.GetPageSize(), req.GetPageToken(), req.GetFilter(), req.GetOrderBy()))
	if err != nil {
		return nil, err
	}
	resp := &kmspb.ListCryptoKeyVersionsResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, v := range vs {
		resp.CryptoKeyVersions = append(resp.CryptoKeyVersions, versionToProto(v))
	}
	return resp, nil
}

func (s *Server) UpdateCryptoKeyVersion(ctx context.Context, req *kmspb.UpdateCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	st := req.GetCryptoKeyVersion().GetState()
	v, err := s.svc.UpdateCryptoKeyVersion(ctx, req.GetCryptoKeyVersion().GetName(),
		kms.State(enumName(int32(st), st.String())), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return versionToProto(v), nil
}

func (s *Server) DestroyCryptoKeyVersion(ctx context.Context, req *kmspb.DestroyCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	v, err := s.svc.DestroyCryptoKeyVersion(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return versionToProto(v), nil
}

func (s *Server) RestoreCryptoKeyVersion(ctx context.Context, req *kmspb.RestoreCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	v, err := s.svc.RestoreCryptoKeyVersion(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return versionToProto(v), nil
}

func (s *Server) GetPublicKey(ctx context.Context, req *kmspb.GetPublicKeyRequest) (*kmspb.PublicKey, error) {
	switch req.GetPublicKeyFormat() {
	case kmspb.PublicKey_PUBLIC_KEY_FORMAT_UNSPECIFIED, kmspb.PublicKey_PEM:
	default:
		return nil, kmserr.InvalidArgument("public_key_format", "only PEM is supported, not %s", req.GetPublicKeyFormat())
	}
	pk, err := s.svc.GetPublicKey(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	out := &kmspb.PublicKey{
		Pem:             pk.PEM,
		PemCrc32C:       crc([]byte(pk.PEM)),
		Algorithm:       algToProto(pk.Algorithm),
		Name:            pk.Name,
		ProtectionLevel: levelToProto(pk.ProtectionLevel),
	}
	if req.GetPublicKeyFormat() == kmspb.PublicKey_PEM {
		out.PublicKeyFormat = kmspb.PublicKey_PEM
		out.PublicKey = &kmspb.ChecksummedData{Data: []byte(pk.PEM), Crc32CChecksum: crc([]byte(pk.PEM))}
	}
	return out, nil
}

// protection is the protection level reported by crypto calls. Custos only
// creates SOFTWARE versions so far (checkNewKey refuses the others).
const protection = kmspb.ProtectionLevel_SOFTWARE

func (s *Server) Encrypt(ctx context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	vp, err := checkCRC("plaintext_crc32c", req.GetPlaintext(), req.GetPlaintextCrc32C())
	if err != nil {
		return nil, err
	}
	va, err := checkCRC("additional_authenticated_data_crc32c", req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C())
	if err != nil {
		return nil, err
	}
	ct, version, err := s.svc.Encrypt(ctx, req.GetName(), req.GetPlaintext(), req.GetAdditionalAuthenticatedData())
	if err != nil {
		return nil, err
	}
	return &kmspb.EncryptResponse{
		Name: version, Ciphertext: ct, CiphertextCrc32C: crc(ct),
		VerifiedPlaintextCrc32C: vp, VerifiedAdditionalAuthenticatedDataCrc32C: va,
		ProtectionLevel: protection,
	}, nil
}

func (s *Server) Decrypt(ctx context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	if _, err := checkCRC("ciphertext_crc32c", req.GetCiphertext(), req.GetCiphertextCrc32C()); err != nil {
		return nil, err
	}
	if _, err := checkCRC("additional_authenticated_data_crc32c", req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C()); err != nil {
		return nil, err
	}
	pt, primary, err := s.svc.Decrypt(ctx, req.GetName(), req.GetCiphertext(), req.GetAdditionalAuthenticatedData())
	if err != nil {
		return nil, err
	}
	return &kmspb.DecryptResponse{Plaintext: pt, PlaintextCrc32C: crc(pt), UsedPrimary: primary, ProtectionLevel: protection}, nil
}

func (s *Server) RawEncrypt(ctx context.Context, req *kmspb.RawEncryptRequest) (*kmspb.RawEncryptResponse, error) {
	vp, err := checkCRC("plaintext_crc32c", req.GetPlaintext(), req.GetPlaintextCrc32C())
	if err != nil {
		return nil, err
	}
	va, err := checkCRC("additional_authenticated_data_crc32c", req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C())
	if err != nil {
		return nil, err
	}
	vi, err := checkCRC("initialization_vector_crc32c", req.GetInitializationVector(), req.GetInitializationVectorCrc32C())
	if err != nil {
		return nil, err
	}
	ct, iv, version, err := s.svc.RawEncrypt(ctx, req.GetName(), req.GetPlaintext(), req.GetAdditionalAuthenticatedData(), req.GetInitializationVector())
	if err != nil {
		return nil, err
	}
	return &kmspb.RawEncryptResponse{
		Ciphertext: ct, InitializationVector: iv, TagLength: 16,
		CiphertextCrc32C: crc(ct), InitializationVectorCrc32C: crc(iv),
		VerifiedPlaintextCrc32C: vp, VerifiedAdditionalAuthenticatedDataCrc32C: va, VerifiedInitializationVectorCrc32C: vi,
		Name: version, ProtectionLevel: protection,
	}, nil
}

func (s *Server) RawDecrypt(ctx context.Context, req *kmspb.RawDecryptRequest) (*kmspb.RawDecryptResponse, error) {
	vc, err := checkCRC("ciphertext_crc32c", req.GetCiphertext(), req.GetCiphertextCrc32C())
	if err != nil {
		return nil, err
	}
	va, err := checkCRC("additional_authenticated_data_crc32c", req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C())
	if err != nil {
		return nil, err
	}
	vi, err := checkCRC("initialization_vector_crc32c", req.GetInitializationVector(), req.GetInitializationVectorCrc32C())
	if err != nil {
		return nil, err
	}
	pt, _, err := s.svc.RawDecrypt(ctx, req.GetName(), req.GetCiphertext(), req.GetAdditionalAuthenticatedData(), req.GetInitializationVector(), int(req.GetTagLength()))
	if err != nil {
		return nil, err
	}
	return &kmspb.RawDecryptResponse{
		Plaintext: pt, PlaintextCrc32C: crc(pt), ProtectionLevel: protection,
		VerifiedCiphertextCrc32C: vc, VerifiedAdditionalAuthenticatedDataCrc32C: va, VerifiedInitializationVectorCrc32C: vi,
	}, nil
}

func (s *Server) AsymmetricSign(ctx context.Context, req *kmspb.AsymmetricSignRequest) (*kmspb.AsymmetricSignResponse, error) {
	sr := kms.SignRequest{Name: req.GetName(), Data: req.GetData()}
	switch d := req.GetDigest().GetDigest().(type) {
	case *kmspb.Digest_Sha256:
		sr.Digest, sr.DigestHash = d.Sha256, crypto.SHA256
	case *kmspb.Digest_Sha384:
		sr.Digest, sr.DigestHash = d.Sha384, crypto.SHA384
	case *kmspb.Digest_Sha512:
		sr.Digest, sr.DigestHash = d.Sha512, crypto.SHA512
	case nil:
		if req.GetDigest() != nil && len(req.GetData()) == 0 {
			return nil, kmserr.InvalidArgument("digest", "names no hash")
		}
	}
	vd, err := checkCRC("digest_crc32c", sr.Digest, req.GetDigestCrc32C())
	if err != nil {
		return nil, err
	}
	vdata, err := checkCRC("data_crc32c", req.GetData(), req.GetDataCrc32C())
	if err != nil {
		return nil, err
	}
	sig, version, err := s.svc.AsymmetricSign(ctx, sr)
	if err != nil {
		return nil, err
	}
	return &kmspb.AsymmetricSignResponse{
		Signature: sig, SignatureCrc32C: crc(sig), VerifiedDigestCrc32C: vd, VerifiedDataCrc32C: vdata,
		Name: version, ProtectionLevel: protection,
	}, nil
}

func (s *Server) AsymmetricDecrypt(ctx context.Context, req *kmspb.AsymmetricDecryptRequest) (*kmspb.AsymmetricDecryptResponse, error) {
	vc, err := checkCRC("ciphertext_crc32c", req.GetCiphertext(), req.GetCiphertextCrc32C())
	if err != nil {
		return nil, err
	}
	pt, _, err := s.svc.AsymmetricDecrypt(ctx, req.GetName(), req.GetCiphertext())
	if err != nil {
		return nil, err
	}
	return &kmspb.AsymmetricDecryptResponse{Plaintext: pt, PlaintextCrc32C: crc(pt), VerifiedCiphertextCrc32C: vc, ProtectionLevel: protection}, nil
}

func (s *Server) MacSign(ctx context.Context, req *kmspb.MacSignRequest) (*kmspb.MacSignResponse, error) {
	vd, err := checkCRC("data_crc32c", req.GetData(), req.GetDataCrc32C())
	if err != nil {
		return nil, err
	}
	tag, version, err := s.svc.MacSign(ctx, req.GetName(), req.GetData())
	if err != nil {
		return nil, err
	}
	return &kmspb.MacSignResponse{Name: version, Mac: tag, MacCrc32C: crc(tag), VerifiedDataCrc32C: vd, ProtectionLevel: protection}, nil
}

func (s *Server) MacVerify(ctx context.Context, req *kmspb.MacVerifyRequest) (*kmspb.MacVerifyResponse, error) {
	vd, err := checkCRC("data_crc32c", req.GetData(), req.GetDataCrc32C())
	if err != nil {
		return nil, err
	}
	vm, err := checkCRC("mac_crc32c", req.GetMac(), req.GetMacCrc32C())
	if err != nil {
		return nil, err
	}
	ok, version, err := s.svc.MacVerify(ctx, req.GetName(), req.GetData(), req.GetMac())
	if err != nil {
		return nil, err
	}
	return &kmspb.MacVerifyResponse{
		Name: version, Success: ok, VerifiedDataCrc32C: vd, VerifiedMacCrc32C: vm,
		VerifiedSuccessIntegrity: ok, ProtectionLevel: protection,
	}, nil
}

func (s *Server) GenerateRandomBytes(ctx context.Context, req *kmspb.GenerateRandomBytesRequest) (*kmspb.GenerateRandomBytesResponse, error) {
	pl := req.GetProtectionLevel()
	b, err := s.svc.GenerateRandomBytes(ctx, req.GetLocation(), int(req.GetLengthBytes()), enumName(int32(pl), pl.String()))
	if err != nil {
		return nil, err
	}
	return &kmspb.GenerateRandomBytesResponse{Data: b, DataCrc32C: crc(b)}, nil
}

// Locations serves the Locations mixin. Custos serves any location its
// configuration allows; in dev mode that is every well-formed one.
type Locations struct {
	location.UnimplementedLocationsServer
	// Allowed lists the locations served; empty means any.
	Allowed []string
}

func (l *Locations) GetLocation(ctx context.Context, req *location.GetLocationRequest) (*location.Location, error) {
	n, err := resource.ParseKind(req.GetName(), resource.KindLocation)
	if err != nil {
		return nil, kmserr.InvalidArgument("name", "%q is not a location name", req.GetName())
	}
	if kms.CallerFrom(ctx) == nil {
		return nil, kmserr.Unauthenticated("no credential")
	}
	if !l.allowed(n.Location) {
		return nil, kmserr.NotFound("location %s is not served here", req.GetName())
	}
	return &location.Location{Name: n.String(), LocationId: n.Location, DisplayName: n.Location}, nil
}

func (l *Locations) ListLocations(ctx context.Context, req *location.ListLocationsRequest) (*location.ListLocationsResponse, error) {
	n, err := resource.ParseKind(req.GetName(), resource.KindProject)
	if err != nil {
		return nil, kmserr.InvalidArgument("name", "%q is not a project name", req.GetName())
	}
	if kms.CallerFrom(ctx) == nil {
		return nil, kmserr.Unauthenticated("no credential")
	}
	locs := l.Allowed
	if len(locs) == 0 {
		locs = []string{"global"}
	}
	resp := &location.ListLocationsResponse{}
	for _, id := range locs {
		resp.Locations = append(resp.Locations, &location.Location{Name: n.String() + "/locations/" + id, LocationId: id, DisplayName: id})
	}
	return resp, nil
}

func (l *Locations) allowed(loc string) bool {
	if len(l.Allowed) == 0 {
		return true
	}
	for _, a := range l.Allowed {
		if a == loc {
			return true
		}
	}
	return false
}
