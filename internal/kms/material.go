// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"

	"github.com/custos-kms/custos/internal/crypto/aead"
	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/asym"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// primitive is a version's material made ready for use. Exactly one of the
// fields is set, by the algorithm's family.
type primitive struct {
	aead   *aead.AEAD      // AES-GCM (symmetric and raw)
	signer crypto.Signer   // ECDSA, Ed25519, RSA signing
	rsa    *rsa.PrivateKey // RSA-OAEP decryption
	hmac   []byte          // HMAC key
}

// keyType maps an asymmetric algorithm to the key it needs.
func keyType(spec alg.Spec) (asym.KeyType, bool) {
	switch spec.Family {
	case alg.FamilyECDSA:
		if spec.Bits == 256 {
			return asym.ECP256, true
		}
		return asym.ECP384, true
	case alg.FamilyEd25519:
		return asym.Ed25519, true
	case alg.FamilyRSAPSS, alg.FamilyRSAPKCS1, alg.FamilyRSAOAEP:
		switch spec.Bits {
		case 2048:
			return asym.RSA2048, true
		case 3072:
			return asym.RSA3072, true
		case 4096:
			return asym.RSA4096, true
		}
	}
	return 0, false
}

// generate makes fresh material for an algorithm: raw key bytes for AES and
// HMAC, a PKCS#8 private key otherwise.
func generate(a alg.Algorithm) ([]byte, error) {
	spec, ok := alg.Lookup(a)
	if !ok {
		return nil, kmserr.InvalidArgument("algorithm", "unsupported algorithm %s", a)
	}
	if n := spec.KeyBytes(); n > 0 {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return nil, kmserr.Internal(err, "cannot generate key material")
		}
		return b, nil
	}
	kt, ok := keyType(spec)
	if !ok {
		return nil, kmserr.Internal(nil, "no key type for %s", a)
	}
	_, der, err := asym.Generate(kt)
	if err != nil {
		return nil, kmserr.Internal(err, "cannot generate key material")
	}
	return der, nil
}

// buildPrimitive parses material for its algorithm. It fails only on
// material that does not fit, which import validation rules out earlier.
func buildPrimitive(a alg.Algorithm, material []byte) (*primitive, error) {
	spec, ok := alg.Lookup(a)
	if !ok {
		return nil, kmserr.Internal(nil, "unsupported stored algorithm %s", a)
	}
	switch spec.Family {
	case alg.FamilyAESGCM:
		g, err := aead.New(material)
		if err != nil {
			return nil, kmserr.Internal(err, "bad stored material")
		}
		return &primitive{aead: g}, nil
	case alg.FamilyHMAC:
		return &primitive{hmac: material}, nil
	}
	priv, err := asym.ParsePKCS8(material)
	if err != nil {
		return nil, kmserr.Internal(err, "bad stored material")
	}
	if spec.Family == alg.FamilyRSAOAEP {
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, kmserr.Internal(nil, "stored material is not an RSA key")
		}
		return &primitive{rsa: k}, nil
	}
	return &primitive{signer: priv}, nil
}

// loadVersion returns a version, from the cache or from storage. Its
// primitive is built (material unsealed) only for an ENABLED version.
func (s *Service) loadVersion(ctx context.Context, n resource.Name) (*liveVersion, error) {
	name := n.String()
	if lv, ok := s.cache.versions.Get(name); ok {
		return lv, nil
	}
	gen := s.cache.gen.Load()
	v, _, err := s.readVersion(ctx, s.store, name)
	if err != nil {
		return nil, err
	}
	lv := &liveVersion{v: *v}
	lv.v.Material = nil
	if v.State == Enabled && v.Material != nil {
		material, err := s.ks.Unseal(name, v.Material)
		if err != nil {
			s.log.Error("key material failed its integrity check", "name", name)
			return nil, kmserr.DataLoss(err, "key material of %s failed its integrity check", name)
		}
		lv.prim, err = buildPrimitive(v.Algorithm, material)
		if err != nil || lv.prim.hmac == nil {
			// Only an HMAC primitive keeps the bytes; the others made
			// their own copy (a key schedule, a parsed private key).
			clear(material)
		}
		if err != nil {
			return nil, err
		}
	}
	fill(s.cache, s.cache.versions, gen, name, lv)
	return lv, nil
}

// loadKey returns a crypto key, from the cache or from storage.
func (s *Service) loadKey(ctx context.Context, n resource.Name) (*CryptoKey, error) {
	name := n.String()
	if k, ok := s.cache.keys.Get(name); ok {
		return k, nil
	}
	gen := s.cache.gen.Load()
	k, _, err := s.readKey(ctx, s.store, name)
	if err != nil {
		return nil, err
	}
	fill(s.cache, s.cache.keys, gen, name, k)
	return k, nil
}
