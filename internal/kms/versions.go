// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// fingerprint is a keyed hash of material: it identifies material again
// (re-import) without revealing anything about it.
func (s *Service) fingerprint(material []byte) []byte {
	m := hmac.New(sha256.New, s.fpKey)
	m.Write(material)
	return m.Sum(nil)
}

// CreateCryptoKeyVersion adds a version with fresh material to a key. The
// algorithm defaults to the key's version template. A key without a primary
// gets the new version as primary.
func (s *Service) CreateCryptoKeyVersion(ctx context.Context, parent string, a alg.Algorithm) (*Version, error) {
	kn, err := parseName("parent", parent, resource.KindCryptoKey)
	if err != nil {
		return nil, err
	}
	var out *Version
	var target string
	err = s.callFor(ctx, "CreateCryptoKeyVersion", PermVersionsCreate, kn, false, &target, func() error {
		out, err = s.addVersion(ctx, kn, a, false, nil)
		if out != nil {
			target = out.Name
		}
		return err
	})
	return out, err
}

// addVersion is CreateCryptoKeyVersion without the frame. Rotation uses it
// with makePrimary, and with mutate, which changes the key in the same
// transaction (or refuses, and nothing is written).
func (s *Service) addVersion(ctx context.Context, kn resource.Name, a alg.Algorithm, makePrimary bool, mutate func(*CryptoKey) error) (*Version, error) {
	// Read the key first to generate material outside the transaction
	// (RSA generation takes long); the transaction re-reads it.
	k, err := s.loadKey(ctx, kn)
	if err != nil {
		return nil, err
	}
	if k.ImportOnly {
		return nil, kmserr.FailedPrecondition("CryptoKey %s is import-only: its versions can only be imported", k.Name)
	}
	if a == "" {
		a = k.Template.Algorithm
	}
	if err := checkAlgorithm("crypto_key_version.algorithm", k.Purpose, a); err != nil {
		return nil, err
	}
	material, err := generate(a)
	if err != nil {
		return nil, err
	}
	defer clear(material) // sealed in the record; not needed past this call
	var out *Version
	err = s.update(ctx, func(tx storage.Tx) ([]string, error) {
		k, rec, err := s.readKey(ctx, tx, kn.String())
		if err != nil {
			return nil, err
		}
		c := *k
		if mutate != nil {
			if err := mutate(&c); err != nil {
				return nil, err
			}
		}
		c.LastVersion++
		now := s.now().UTC()
		name := kn.VersionName(c.LastVersion).String()
		v := s.makeVersion(name, a, c.Template.ProtectionLevel, material, now)
		if c.Purpose == alg.EncryptDecrypt && (makePrimary || c.Primary == 0) {
			c.Primary = c.LastVersion
		}
		if err := s.storeNewVersion(ctx, tx, &c, rec, v); err != nil {
			return nil, err
		}
		out = v
		return []string{c.Name, name}, nil
	})
	if err != nil {
		return nil, err
	}
	out.Material = nil
	return out, nil
}

// storeNewVersion writes, in tx, a new version v of the key c and the key
// itself (its LastVersion, maybe its Primary, changed), checking that the
// key record is still at the revision of old.
func (s *Service) storeNewVersion(ctx context.Context, tx storage.Tx, c *CryptoKey, old storage.Record, v *Version) error {
	vrec, err := s.versionRecord(v, c.Name)
	if err != nil {
		return err
	}
	if err := tx.Create(ctx, vrec); err != nil {
		return storeErr(err, "CryptoKeyVersion", v.Name)
	}
	krec, err := s.keyRecord(c, old.Parent)
	if err != nil {
		return err
	}
	krec.Rev = old.Rev
	return storeErr(tx.Put(ctx, krec), "CryptoKey", c.Name)
}

// GetCryptoKeyVersion returns a version (never its material).
func (s *Service) GetCryptoKeyVersion(ctx context.Context, name string) (*Version, error) {
	n, err := parseName("name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, err
	}
	var out *Version
	err = s.call(ctx, "GetCryptoKeyVersion", PermVersionsGet, n, true, func() error {
		lv, err := s.loadVersion(ctx, n)
		if err != nil {
			return err
		}
		v := lv.v
		out = &v
		return nil
	})
	return out, err
}

// ListCryptoKeyVersions lists the versions of a key.
func (s *Service) ListCryptoKeyVersions(ctx context.Context, parent string, p Page) ([]*Version, string, int, error) {
	kn, err := parseName("parent", parent, resource.KindCryptoKey)
	if err != nil {
		return nil, "", 0, err
	}
	var res listResult[*Version]
	err = s.call(ctx, "ListCryptoKeyVersions", PermVersionsList, kn, true, func() error {
		if _, err := s.loadKey(ctx, kn); err != nil {
			return err
		}
		res, err = list(ctx, s, kindVersion, parent, p, func(r storage.Record) (*Version, error) {
			v := new(Version)
			err := s.decode(r, kindVersion, v)
			v.Material = nil
			return v, err
		}, versionFields)
		return err
	})
	return res.items, res.next, res.total, err
}

