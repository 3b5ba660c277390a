// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/custos-kms/custos/internal/byok"
	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// BYOKService is what the BYOK routes need from the core; *kms.Service
// implements it.
type BYOKService interface {
	ExportMaterial(ctx context.Context, name string, opts kms.ExportOptions) (material []byte, version string, a alg.Algorithm, err error)
	GetPublicKey(ctx context.Context, name string) (*kms.PublicKey, error)
}

var _ BYOKService = (*kms.Service)(nil)

// RegisterBYOK registers the route that wraps an exportable key for
// another key manager:
//
//	POST /admin/v1/byok:wrap
//	  {"key", "version", "target", "wrappingKey" | "wrappingKeyVersion",
//	   "wrappingAlgorithm", "kid"}
//	  -> {"wrapped", "format", "version", "algorithm", "notes"}
//
// key is a crypto key (or a version) name; version, optional, a version
// number of that key or its full name; without one the key's primary
// version is used, or for a key without a primary its only ENABLED
// version. target is aws, gcp, gcp-csek, azure or alibaba (see package
// byok for each format). wrappingKey is the provider's public wrapping key
// as PEM (a public key or, for gcp-csek, Google's certificate) or base64 of
// its DER; wrappingKeyVersion instead names an ASYMMETRIC_DECRYPT key
// version in this Custos whose public key wraps (a public key object, as
// Fortanix DSM has them). wrappingAlgorithm is the provider's name of the
// algorithm, required for aws, gcp and alibaba and refused for azure and
// gcp-csek; kid, the Azure key exchange key's identifier, is required for
// azure only.
//
// wrapped is base64 of the exact bytes to hand the provider (raw bytes for
// aws and gcp, base64 text for gcp-csek and alibaba, the .byok JSON for
// azure). The wrapping is done here, on the server, so the material never
// leaves it unwrapped (as Fortanix DSM does it); plaintext export
// (target "plaintext") is refused. The caller needs
// custos.cryptoKeyVersions.export on the key (roles/custos.exporter), and
// the key must have been created exportable; every call, refused or not,
// is in the audit log as ExportCryptoKeyVersion.
func RegisterBYOK(h *Handler, svc BYOKService) {
	r := byokRoutes{svc}
	h.Handle("POST /admin/v1/byok:wrap", r.wrap)
}

type byokRoutes struct{ svc BYOKService }

type byokWrapRequest struct {
	Key                string `json:"key"`
	Version            string `json:"version"`
	Target             string `json:"target"`
	WrappingKey        string `json:"wrappingKey"`
	WrappingKeyVersion string `json:"wrappingKeyVersion"`
	WrappingAlgorithm  string `json:"wrappingAlgorithm"`
	KID                string `json:"kid"`
}

type byokWrapResponse struct {
	Wrapped   string   `json:"wrapped"`
	Format    string   `json:"format"`
	Version   string   `json:"version"`
	Algorithm string   `json:"algorithm"`
	Notes     []string `json:"notes"`
}

var versionIDRE = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

