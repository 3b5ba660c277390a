// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"maps"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// Bounds of Cloud KMS key settings.
const (
	maxRotationPeriod  = 876000 * time.Hour
	maxDestroyDuration = 120 * 24 * time.Hour
	maxLabels          = 64
)

// KeyInfo is a crypto key with its primary version (nil if it has none).
type KeyInfo struct {
	Key     *CryptoKey
	Primary *Version
}

// CreateKeyRequest is a CreateCryptoKey call. Key holds the settings the
// caller gave; its Name, CreateTime, Primary and LastVersion are ignored.
type CreateKeyRequest struct {
	Parent             string
	ID                 string
	Key                CryptoKey
	SkipInitialVersion bool
}

// CreateCryptoKey creates a key and, unless skipped, its first version.
func (s *Service) CreateCryptoKey(ctx context.Context, req CreateKeyRequest) (*KeyInfo, error) {
	ring, err := parseName("parent", req.Parent, resource.KindKeyRing)
	if err != nil {
		return nil, err
	}
	var out *KeyInfo
	var target string // the audit entry names the new key only if the id is valid
	if resource.ValidID(req.ID) {
		target = ring.CryptoKeyName(req.ID).String()
	}
	err = s.callFor(ctx, "CreateCryptoKey", PermCryptoKeysCreate, ring, false, &target, func() error {
		out, err = s.createCryptoKey(ctx, ring, req)
		return err
	})
	return out, err
}

func (s *Service) createCryptoKey(ctx context.Context, ring resource.Name, req CreateKeyRequest) (*KeyInfo, error) {
	if !resource.ValidID(req.ID) {
		return nil, kmserr.InvalidArgument("crypto_key_id", "%q must be 1 to 63 characters of letters, digits, '_' and '-'", req.ID)
	}
	now := s.now().UTC()
	k := req.Key
	k.Name = ring.CryptoKeyName(req.ID).String()
	k.CreateTime = now
	k.Primary, k.LastVersion = 0, 0
	if err := s.checkNewKey(&k, now); err != nil {
		return nil, err
	}
	if k.ImportOnly && !req.SkipInitialVersion {
		return nil, kmserr.InvalidArgument("skip_initial_version_creation", "must be true for an import_only key")
	}
	if k.Purpose == alg.EncryptDecrypt {
		id := make([]byte, 24)
		if _, err := rand.Read(id); err != nil {
			return nil, kmserr.Internal(err, "cannot generate an id")
		}
		k.EKMID = base64.RawURLEncoding.EncodeToString(id)
	}

	var first *Version
	if !req.SkipInitialVersion {
		v, err := s.newVersion(&k, k.Template.Algorithm, now)
		if err != nil {
			return nil, err
		}
		first = v
		if k.Purpose == alg.EncryptDecrypt {
			k.Primary = 1
		}
	}
	keyRec, err := s.keyRecord(&k, ring.String())
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, func(tx storage.Tx) ([]string, error) {
		if _, err := s.readKeyRing(ctx, tx, ring.String()); err != nil {
			return nil, err
		}
		if err := tx.Create(ctx, keyRec); err != nil {
			return nil, storeErr(err, "CryptoKey", k.Name)
		}
		if k.EKMID != "" {
			idx, err := s.encode(kindEKMIndex, ekmIndexName(k.EKMID), "", 0, k.Name)
			if err != nil {
				return nil, err
			}
			if err := tx.Create(ctx, idx); err != nil {
				return nil, storeErr(err, "index", "")
			}
		}
		if first != nil {
			rec, err := s.versionRecord(first, k.Name)
			if err != nil {
				return nil, err
			}
			if err := tx.Create(ctx, rec); err != nil {
				return nil, storeErr(err, "CryptoKeyVersion", first.Name)
			}
		}
		return []string{k.Name}, nil
	})
	if err != nil {
		return nil, err
	}
	return &KeyInfo{Key: &k, Primary: primaryOf(&k, first)}, nil
}

func primaryOf(k *CryptoKey, v *Version) *Version {
	if v == nil || k.Primary == 0 {
		return nil
	}
	out := *v
	out.Material = nil
	return &out
}