// UpdateCryptoKeyVersion enables or disables a version; "state" is the only
// field that can be updated.
func (s *Service) UpdateCryptoKeyVersion(ctx context.Context, name string, state State, mask []string) (*Version, error) {
	n, err := parseName("crypto_key_version.name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, err
	}
	var out *Version
	err = s.call(ctx, "UpdateCryptoKeyVersion", PermVersionsUpdate, n, false, func() error {
		if len(mask) == 0 {
			return kmserr.InvalidArgument("update_mask", "must name at least one field")
		}
		for _, p := range mask {
			if p != "state" {
				return kmserr.InvalidArgument("update_mask", "field %s cannot be updated; only state can", p)
			}
		}
		var t Transition
		switch state {
		case Enabled:
			t = TransEnable
		case Disabled:
			t = TransDisable
		default:
			return kmserr.InvalidArgument("crypto_key_version.state", "can only be set to ENABLED or DISABLED, not %q", state)
		}
		out, err = s.transition(ctx, n, t)
		return err
	})
	return out, err
}

// DestroyCryptoKeyVersion schedules a version for destruction after its
// key's destroy_scheduled_duration.
func (s *Service) DestroyCryptoKeyVersion(ctx context.Context, name string) (*Version, error) {
	return s.transitionCall(ctx, "DestroyCryptoKeyVersion", PermVersionsDestroy, name, TransScheduleDestroy)
}

// RestoreCryptoKeyVersion cancels a scheduled destruction; the version
// becomes DISABLED.
func (s *Service) RestoreCryptoKeyVersion(ctx context.Context, name string) (*Version, error) {
	return s.transitionCall(ctx, "RestoreCryptoKeyVersion", PermVersionsRestore, name, TransRestore)
}

func (s *Service) transitionCall(ctx context.Context, method, perm, name string, t Transition) (*Version, error) {
	n, err := parseName("name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, err
	}
	var out *Version
	err = s.call(ctx, method, perm, n, false, func() error {
		out, err = s.transition(ctx, n, t)
		return err
	})
	return out, err
}

// transition moves a version through the lifecycle in one transaction.
func (s *Service) transition(ctx context.Context, n resource.Name, t Transition) (*Version, error) {
	var out *Version
	err := s.update(ctx, func(tx storage.Tx) ([]string, error) {
		name := n.String()
		v, rec, err := s.readVersion(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		to, ok := next(v.State, t)
		if !ok {
			return nil, kmserr.FailedPrecondition("CryptoKeyVersion %s is %s: %s", name, v.State, refusal(t))
		}
		now := s.now().UTC()
		c := *v
		c.State = to
		switch t {
		case TransScheduleDestroy:
			k, _, err := s.readKey(ctx, tx, n.Key().String())
			if err != nil {
				return nil, err
			}
			c.DestroyTime = now.Add(k.DestroyScheduledDuration)
		case TransRestore:
			c.DestroyTime = time.Time{}
		case TransDestroyNow:
			// The scheduler listed the version as due before this
			// transaction: it may have been restored and scheduled again
			// since, for a later time.
			if v.DestroyTime.After(now) {
				return nil, errNotDue
			}
			// The material is erased here; only its fingerprint remains,
			// so that an imported version can be re-imported.
			c.Material = nil
			c.DestroyEventTime = now
			if c.ImportJob != "" {
				c.ReimportEligible = true
			}
		}
		newRec, err := s.versionRecord(&c, rec.Parent)
		if err != nil {
			return nil, err
		}
		newRec.Rev = rec.Rev
		if err := tx.Put(ctx, newRec); err != nil {
			return nil, storeErr(err, "CryptoKeyVersion", name)
		}
		if c.State == Destroyed && !c.ReimportEligible {
			// Its count of encryptions is of no more use (an imported
			// version keeps it: the same material may come back).
			if err := tx.Delete(ctx, usageName(name)); err != nil {
				return nil, storeErr(err, "CryptoKeyVersion", name)
			}
		}
		c.Material = nil
		out = &c
		return []string{name}, nil
	})
	return out, err
}

func refusal(t Transition) string {
	switch t {
	case TransEnable:
		return "only a DISABLED version can be enabled"
	case TransDisable:
		return "only an ENABLED version can be disabled"
	case TransScheduleDestroy:
		return "only an ENABLED or DISABLED version can be destroyed"
	case TransRestore:
		return "only a DESTROY_SCHEDULED version can be restored"
	}
	return "transition not allowed"
}