func (r byokRoutes) wrap(ctx context.Context, req *http.Request) (any, error) {
	if kms.CallerFrom(ctx) == nil {
		return nil, kmserr.Unauthenticated("the request has no valid credential")
	}
	var in byokWrapRequest
	if err := DecodeJSON(req, &in); err != nil {
		return nil, err
	}
	name, err := byokName(in.Key, in.Version)
	if err != nil {
		return nil, err
	}
	if in.Target == kms.ExportPlaintext {
		// Refused by the core, after the permission check, and audited.
		_, _, _, err := r.svc.ExportMaterial(ctx, name, kms.ExportOptions{Target: kms.ExportPlaintext})
		if err == nil {
			return nil, kmserr.Internal(nil, "plaintext export was not refused")
		}
		return nil, err
	}
	target := byok.Target(in.Target)
	if !validTarget(target) {
		return nil, kmserr.InvalidArgument("target", "must be one of %v, not %q", byok.Targets(), in.Target)
	}
	opts := byok.Options{Algorithm: in.WrappingAlgorithm, KID: in.KID}
	if err := byokErr(byok.CheckOptions(target, nil, opts)); err != nil {
		return nil, err
	}
	pub, err := r.wrappingKey(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := byokErr(byok.CheckOptions(target, pub, opts)); err != nil {
		return nil, err
	}

	material, version, a, err := r.svc.ExportMaterial(ctx, name, kms.ExportOptions{
		Target:  string(target),
		Accept:  func(a alg.Algorithm) error { return byokErr(byok.Check(target, a, pub, opts)) },
		Details: wrappingKeyDetails(pub, in.WrappingKeyVersion),
	})
	if err != nil {
		return nil, err
	}
	out, err := byok.Wrap(target, material, a, pub, opts)
	clear(material)
	if err != nil {
		return nil, byokErr(err)
	}
	format, notes := byok.Describe(target, a, opts)
	if notes == nil {
		notes = []string{}
	}
	return byokWrapResponse{
		Wrapped:   base64.StdEncoding.EncodeToString(out),
		Format:    format,
		Version:   version,
		Algorithm: string(a),
		Notes:     notes,
	}, nil
}

func validTarget(t byok.Target) bool {
	for _, v := range byok.Targets() {
		if t == v {
			return true
		}
	}
	return false
}

// byokName combines key and version into the name to export.
func byokName(key, version string) (string, error) {
	if key == "" {
		return "", kmserr.InvalidArgument("key", "is required")
	}
	n, err := resource.Parse(key)
	if err != nil || (n.Kind != resource.KindCryptoKey && n.Kind != resource.KindCryptoKeyVersion) {
		return "", kmserr.InvalidArgument("key", "%q is not a crypto key or crypto key version name", key)
	}
	switch {
	case version == "":
		return key, nil
	case n.Kind == resource.KindCryptoKeyVersion:
		return "", kmserr.InvalidArgument("version", "give the version either in key or in version, not both")
	case versionIDRE.MatchString(version):
		return key + "/cryptoKeyVersions/" + version, nil
	case strings.HasPrefix(version, key+"/cryptoKeyVersions/"):
		if _, err := resource.ParseKind(version, resource.KindCryptoKeyVersion); err == nil {
			return version, nil
		}
	}
	return "", kmserr.InvalidArgument("version", "%q is neither a version number nor a version name of %s", version, key)
}

// wrappingKey reads the wrapping key from the request: given as PEM or
// base64 DER, or the public key of a Custos ASYMMETRIC_DECRYPT version.
func (r byokRoutes) wrappingKey(ctx context.Context, in byokWrapRequest) (*rsa.PublicKey, error) {
	switch {
	case in.WrappingKey != "" && in.WrappingKeyVersion != "":
		return nil, kmserr.InvalidArgument("wrappingKey", "give either wrappingKey or wrappingKeyVersion, not both")
	case in.WrappingKey != "":
		pub, err := byok.ParseWrappingKey([]byte(in.WrappingKey))
		if err != nil {
			return nil, kmserr.InvalidArgument("wrappingKey", "%s", byokMsg(err))
		}
		return pub, nil
	case in.WrappingKeyVersion != "":
		pk, err := r.svc.GetPublicKey(ctx, in.WrappingKeyVersion)
		if err != nil {
			return nil, err
		}
		if spec, ok := alg.Lookup(pk.Algorithm); !ok || spec.Purpose != alg.AsymmetricDecrypt {
			return nil, kmserr.InvalidArgument("wrappingKeyVersion", "%s is a %s version; a wrapping key is an ASYMMETRIC_DECRYPT (RSA-OAEP) version", pk.Name, pk.Algorithm)
		}
		pub, err := byok.ParseWrappingKey([]byte(pk.PEM))
		if err != nil {
			return nil, kmserr.InvalidArgument("wrappingKeyVersion", "%s", byokMsg(err))
		}
		return pub, nil
	}
	return nil, kmserr.InvalidArgument("wrappingKey", "is required (or wrappingKeyVersion)")
}

// byokErr maps an error of package byok to the API: the key type a target
// cannot take is FAILED_PRECONDITION (a property of the key), everything
// else the caller sent is INVALID_ARGUMENT.
func byokErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, byok.ErrKeyType):
		return kmserr.FailedPrecondition("%s", byokMsg(err))
	case errors.Is(err, byok.ErrWrappingKey):
		return kmserr.InvalidArgument("wrappingKey", "%s", byokMsg(err))
	case errors.Is(err, byok.ErrOption), errors.Is(err, byok.ErrTarget):
		return kmserr.InvalidArgument("", "%s", byokMsg(err))
	}
	return kmserr.Internal(err, "wrapping failed")
}

// byokMsg is a byok error without the package prefix. byok errors never
// hold key material.
func byokMsg(err error) string { return strings.TrimPrefix(err.Error(), "byok: ") }

// wrappingKeyDetails are the audit details that say to whom an export
// goes: the SHA-256 of the wrapping key's SubjectPublicKeyInfo, and the
// Custos key version that holds it, if one was named.
func wrappingKeyDetails(pub *rsa.PublicKey, version string) map[string]string {
	d := map[string]string{}
	if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
		sum := sha256.Sum256(der)
		d["wrappingKeySha256"] = hex.EncodeToString(sum[:])
	}
	if version != "" {
		d["wrappingKeyVersion"] = version
	}
	return d
}
