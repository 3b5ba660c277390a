// SPDX-License-Identifier: Apache-2.0

package grpcapi

import (
	"hash/crc32"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// This file is the only place where protos and domain types meet.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, castagnoli)))
}

// checkCRC verifies an optional request checksum, as Cloud KMS does: a
// mismatch is INVALID_ARGUMENT and the client should retry. It reports
// whether a checksum was given (and verified).
func checkCRC(field string, data []byte, sum *wrapperspb.Int64Value) (bool, error) {
	if sum == nil {
		return false, nil
	}
	if sum.GetValue() != int64(crc32.Checksum(data, castagnoli)) {
		return false, kmserr.InvalidArgument(field, "the checksum does not match the data; the request was corrupted in transit, retry it")
	}
	return true, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

func purposeToProto(p alg.Purpose) kmspb.CryptoKey_CryptoKeyPurpose {
	return kmspb.CryptoKey_CryptoKeyPurpose(kmspb.CryptoKey_CryptoKeyPurpose_value[string(p)])
}

func algToProto(a alg.Algorithm) kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm {
	return kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm_value[string(a)])
}

func levelToProto(l string) kmspb.ProtectionLevel {
	return kmspb.ProtectionLevel(kmspb.ProtectionLevel_value[l])
}

func stateToProto(s kms.State) kmspb.CryptoKeyVersion_CryptoKeyVersionState {
	return kmspb.CryptoKeyVersion_CryptoKeyVersionState(kmspb.CryptoKeyVersion_CryptoKeyVersionState_value[string(s)])
}

// enumName returns the name of an enum value, "" for the zero
// (UNSPECIFIED) value; an unknown number stays a number and is refused
// later as unsupported.
func enumName(n int32, name string) string {
	if n == 0 {
		return ""
	}
	return name
}

func keyRingToProto(r *kms.KeyRing) *kmspb.KeyRing {
	return &kmspb.KeyRing{Name: r.Name, CreateTime: ts(r.CreateTime)}
}

func keyToProto(info *kms.KeyInfo) *kmspb.CryptoKey {
	k := info.Key
	ck := &kmspb.CryptoKey{
		Name:       k.Name,
		Purpose:    purposeToProto(k.Purpose),
		CreateTime: ts(k.CreateTime),
		Labels:     k.Labels,
		VersionTemplate: &kmspb.CryptoKeyVersionTemplate{
			Algorithm:       algToProto(k.Template.Algorithm),
			ProtectionLevel: levelToProto(k.Template.ProtectionLevel),
		},
		NextRotationTime:         ts(k.NextRotationTime),
		ImportOnly:               k.ImportOnly,
		DestroyScheduledDuration: durationpb.New(k.DestroyScheduledDuration),
	}
	if k.RotationPeriod > 0 {
		ck.RotationSchedule = &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(k.RotationPeriod)}
	}
	if info.Primary != nil {
		ck.Primary = versionToProto(info.Primary)
	}
	return ck
}

func versionToProto(v *kms.Version) *kmspb.CryptoKeyVersion {
	return &kmspb.CryptoKeyVersion{
		Name:                v.Name,
		State:               stateToProto(v.State),
		ProtectionLevel:     levelToProto(v.ProtectionLevel),
		Algorithm:           algToProto(v.Algorithm),
		CreateTime:          ts(v.CreateTime),
		GenerateTime:        ts(v.GenerateTime),
		DestroyTime:         ts(v.DestroyTime),
		DestroyEventTime:    ts(v.DestroyEventTime),
		ImportJob:           v.ImportJob,
		ImportTime:          ts(v.ImportTime),
		ImportFailureReason: v.ImportFailureReason,
		ReimportEligible:    v.ReimportEligible,
	}
}

// keyFromProto reads the settings of a CryptoKey message.
func keyFromProto(ck *kmspb.CryptoKey) (kms.CryptoKey, error) {
	k := kms.CryptoKey{
		Name:             ck.GetName(),
		Purpose:          alg.Purpose(enumName(int32(ck.GetPurpose()), ck.GetPurpose().String())),
		Labels:           ck.GetLabels(),
		NextRotationTime: fromTS(ck.GetNextRotationTime()),
		ImportOnly:       ck.GetImportOnly(),
	}
	if t := ck.GetVersionTemplate(); t != nil {
		k.Template.Algorithm = alg.Algorithm(enumName(int32(t.GetAlgorithm()), t.GetAlgorithm().String()))
		k.Template.ProtectionLevel = enumName(int32(t.GetProtectionLevel()), t.GetProtectionLevel().String())
	}
	if d := ck.GetRotationPeriod(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return k, kmserr.InvalidArgument("crypto_key.rotation_period", "must be a positive duration")
		}
		k.RotationPeriod = d.AsDuration()
	}
	if d := ck.GetDestroyScheduledDuration(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return k, kmserr.InvalidArgument("crypto_key.destroy_scheduled_duration", "must be a positive duration")
		}
		k.DestroyScheduledDuration = d.AsDuration()
	}
	if ck.GetCryptoKeyBackend() != "" {
		return k, kmserr.InvalidArgument("crypto_key.crypto_key_backend", "is not supported")
	}
	return k, nil
}

func page(size int32, token, filter, orderBy string) kms.Page {
	return kms.Page{Size: int(size), Token: token, Filter: filter, OrderBy: orderBy}
}
