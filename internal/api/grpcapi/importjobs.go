// SPDX-License-Identifier: Apache-2.0

package grpcapi

import (
	"bytes"
	"context"

	"cloud.google.com/go/kms/apiv1/kmspb"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// The import job methods and ImportCryptoKeyVersion, with their converters.

func (s *Server) CreateImportJob(ctx context.Context, req *kmspb.CreateImportJobRequest) (*kmspb.ImportJob, error) {
	in := req.GetImportJob()
	if in.GetCryptoKeyBackend() != "" {
		return nil, kmserr.InvalidArgument("import_job.crypto_key_backend", "is not supported")
	}
	m, pl := in.GetImportMethod(), in.GetProtectionLevel()
	j, err := s.svc.CreateImportJob(ctx, req.GetParent(), req.GetImportJobId(), kms.ImportJob{
		ImportMethod:    kms.ImportMethod(enumName(int32(m), m.String())),
		ProtectionLevel: enumName(int32(pl), pl.String()),
	})
	if err != nil {
		return nil, err
	}
	return importJobToProto(j), nil
}

func (s *Server) GetImportJob(ctx context.Context, req *kmspb.GetImportJobRequest) (*kmspb.ImportJob, error) {
	switch req.GetPublicKeyFormat() {
	case kmspb.PublicKey_PUBLIC_KEY_FORMAT_UNSPECIFIED, kmspb.PublicKey_PEM:
	default:
		return nil, kmserr.InvalidArgument("public_key_format", "only PEM is supported, not %s", req.GetPublicKeyFormat())
	}
	j, err := s.svc.GetImportJob(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return importJobToProto(j), nil
}

func (s *Server) ListImportJobs(ctx context.Context, req *kmspb.ListImportJobsRequest) (*kmspb.ListImportJobsResponse, error) {
	jobs, next, total, err := s.svc.ListImportJobs(ctx, req.GetParent(), page(req.GetPageSize(), req.GetPageToken(), req.GetFilter(), req.GetOrderBy()))
	if err != nil {
		return nil, err
	}
	resp := &kmspb.ListImportJobsResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, j := range jobs {
		resp.ImportJobs = append(resp.ImportJobs, importJobToProto(j))
	}
	return resp, nil
}

// ImportCryptoKeyVersion takes the key material from wrapped_key or, from
// older clients, from the legacy rsa_aes_wrapped_key; a request with both
// must carry the same bytes in each.
func (s *Server) ImportCryptoKeyVersion(ctx context.Context, req *kmspb.ImportCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	wrapped := req.GetWrappedKey()
	if legacy := req.GetRsaAesWrappedKey(); len(legacy) > 0 {
		if len(wrapped) > 0 && !bytes.Equal(wrapped, legacy) {
			return nil, kmserr.InvalidArgument("rsa_aes_wrapped_key", "differs from wrapped_key; send only wrapped_key")
		}
		wrapped = legacy
	}
	a := req.GetAlgorithm()
	v, err := s.svc.ImportCryptoKeyVersion(ctx, kms.ImportRequest{
		Parent:           req.GetParent(),
		CryptoKeyVersion: req.GetCryptoKeyVersion(),
		Algorithm:        alg.Algorithm(enumName(int32(a), a.String())),
		ImportJob:        req.GetImportJob(),
		WrappedKey:       wrapped,
	})
	if err != nil {
		return nil, err
	}
	return versionToProto(v), nil
}

func importJobToProto(j *kms.ImportJob) *kmspb.ImportJob {
	out := &kmspb.ImportJob{
		Name:            j.Name,
		ImportMethod:    kmspb.ImportJob_ImportMethod(kmspb.ImportJob_ImportMethod_value[string(j.ImportMethod)]),
		ProtectionLevel: levelToProto(j.ProtectionLevel),
		CreateTime:      ts(j.CreateTime),
		GenerateTime:    ts(j.GenerateTime),
		ExpireTime:      ts(j.ExpireTime),
		ExpireEventTime: ts(j.ExpireEventTime),
		State:           kmspb.ImportJob_ImportJobState(kmspb.ImportJob_ImportJobState_value[string(j.State)]),
		// Attestation stays empty: it is only for HSM protection.
	}
	if j.State == kms.ImportJobActive && j.PublicKeyPEM != "" {
		out.PublicKey = &kmspb.ImportJob_WrappingPublicKey{Pem: j.PublicKeyPEM}
	}
	return out
}
