// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"crypto"
	"crypto/rand"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/asym"
	"github.com/custos-kms/custos/internal/crypto/envelope"
	"github.com/custos-kms/custos/internal/crypto/mac"
	"github.com/custos-kms/custos/internal/crypto/oaep"
	"github.com/custos-kms/custos/internal/crypto/signature"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// Size limits, as Cloud KMS has them.
const (
	MaxPlaintext  = 64 * 1024
	MaxAAD        = 64 * 1024
	MaxCiphertext = MaxPlaintext + 64 // room for the envelope's header and tag
	MaxSignData   = 64 * 1024
)

// usable returns the key and the version to use for an operation of the given
// purpose: the named version, or for a key name its primary. It refuses a key
// of another purpose and a version that is not ENABLED (FAILED_PRECONDITION).
func (s *Service) usable(ctx context.Context, n resource.Name, p alg.Purpose) (*CryptoKey, *liveVersion, error) {
	k, err := s.loadKey(ctx, n.Key())
	if err != nil {
		return nil, nil, err
	}
	if k.Purpose != p {
		return nil, nil, kmserr.FailedPrecondition("CryptoKey %s has purpose %s; this operation needs %s", k.Name, k.Purpose, p)
	}
	vn := n
	if n.Kind == resource.KindCryptoKey {
		if k.Primary == 0 {
			return nil, nil, kmserr.FailedPrecondition("CryptoKey %s has no primary version", k.Name)
		}
		vn = n.VersionName(k.Primary)
	}
	lv, err := s.loadVersion(ctx, vn)
	if err != nil {
		return nil, nil, err
	}
	if lv.v.State != Enabled || lv.prim == nil {
		return nil, nil, kmserr.FailedPrecondition("CryptoKeyVersion %s is %s, not ENABLED", lv.v.Name, lv.v.State)
	}
	return k, lv, nil
}

// keyOrVersion parses a name that may be a key or a version.
func keyOrVersion(field, s string) (resource.Name, error) {
	n, err := resource.Parse(s)
	if err != nil || (n.Kind != resource.KindCryptoKey && n.Kind != resource.KindCryptoKeyVersion) {
		return n, kmserr.InvalidArgument(field, "%q is not a valid crypto key or crypto key version name", s)
	}
	return n, nil
}

func checkSize(field string, b []byte, max int) error {
	if len(b) > max {
		return kmserr.InvalidArgument(field, "is %d bytes; the limit is %d", len(b), max)
	}
	return nil
}

// Encrypt encrypts with the primary version of a key (or the named version)
// and returns a ciphertext that names its version, and that version's name.
func (s *Service) Encrypt(ctx context.Context, name string, plaintext, aad []byte) (ciphertext []byte, version string, err error) {
	n, err := keyOrVersion("name", name)
	if err != nil {
		return nil, "", err
	}
	err = s.call(ctx, "Encrypt", PermUseToEncrypt, n, true, func() error {
		ciphertext, version, err = s.seal(ctx, n, envelope.KindEncrypt, alg.EncryptDecrypt, plaintext, aad)
		return err
	})
	return ciphertext, version, err
}

func (s *Service) seal(ctx context.Context, n resource.Name, kind envelope.Kind, p alg.Purpose, plaintext, aad []byte) ([]byte, string, error) {
	if err := checkSize("plaintext", plaintext, MaxPlaintext); err != nil {
		return nil, "", err
	}
	if err := checkSize("additional_authenticated_data", aad, MaxAAD); err != nil {
		return nil, "", err
	}
	k, lv, err := s.usable(ctx, n, p)
	if err != nil {
		return nil, "", err
	}
	if lv, err = s.spendOrRotate(ctx, n.Key(), lv, n.Kind == resource.KindCryptoKeyVersion); err != nil {
		return nil, "", err
	}
	vn, _ := resource.Parse(lv.v.Name)
	return envelope.Seal(lv.prim.aead, kind, uint64(vn.Version), k.Name, plaintext, aad), lv.v.Name, nil
}

