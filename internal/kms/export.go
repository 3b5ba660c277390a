// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"errors"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"google.golang.org/grpc/codes"
)

// PermExport is the permission [Service.ExportMaterial] checks on the key.
// It is Custos's own (Cloud KMS has no export), the same string as
// iam.PermExport, granted by roles/custos.exporter and to the owner.
const PermExport = "custos.cryptoKeyVersions.export"

// ExportPlaintext is the export target that asks for the bare material. It
// is refused: plaintext export needs a project policy that explicitly
// allows it, and Custos has no such policy yet.
const ExportPlaintext = "plaintext"

// ExportOptions are the settings of one [Service.ExportMaterial] call.
type ExportOptions struct {
	// Target names the format the material leaves in ("aws", "gcp",
	// "azure", ...). It is recorded in the audit entry. "" and
	// [ExportPlaintext] are refused.
	Target string
	// Accept, if set, is called with the algorithm of the resolved version
	// before its material is unsealed. An error refuses the export; it is
	// returned as is and recorded as the outcome, so it should be a
	// *kmserr.Error.
	Accept func(alg.Algorithm) error
	// Details are other facts for the audit entry: to whom the material
	// goes (the fingerprint of the wrapping key, say). They do not
	// replace "always" or "target".
	Details map[string]string
}

// ExportMaterial returns the key material of an ENABLED version of an
// exportable key, for a wrapper in this process (internal/byok) that
// encrypts it for another key manager. name is a version, or a key: then
// its primary version, or for a key without one (raw and asymmetric keys)
// its only ENABLED version.
//
// The caller must hold [PermExport] on the key; this is checked first,
// before any lookup, and a denial is PERMISSION_DENIED whether or not the
// key exists. A key created without exportable is refused with
// FAILED_PRECONDITION, a version that is not ENABLED too; a key with
// several ENABLED versions and no primary is INVALID_ARGUMENT (name the
// version). Errors of these refusals start with "export not allowed:" where
// they are about the right to export.
//
// Every call is recorded in the audit log as "ExportCryptoKeyVersion",
// refused or not, even where data-access audit is off (Details "always").
// If that record cannot be written, the material is not returned.
//
// The material is secret: the caller must never log it, never send it
// anywhere unencrypted, and should clear it when done. It is raw bytes for
// symmetric and HMAC keys and a PKCS#8 DER private key otherwise.
func (s *Service) ExportMaterial(ctx context.Context, name string, opts ExportOptions) (material []byte, version string, a alg.Algorithm, err error) {
	n, err := keyOrVersion("name", name)
	if err != nil {
		return nil, "", "", err
	}
	kn := n.Key()
	ev := Event{
		Method:     "ExportCryptoKeyVersion",
		Resource:   n.String(),
		DataAccess: true,
		Details:    map[string]string{"always": "true", "target": opts.Target},
	}
	for k, v := range opts.Details {
		if _, set := ev.Details[k]; !set {
			ev.Details[k] = v
		}
	}
	if err := s.authz.Authorize(ctx, PermExport, kn); err != nil {
		err = exportDenied(err)
		ev.Err = err
		s.recordEvent(ctx, ev)
		return nil, "", "", err
	}
	material, version, a, err = s.exportMaterial(ctx, n, kn, opts)
	if version != "" {
		ev.Resource = version
	}
	ev.Err = err
	if aerr := s.recordEvent(ctx, ev); aerr != nil && err == nil {
		clear(material)
		return nil, "", "", aerr
	}
	if err != nil {
		clear(material)
		return nil, version, a, err
	}
	return material, version, a, nil
}

// exportDenied puts the reason of a PERMISSION_DENIED in the words every
// export refusal uses. Other codes (UNAUTHENTICATED, a quota) pass as is.
func exportDenied(err error) error {
	var ke *kmserr.Error
	if errors.As(err, &ke) && ke.Code == codes.PermissionDenied {
		return &kmserr.Error{Code: ke.Code, Msg: "export not allowed: " + ke.Msg, Err: ke.Err}
	}
	return err
}

func (s *Service) exportMaterial(ctx context.Context, n, kn resource.Name, opts ExportOptions) ([]byte, string, alg.Algorithm, error) {
	k, err := s.loadKey(ctx, kn)
	if err != nil {
		return nil, "", "", err
	}
	if !k.Exportable {
		return nil, "", "", kmserr.FailedPrecondition("export not allowed: the key is not exportable")
	}
	if opts.Target == "" || opts.Target == ExportPlaintext {
		return nil, "", "", kmserr.FailedPrecondition("export not allowed: plaintext export is refused unless a project policy allows it, and Custos has no such policy yet; export in a wrapped format instead")
	}
	vn := n
	if n.Kind == resource.KindCryptoKey {
		if vn, err = s.exportVersion(ctx, k, kn); err != nil {
			return nil, "", "", err
		}
	}
	v, _, err := s.readVersion(ctx, s.store, vn.String())
	if err != nil {
		return nil, "", "", err
	}
	if v.State != Enabled || v.Material == nil {
		return nil, v.Name, v.Algorithm, kmserr.FailedPrecondition("CryptoKeyVersion %s is %s, not ENABLED", v.Name, v.State)
	}
	if opts.Accept != nil {
		if err := opts.Accept(v.Algorithm); err != nil {
			return nil, v.Name, v.Algorithm, err
		}
	}
	material, err := s.ks.Unseal(v.Name, v.Material)
	if err != nil {
		s.log.Error("key material failed its integrity check", "name", v.Name)
		return nil, v.Name, v.Algorithm, kmserr.DataLoss(err, "key material of %s failed its integrity check", v.Name)
	}
	return material, v.Name, v.Algorithm, nil
}

// exportVersion picks the version to export for a key name: its primary,
// or else its only ENABLED version.
func (s *Service) exportVersion(ctx context.Context, k *CryptoKey, kn resource.Name) (resource.Name, error) {
	if k.Primary != 0 {
		return kn.VersionName(k.Primary), nil
	}
	recs, err := s.store.List(ctx, storage.ListOptions{Kind: kindVersion, Parent: k.Name})
	if err != nil {
		return resource.Name{}, storeErr(err, "CryptoKey", k.Name)
	}
	var enabled []string
	for _, r := range recs {
		v := new(Version)
		if err := s.decode(r, kindVersion, v); err != nil {
			return resource.Name{}, err
		}
		if v.State == Enabled {
			enabled = append(enabled, v.Name)
		}
	}
	switch len(enabled) {
	case 0:
		return resource.Name{}, kmserr.FailedPrecondition("CryptoKey %s has no ENABLED version to export", k.Name)
	case 1:
		return resource.ParseKind(enabled[0], resource.KindCryptoKeyVersion)
	}
	return resource.Name{}, kmserr.InvalidArgument("version", "CryptoKey %s has no primary version and %d ENABLED versions; name the version to export", k.Name, len(enabled))
}

// recordEvent records e; it is record with details.
func (s *Service) recordEvent(ctx context.Context, e Event) error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Record(ctx, e)
}