// newVersion makes the next version of k with fresh material and bumps
// k.LastVersion. The caller stores both in one transaction.
func (s *Service) newVersion(k *CryptoKey, a alg.Algorithm, now time.Time) (*Version, error) {
	material, err := generate(a)
	if err != nil {
		return nil, err
	}
	defer clear(material) // sealed in the version; not needed past this call
	k.LastVersion++
	return s.makeVersion(k.Name+"/cryptoKeyVersions/"+itoa(k.LastVersion), a, k.Template.ProtectionLevel, material, now), nil
}

// makeVersion builds an ENABLED version around fresh material, sealed.
func (s *Service) makeVersion(name string, a alg.Algorithm, level string, material []byte, now time.Time) *Version {
	return &Version{
		Name:            name,
		State:           Enabled,
		Algorithm:       a,
		ProtectionLevel: level,
		CreateTime:      now,
		GenerateTime:    now,
		Material:        s.ks.Seal(name, material),
		Fingerprint:     s.fingerprint(material),
	}
}

// checkNewKey validates and completes the settings of a key being created.
func (s *Service) checkNewKey(k *CryptoKey, now time.Time) error {
	if k.Purpose == "" {
		return kmserr.InvalidArgument("crypto_key.purpose", "is required")
	}
	if !alg.ValidPurpose(k.Purpose) {
		return kmserr.InvalidArgument("crypto_key.purpose", "unsupported purpose %s", k.Purpose)
	}
	if k.Template.Algorithm == "" {
		a, ok := alg.Default(k.Purpose)
		if !ok {
			return kmserr.InvalidArgument("crypto_key.version_template.algorithm", "is required for purpose %s", k.Purpose)
		}
		k.Template.Algorithm = a
	}
	if err := checkAlgorithm("crypto_key.version_template.algorithm", k.Purpose, k.Template.Algorithm); err != nil {
		return err
	}
	switch k.Template.ProtectionLevel {
	case "", Software:
		k.Template.ProtectionLevel = Software
	case HSM, External:
		return kmserr.InvalidArgument("crypto_key.version_template.protection_level",
			"protection level %s needs a backend this server does not have; use SOFTWARE", k.Template.ProtectionLevel)
	default:
		return kmserr.InvalidArgument("crypto_key.version_template.protection_level", "unknown protection level %s", k.Template.ProtectionLevel)
	}
	if k.DestroyScheduledDuration == 0 {
		k.DestroyScheduledDuration = DefaultDestroyScheduledDuration
	}
	if d := k.DestroyScheduledDuration; d < s.minDest || d > maxDestroyDuration {
		return kmserr.InvalidArgument("crypto_key.destroy_scheduled_duration", "must be between %v and %v", s.minDest, maxDestroyDuration)
	}
	if err := s.checkRotation(k, now); err != nil {
		return err
	}
	return checkLabels(k.Labels)
}

// checkAlgorithm refuses an unknown algorithm or one of another purpose.
func checkAlgorithm(field string, p alg.Purpose, a alg.Algorithm) error {
	spec, ok := alg.Lookup(a)
	if !ok {
		return kmserr.InvalidArgument(field, "unsupported algorithm %s", a)
	}
	if spec.Purpose != p {
		return kmserr.InvalidArgument(field, "algorithm %s is for purpose %s, not %s", a, spec.Purpose, p)
	}
	return nil
}

func (s *Service) checkRotation(k *CryptoKey, now time.Time) error {
	if k.RotationPeriod == 0 && k.NextRotationTime.IsZero() {
		return nil
	}
	if k.Purpose != alg.EncryptDecrypt {
		return kmserr.InvalidArgument("crypto_key.rotation_period", "automatic rotation is only supported for ENCRYPT_DECRYPT keys")
	}
	if k.ImportOnly {
		// Rotation generates a version; an import-only key only takes
		// imported ones, so the scheduler could never rotate it.
		field := "crypto_key.rotation_period"
		if k.RotationPeriod == 0 {
			field = "crypto_key.next_rotation_time"
		}
		return kmserr.InvalidArgument(field, "an import_only key cannot be rotated automatically")
	}
	if !k.NextRotationTime.IsZero() {
		// The scheduler keeps it as Unix nanoseconds, which int64 holds
		// only up to 2262, and finds due times above 0 only.
		latest := now.Add(maxRotationPeriod)
		if !k.NextRotationTime.After(time.Unix(0, 0)) || k.NextRotationTime.After(latest) {
			return kmserr.InvalidArgument("crypto_key.next_rotation_time", "must be after 1970-01-01T00:00:00Z and at most 100 years (%v) from now", maxRotationPeriod)
		}
	}
	if k.RotationPeriod != 0 {
		if k.RotationPeriod < s.minRot || k.RotationPeriod > maxRotationPeriod {
			return kmserr.InvalidArgument("crypto_key.rotation_period", "must be between %v and %v", s.minRot, maxRotationPeriod)
		}
		if k.NextRotationTime.IsZero() {
			return kmserr.InvalidArgument("crypto_key.next_rotation_time", "is required when rotation_period is set")
		}
	}
	return nil
}

