// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"errors"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/envelope"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"google.golang.org/grpc/codes"
)

// EKMTarget is a key and version resolved for a Cloud EKM wrap or unwrap.
//
// Cloud EKM wants its errors in an order unlike the KMS API's: a key URI
// that names no usable key is 404 before the caller's identity is checked
// (the id is unguessable, and Google must tell a missing key from a
// refusal). So the EKM adapter first resolves the target, then authorizes
// the caller on Key, then calls Wrap or Unwrap.
type EKMTarget struct {
	// Key is the crypto key's resource name.
	Key string
	// Version is the version that wraps (the primary) or that made the blob.
	Version string

	s       *Service
	kn      resource.Name
	number  int64
	lv      *liveVersion
	prim    *primitive
	blobErr error // a blob that could not even be parsed: 400 after authorization
}

// errNoEKMKey is ResolveEKM's NOT_FOUND, made only when it is the answer.
func errNoEKMKey() error { return kmserr.NotFound("no usable external key has this URI") }

// ResolveEKM finds the key of an external key id and the version to use: the
// primary for a wrap (blob nil), the blob's version for an unwrap. It
// returns NOT_FOUND when the id names no key, the key is not an
// ENCRYPT_DECRYPT key, or the version is missing or not ENABLED. It does no
// authorization: the caller must authorize on Key before Wrap or Unwrap.
func (s *Service) ResolveEKM(ctx context.Context, id string, blob []byte) (*EKMTarget, error) {
	if id == "" || len(id) > 128 {
		return nil, errNoEKMKey()
	}
	keyName, ok := s.cache.ekmIDs.Get(id)
	if !ok {
		rec, err := s.store.Get(ctx, ekmIndexName(id))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, errNoEKMKey()
		}
		if err != nil {
			return nil, storeErr(err, "external key", "")
		}
		if err := s.decode(rec, kindEKMIndex, &keyName); err != nil {
			return nil, err
		}
		s.cache.ekmIDs.Add(id, keyName)
	}
	kn, err := resource.ParseKind(keyName, resource.KindCryptoKey)
	if err != nil {
		return nil, kmserr.DataLoss(err, "bad key name in the external key index")
	}
	k, err := s.loadKey(ctx, kn)
	if err != nil {
		return nil, err
	}
	if k.Purpose != alg.EncryptDecrypt || k.EKMID != id {
		return nil, errNoEKMKey()
	}
	t := &EKMTarget{Key: k.Name, s: s}
	if blob == nil {
		t.number = k.Primary
	} else {
		kind, v, err := envelope.Parse(blob)
		switch {
		case err != nil:
			t.blobErr = kmserr.InvalidArgument("wrappedBlob", "is not a Custos wrapped blob")
			return t, nil
		case kind != envelope.KindEKM:
			t.blobErr = kmserr.InvalidArgument("wrappedBlob", "is not a Cloud EKM wrapped blob (it was made by another kind of call)")
			return t, nil
		case int64(v) > k.LastVersion:
			t.blobErr = kmserr.InvalidArgument("wrappedBlob", "was not wrapped by this key")
			return t, nil
		}
		t.number = int64(v)
	}
	if t.number == 0 {
		return nil, errNoEKMKey()
	}
	_, lv, err := s.usable(ctx, kn.VersionName(t.number), alg.EncryptDecrypt)
	if err != nil {
		if c := kmserr.Code(err); c == codes.NotFound || c == codes.FailedPrecondition {
			return nil, errNoEKMKey()
		}
		return nil, err
	}
	t.Version, t.prim, t.lv, t.kn = lv.v.Name, lv.prim, lv, kn
	return t, nil
}

// Wrap encrypts a key for Google with the target's primary version. The
// blob is domain-separated from Encrypt ciphertexts (envelope.KindEKM).
func (t *EKMTarget) Wrap(plaintext, aad []byte) ([]byte, error) {
	if t.prim == nil {
		return nil, kmserr.Internal(nil, "EKM target resolved for unwrap, not wrap")
	}
	if err := checkSize("plaintext", plaintext, MaxPlaintext); err != nil {
		return nil, err
	}
	if err := checkSize("additionalAuthenticatedData", aad, MaxAAD); err != nil {
		return nil, err
	}
	// The primary may have made all the encryptions it may: then the key
	// is rotated and the new primary wraps (Version says which).
	lv, err := t.s.spendOrRotate(context.Background(), t.kn, t.lv, false)
	if err != nil {
		return nil, err
	}
	if lv != t.lv {
		vn, _ := resource.Parse(lv.v.Name)
		t.lv, t.prim, t.Version, t.number = lv, lv.prim, lv.v.Name, vn.Version
	}
	return envelope.Seal(t.prim.aead, envelope.KindEKM, uint64(t.number), t.Key, plaintext, aad), nil
}

// Unwrap decrypts a blob made by Wrap. Any blob that does not open (changed,
// another key's, wrong AAD) is INVALID_ARGUMENT.
func (t *EKMTarget) Unwrap(blob, aad []byte) ([]byte, error) {
	if t.blobErr != nil {
		return nil, t.blobErr
	}
	if err := checkSize("additionalAuthenticatedData", aad, MaxAAD); err != nil {
		return nil, err
	}
	pt, err := envelope.Open(t.prim.aead, envelope.KindEKM, t.Key, blob, aad)
	if err != nil {
		return nil, kmserr.InvalidArgument("wrappedBlob", "cannot be unwrapped: it was changed, wrapped by another key, or the additional authenticated data does not match")
	}
	return pt, nil
}

// KeyExtras returns the Custos-only facts of a key that Cloud KMS's
// CryptoKey message has no field for. It does no authorization: adapters
// call it only to decorate a key the caller was allowed to read.
func (s *Service) KeyExtras(ctx context.Context, name string) (ekmID string, exportable bool, err error) {
	n, err := resource.ParseKind(name, resource.KindCryptoKey)
	if err != nil {
		return "", false, err
	}
	k, err := s.loadKey(ctx, n)
	if err != nil {
		return "", false, err
	}
	return k.EKMID, k.Exportable, nil
}

// Exists returns nil if the key ring, crypto key or import job exists, a
// NOT_FOUND error if not. It does no authorization: the IAM methods call it
// after authorizing, to answer NOT_FOUND only to those who may know.
func (s *Service) Exists(ctx context.Context, name string) error {
	n, err := resource.Parse(name)
	if err != nil {
		return kmserr.InvalidArgument("resource", "%q is not a valid resource name", name)
	}
	switch n.Kind {
	case resource.KindProject, resource.KindLocation:
		return nil
	case resource.KindCryptoKey:
		_, err := s.loadKey(ctx, n)
		return err
	case resource.KindCryptoKeyVersion:
		_, err := s.loadVersion(ctx, n)
		return err
	}
	_, err = s.store.Get(ctx, name)
	return storeErr(err, n.Kind.String(), name)
}