// Decrypt decrypts a ciphertext made by Encrypt with any version of the key.
// usedPrimary says whether that version is the key's primary.
func (s *Service) Decrypt(ctx context.Context, name string, ciphertext, aad []byte) (plaintext []byte, usedPrimary bool, err error) {
	n, err := parseName("name", name, resource.KindCryptoKey)
	if err != nil {
		return nil, false, err
	}
	err = s.call(ctx, "Decrypt", PermUseToDecrypt, n, true, func() error {
		var version int64
		plaintext, version, err = s.open(ctx, n, envelope.KindEncrypt, ciphertext, aad)
		if err == nil {
			k, _ := s.loadKey(ctx, n)
			usedPrimary = k != nil && k.Primary == version
		}
		return err
	})
	return plaintext, usedPrimary, err
}

// errBadCiphertext is the one answer to every ciphertext that does not
// decrypt: no detail that would help an attacker probe.
func errBadCiphertext() error {
	return kmserr.InvalidArgument("ciphertext", "decryption failed: the ciphertext is invalid, was made by another key, or the additional authenticated data does not match")
}

func (s *Service) open(ctx context.Context, n resource.Name, kind envelope.Kind, ciphertext, aad []byte) ([]byte, int64, error) {
	if err := checkSize("ciphertext", ciphertext, MaxCiphertext); err != nil {
		return nil, 0, err
	}
	if err := checkSize("additional_authenticated_data", aad, MaxAAD); err != nil {
		return nil, 0, err
	}
	gotKind, version, err := envelope.Parse(ciphertext)
	if err != nil {
		return nil, 0, errBadCiphertext()
	}
	if gotKind != kind {
		return nil, 0, kmserr.InvalidArgument("ciphertext", "is not a ciphertext of this operation (it was made by another kind of call)")
	}
	// A version the key never had means the ciphertext is not this key's.
	k, err := s.loadKey(ctx, n)
	if err != nil {
		return nil, 0, err
	}
	if k.Purpose == alg.EncryptDecrypt && int64(version) > k.LastVersion {
		return nil, 0, errBadCiphertext()
	}
	k, lv, err := s.usable(ctx, n.VersionName(int64(version)), alg.EncryptDecrypt)
	if err != nil {
		return nil, 0, err
	}
	pt, err := envelope.Open(lv.prim.aead, kind, k.Name, ciphertext, aad)
	if err != nil {
		return nil, 0, errBadCiphertext()
	}
	return pt, int64(version), nil
}

// RawEncrypt encrypts with AES-GCM under a RAW_ENCRYPT_DECRYPT version and
// returns the ciphertext (tag appended) and the IV it generated. Custos does
// not accept a caller's IV for GCM: a repeated IV breaks GCM.
func (s *Service) RawEncrypt(ctx context.Context, name string, plaintext, aad, iv []byte) (ciphertext, outIV []byte, version string, err error) {
	n, err := keyOrVersion("name", name)
	if err != nil {
		return nil, nil, "", err
	}
	err = s.call(ctx, "RawEncrypt", PermUseToEncrypt, n, true, func() error {
		if len(iv) != 0 {
			return kmserr.InvalidArgument("initialization_vector", "must be empty for AES-GCM: Custos generates a fresh IV for every encryption")
		}
		if err := checkSize("plaintext", plaintext, MaxPlaintext); err != nil {
			return err
		}
		if err := checkSize("additional_authenticated_data", aad, MaxAAD); err != nil {
			return err
		}
		_, lv, err := s.usable(ctx, n, alg.RawEncryptDecrypt)
		if err != nil {
			return err
		}
		if lv, err = s.spendOrRotate(ctx, n.Key(), lv, n.Kind == resource.KindCryptoKeyVersion); err != nil {
			return err
		}
		outIV, ciphertext = lv.prim.aead.SealRaw(plaintext, aad)
		version = lv.v.Name
		return nil
	})
	return ciphertext, outIV, version, err
}

// RawDecrypt reverses RawEncrypt. tagLength must be 16 (or 0 for the default).
func (s *Service) RawDecrypt(ctx context.Context, name string, ciphertext, aad, iv []byte, tagLength int) (plaintext []byte, version string, err error) {
	n, err := keyOrVersion("name", name)
	if err != nil {
		return nil, "", err
	}
	err = s.call(ctx, "RawDecrypt", PermUseToDecrypt, n, true, func() error {
		if tagLength != 0 && tagLength != 16 {
			return kmserr.InvalidArgument("tag_length", "must be 16 for AES-GCM")
		}
		if len(iv) != 12 {
			return kmserr.InvalidArgument("initialization_vector", "must be 12 bytes for AES-GCM")
		}
		if err := checkSize("ciphertext", ciphertext, MaxPlaintext+16); err != nil {
			return err
		}
		if err := checkSize("additional_authenticated_data", aad, MaxAAD); err != nil {
			return err
		}
		_, lv, err := s.usable(ctx, n, alg.RawEncryptDecrypt)
		if err != nil {
			return err
		}
		plaintext, err = lv.prim.aead.OpenRaw(iv, ciphertext, aad)
		if err != nil {
			return errBadCiphertext()
		}
		version = lv.v.Name
		return nil
	})
	return plaintext, version, err
}