// checkLabels applies the Google Cloud label rules.
func checkLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return kmserr.InvalidArgument("crypto_key.labels", "at most %d labels", maxLabels)
	}
	for key, v := range labels {
		if !validLabel(key, true) {
			return kmserr.InvalidArgument("crypto_key.labels", "invalid label key %q: 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter", key)
		}
		if !validLabel(v, false) {
			return kmserr.InvalidArgument("crypto_key.labels", "invalid value for label %q: at most 63 lower-case letters, digits, '_' or '-'", key)
		}
	}
	return nil
}

func validLabel(s string, isKey bool) bool {
	n := utf8.RuneCountInString(s)
	if n > 63 || (isKey && n == 0) || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		if i == 0 && isKey && !unicode.IsLower(r) {
			return false
		}
		if !(unicode.IsLower(r) || unicode.IsDigit(r) || r == '_' || r == '-' || (r > 127 && unicode.IsLetter(r) && !unicode.IsUpper(r))) {
			return false
		}
	}
	return true
}

// GetCryptoKey returns a key with its primary version.
func (s *Service) GetCryptoKey(ctx context.Context, name string) (*KeyInfo, error) {
	n, err := parseName("name", name, resource.KindCryptoKey)
	if err != nil {
		return nil, err
	}
	var out *KeyInfo
	err = s.call(ctx, "GetCryptoKey", PermCryptoKeysGet, n, true, func() error {
		k, err := s.loadKey(ctx, n)
		if err != nil {
			return err
		}
		out, err = s.withPrimary(ctx, k)
		return err
	})
	return out, err
}

func (s *Service) withPrimary(ctx context.Context, k *CryptoKey) (*KeyInfo, error) {
	info := &KeyInfo{Key: k}
	if k.Primary == 0 {
		return info, nil
	}
	kn, _ := resource.Parse(k.Name)
	lv, err := s.loadVersion(ctx, kn.VersionName(k.Primary))
	if err != nil {
		return nil, err
	}
	v := lv.v
	info.Primary = &v
	return info, nil
}

// ListCryptoKeys lists the keys of a key ring, each with its primary.
func (s *Service) ListCryptoKeys(ctx context.Context, parent string, p Page) ([]*KeyInfo, string, int, error) {
	ring, err := parseName("parent", parent, resource.KindKeyRing)
	if err != nil {
		return nil, "", 0, err
	}
	var res listResult[*CryptoKey]
	var out []*KeyInfo
	err = s.call(ctx, "ListCryptoKeys", PermCryptoKeysList, ring, true, func() error {
		if _, err := s.readKeyRing(ctx, s.store, parent); err != nil {
			return err
		}
		res, err = list(ctx, s, kindCryptoKey, parent, p, func(r storage.Record) (*CryptoKey, error) {
			k := new(CryptoKey)
			return k, s.decode(r, kindCryptoKey, k)
		}, cryptoKeyFields)
		if err != nil {
			return err
		}
		for _, k := range res.items {
			info, err := s.withPrimary(ctx, k)
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		return nil
	})
	return out, res.next, res.total, err
}

// UpdateCryptoKey changes the fields of a key that mask names (snake_case
// paths, as Cloud KMS takes them).
func (s *Service) UpdateCryptoKey(ctx context.Context, in CryptoKey, mask []string) (*KeyInfo, error) {
	n, err := parseName("crypto_key.name", in.Name, resource.KindCryptoKey)
	if err != nil {
		return nil, err
	}
	var out *KeyInfo
	err = s.call(ctx, "UpdateCryptoKey", PermCryptoKeysUpdate, n, false, func() error {
		if len(mask) == 0 {
			return kmserr.InvalidArgument("update_mask", "must name at least one field")
		}
		var updated *CryptoKey
		err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
			k, rec, err := s.readKey(ctx, tx, in.Name)
			if err != nil {
				return nil, err
			}
			c := *k
			c.Labels = maps.Clone(k.Labels)
			for _, path := range mask {
				if err := applyKeyField(&c, &in, path); err != nil {
					return nil, err
				}
			}
			if err := s.checkRotation(&c, s.now()); err != nil {
				return nil, err
			}
			if err := checkLabels(c.Labels); err != nil {
				return nil, err
			}
			newRec, err := s.keyRecord(&c, rec.Parent)
			if err != nil {
				return nil, err
			}
			newRec.Rev = rec.Rev
			if err := tx.Put(ctx, newRec); err != nil {
				return nil, storeErr(err, "CryptoKey", c.Name)
			}
			updated = &c
			return []string{c.Name}, nil
		})
		if err != nil {
			return err
		}
		out, err = s.withPrimary(ctx, updated)
		return err
	})
	return out, err
}

