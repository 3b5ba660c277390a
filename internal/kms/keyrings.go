// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

func parseName(field, s string, k resource.Kind) (resource.Name, error) {
	n, err := resource.ParseKind(s, k)
	if err != nil {
		return n, kmserr.InvalidArgument(field, "%q is not a valid %s name", s, k)
	}
	return n, nil
}

// CreateKeyRing creates a key ring under a location.
func (s *Service) CreateKeyRing(ctx context.Context, parent, id string) (*KeyRing, error) {
	loc, err := parseName("parent", parent, resource.KindLocation)
	if err != nil {
		return nil, err
	}
	var out *KeyRing
	var target string // the audit entry names the new ring only if id is valid
	if resource.ValidID(id) {
		target = loc.KeyRingName(id).String()
	}
	err = s.callFor(ctx, "CreateKeyRing", PermKeyRingsCreate, loc, false, &target, func() error {
		if !resource.ValidID(id) {
			return kmserr.InvalidArgument("key_ring_id", "%q must be 1 to 63 characters of letters, digits, '_' and '-'", id)
		}
		ring := &KeyRing{Name: loc.KeyRingName(id).String(), CreateTime: s.now().UTC()}
		rec, err := s.encode(kindKeyRing, ring.Name, parent, 0, ring)
		if err != nil {
			return err
		}
		err = s.update(ctx, func(tx storage.Tx) ([]string, error) {
			return nil, storeErr(tx.Create(ctx, rec), "KeyRing", ring.Name)
		})
		out = ring
		return err
	})
	return out, err
}

// GetKeyRing returns a key ring.
func (s *Service) GetKeyRing(ctx context.Context, name string) (*KeyRing, error) {
	n, err := parseName("name", name, resource.KindKeyRing)
	if err != nil {
		return nil, err
	}
	var out *KeyRing
	err = s.call(ctx, "GetKeyRing", PermKeyRingsGet, n, true, func() error {
		out, err = s.readKeyRing(ctx, s.store, name)
		return err
	})
	return out, err
}

func (s *Service) readKeyRing(ctx context.Context, r storage.Reader, name string) (*KeyRing, error) {
	rec, err := r.Get(ctx, name)
	if err != nil {
		return nil, storeErr(err, "KeyRing", name)
	}
	ring := new(KeyRing)
	if err := s.decode(rec, kindKeyRing, ring); err != nil {
		return nil, err
	}
	return ring, nil
}

// ListKeyRings lists the key rings of a location.
func (s *Service) ListKeyRings(ctx context.Context, parent string, p Page) ([]*KeyRing, string, int, error) {
	loc, err := parseName("parent", parent, resource.KindLocation)
	if err != nil {
		return nil, "", 0, err
	}
	var res listResult[*KeyRing]
	err = s.call(ctx, "ListKeyRings", PermKeyRingsList, loc, true, func() error {
		res, err = list(ctx, s, kindKeyRing, parent, p, func(r storage.Record) (*KeyRing, error) {
			ring := new(KeyRing)
			return ring, s.decode(r, kindKeyRing, ring)
		}, keyRingFields)
		return err
	})
	return res.items, res.next, res.total, err
}