// SignRequest is an AsymmetricSign call: either Digest (with the hash that
// the caller named, from the digest oneof) or Data.
type SignRequest struct {
	Name       string
	Digest     []byte
	DigestHash crypto.Hash
	Data       []byte
}

// AsymmetricSign signs a digest or data with an ASYMMETRIC_SIGN version.
func (s *Service) AsymmetricSign(ctx context.Context, req SignRequest) (sig []byte, version string, err error) {
	n, err := parseName("name", req.Name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, "", err
	}
	err = s.call(ctx, "AsymmetricSign", PermUseToSign, n, true, func() error {
		_, lv, err := s.usable(ctx, n, alg.AsymmetricSign)
		if err != nil {
			return err
		}
		spec, _ := alg.Lookup(lv.v.Algorithm)
		digest, err := signInput(lv.v.Algorithm, spec, req)
		if err != nil {
			return err
		}
		sig, err = signature.Sign(lv.prim.signer, schemeOf(spec), digest)
		if err != nil {
			return kmserr.InvalidArgument("digest", "cannot sign: %v", err)
		}
		version = lv.v.Name
		return nil
	})
	return sig, version, err
}

// signInput checks what the caller sent against the algorithm and returns
// what the signature scheme takes (the digest, or for Ed25519 the message).
func signInput(a alg.Algorithm, spec alg.Spec, req SignRequest) ([]byte, error) {
	hasDigest := req.DigestHash != 0
	switch {
	case hasDigest && len(req.Data) > 0:
		return nil, kmserr.InvalidArgument("data", "give either digest or data, not both")
	case spec.Family == alg.FamilyEd25519:
		if hasDigest {
			return nil, kmserr.InvalidArgument("digest", "%s signs the data itself; send data, not a digest", a)
		}
		if err := checkSize("data", req.Data, MaxSignData); err != nil {
			return nil, err
		}
		return req.Data, nil
	case hasDigest:
		if req.DigestHash != spec.Hash {
			return nil, kmserr.InvalidArgument("digest", "%s needs a %v digest, not %v", a, spec.Hash, req.DigestHash)
		}
		if len(req.Digest) != spec.Hash.Size() {
			return nil, kmserr.InvalidArgument("digest", "a %v digest is %d bytes, not %d", spec.Hash, spec.Hash.Size(), len(req.Digest))
		}
		return req.Digest, nil
	default:
		if err := checkSize("data", req.Data, MaxSignData); err != nil {
			return nil, err
		}
		h := spec.Hash.New()
		h.Write(req.Data)
		return h.Sum(nil), nil
	}
}

func schemeOf(spec alg.Spec) signature.Scheme {
	switch spec.Family {
	case alg.FamilyECDSA:
		if spec.Bits == 384 {
			return signature.ECDSAP384SHA384
		}
		return signature.ECDSAP256SHA256
	case alg.FamilyEd25519:
		return signature.Ed25519
	case alg.FamilyRSAPSS:
		if spec.Hash == crypto.SHA512 {
			return signature.RSAPSSSHA512
		}
		return signature.RSAPSSSHA256
	default:
		if spec.Hash == crypto.SHA512 {
			return signature.RSAPKCS1SHA512
		}
		return signature.RSAPKCS1SHA256
	}
}

// AsymmetricDecrypt decrypts an RSA-OAEP ciphertext with an
// ASYMMETRIC_DECRYPT version.
func (s *Service) AsymmetricDecrypt(ctx context.Context, name string, ciphertext []byte) (plaintext []byte, version string, err error) {
	n, err := parseName("name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, "", err
	}
	err = s.call(ctx, "AsymmetricDecrypt", PermUseToDecrypt, n, true, func() error {
		_, lv, err := s.usable(ctx, n, alg.AsymmetricDecrypt)
		if err != nil {
			return err
		}
		spec, _ := alg.Lookup(lv.v.Algorithm)
		if len(ciphertext) != spec.Bits/8 {
			return kmserr.InvalidArgument("ciphertext", "must be %d bytes for %s", spec.Bits/8, lv.v.Algorithm)
		}
		plaintext, err = oaep.Decrypt(lv.prim.rsa, spec.Hash, ciphertext, nil)
		if err != nil {
			return errBadCiphertext()
		}
		version = lv.v.Name
		return nil
	})
	return plaintext, version, err
}