func applyKeyField(c, in *CryptoKey, path string) error {
	switch path {
	case "labels":
		c.Labels = maps.Clone(in.Labels)
	case "rotation_period":
		c.RotationPeriod = in.RotationPeriod
	case "next_rotation_time":
		c.NextRotationTime = in.NextRotationTime
	case "version_template.algorithm", "version_template":
		if path == "version_template" && in.Template.ProtectionLevel != "" && in.Template.ProtectionLevel != c.Template.ProtectionLevel {
			return kmserr.InvalidArgument("crypto_key.version_template.protection_level", "is immutable")
		}
		if err := checkAlgorithm("crypto_key.version_template.algorithm", c.Purpose, in.Template.Algorithm); err != nil {
			return err
		}
		c.Template.Algorithm = in.Template.Algorithm
	case "purpose", "import_only", "destroy_scheduled_duration", "version_template.protection_level", "name", "create_time", "primary", "crypto_key_backend":
		return kmserr.InvalidArgument("update_mask", "field %s cannot be updated", path)
	default:
		return kmserr.InvalidArgument("update_mask", "unknown field %s", path)
	}
	return nil
}

// UpdateCryptoKeyPrimaryVersion makes an enabled version the primary of an
// ENCRYPT_DECRYPT key.
func (s *Service) UpdateCryptoKeyPrimaryVersion(ctx context.Context, name, versionID string) (*KeyInfo, error) {
	n, err := parseName("name", name, resource.KindCryptoKey)
	if err != nil {
		return nil, err
	}
	var out *KeyInfo
	err = s.call(ctx, "UpdateCryptoKeyPrimaryVersion", PermCryptoKeysUpdate, n, false, func() error {
		vn, err := resource.ParseKind(name+"/cryptoKeyVersions/"+versionID, resource.KindCryptoKeyVersion)
		if err != nil {
			return kmserr.InvalidArgument("crypto_key_version_id", "%q is not a version id", versionID)
		}
		var updated *CryptoKey
		err = s.update(ctx, func(tx storage.Tx) ([]string, error) {
			k, rec, err := s.readKey(ctx, tx, name)
			if err != nil {
				return nil, err
			}
			if k.Purpose != alg.EncryptDecrypt {
				return nil, kmserr.FailedPrecondition("CryptoKey %s has purpose %s; only ENCRYPT_DECRYPT keys have a primary version", name, k.Purpose)
			}
			v, _, err := s.readVersion(ctx, tx, vn.String())
			if err != nil {
				return nil, err
			}
			if v.State != Enabled {
				return nil, kmserr.FailedPrecondition("CryptoKeyVersion %s is %s, not ENABLED", v.Name, v.State)
			}
			c := *k
			c.Primary = vn.Version
			newRec, err := s.keyRecord(&c, rec.Parent)
			if err != nil {
				return nil, err
			}
			newRec.Rev = rec.Rev
			updated = &c
			return []string{name}, storeErr(tx.Put(ctx, newRec), "CryptoKey", name)
		})
		if err != nil {
			return err
		}
		out, err = s.withPrimary(ctx, updated)
		return err
	})
	return out, err
}