// MacSign computes an HMAC tag with a MAC version.
func (s *Service) MacSign(ctx context.Context, name string, data []byte) (tag []byte, version string, err error) {
	n, err := parseName("name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, "", err
	}
	err = s.call(ctx, "MacSign", PermUseToSign, n, true, func() error {
		if err := checkSize("data", data, MaxSignData); err != nil {
			return err
		}
		_, lv, err := s.usable(ctx, n, alg.MAC)
		if err != nil {
			return err
		}
		spec, _ := alg.Lookup(lv.v.Algorithm)
		tag = mac.Sign(spec.Hash, lv.prim.hmac, data)
		version = lv.v.Name
		return nil
	})
	return tag, version, err
}

// MacVerify checks an HMAC tag with a MAC version. A wrong tag is not an
// error: ok is false.
func (s *Service) MacVerify(ctx context.Context, name string, data, tag []byte) (ok bool, version string, err error) {
	n, err := parseName("name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return false, "", err
	}
	err = s.call(ctx, "MacVerify", PermUseToVerify, n, true, func() error {
		if err := checkSize("data", data, MaxSignData); err != nil {
			return err
		}
		if err := checkSize("mac", tag, 64); err != nil {
			return err
		}
		_, lv, err := s.usable(ctx, n, alg.MAC)
		if err != nil {
			return err
		}
		spec, _ := alg.Lookup(lv.v.Algorithm)
		ok = mac.Verify(spec.Hash, lv.prim.hmac, data, tag)
		version = lv.v.Name
		return nil
	})
	return ok, version, err
}

// GetPublicKey returns the public key of an asymmetric version as PEM.
func (s *Service) GetPublicKey(ctx context.Context, name string) (*PublicKey, error) {
	n, err := parseName("name", name, resource.KindCryptoKeyVersion)
	if err != nil {
		return nil, err
	}
	var out *PublicKey
	err = s.call(ctx, "GetPublicKey", PermVersionsViewPublicKey, n, true, func() error {
		k, err := s.loadKey(ctx, n.Key())
		if err != nil {
			return err
		}
		if k.Purpose != alg.AsymmetricSign && k.Purpose != alg.AsymmetricDecrypt {
			return kmserr.FailedPrecondition("CryptoKey %s has purpose %s: it has no public key", k.Name, k.Purpose)
		}
		_, lv, err := s.usable(ctx, n, k.Purpose)
		if err != nil {
			return err
		}
		var pub crypto.PublicKey
		if lv.prim.rsa != nil {
			pub = lv.prim.rsa.Public()
		} else {
			pub = lv.prim.signer.Public()
		}
		pemText, err := asym.PublicPEM(pub)
		if err != nil {
			return kmserr.Internal(err, "cannot encode the public key")
		}
		out = &PublicKey{Name: lv.v.Name, PEM: pemText, Algorithm: lv.v.Algorithm, ProtectionLevel: lv.v.ProtectionLevel}
		return nil
	})
	return out, err
}

// GenerateRandomBytes returns n random bytes from crypto/rand. Protection
// level HSM is accepted (clients ask for it) and served from crypto/rand
// until an HSM backend exists.
func (s *Service) GenerateRandomBytes(ctx context.Context, location string, n int, level string) ([]byte, error) {
	loc, err := parseName("location", location, resource.KindLocation)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.call(ctx, "GenerateRandomBytes", PermGenerateRandomBytes, loc, true, func() error {
		if n < 8 || n > 1024 {
			return kmserr.InvalidArgument("length_bytes", "must be between 8 and 1024, not %d", n)
		}
		switch level {
		case "", Software, HSM:
		default:
			return kmserr.InvalidArgument("protection_level", "must be HSM or SOFTWARE, not %s", level)
		}
		out = make([]byte, n)
		_, err := rand.Read(out)
		return err
	})
	return out, err
}
