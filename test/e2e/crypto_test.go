// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// algInfo is what the tests need to know of an asymmetric algorithm.
type algInfo struct {
	hash  crypto.Hash // 0 for Ed25519 (it signs the message)
	check func(pub crypto.PublicKey) error
	pss   bool
}

func ecCurve(c elliptic.Curve) func(crypto.PublicKey) error {
	return func(pub crypto.PublicKey) error {
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != c {
			return fmt.Errorf("public key is %T, want an ECDSA %s key", pub, c.Params().Name)
		}
		return nil
	}
}

func rsaBits(bits int) func(crypto.PublicKey) error {
	return func(pub crypto.PublicKey) error {
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k.N.BitLen() != bits {
			return fmt.Errorf("public key is %T, want an RSA-%d key", pub, bits)
		}
		return nil
	}
}

func isEd25519(pub crypto.PublicKey) error {
	if _, ok := pub.(ed25519.PublicKey); !ok {
		return fmt.Errorf("public key is %T, want Ed25519", pub)
	}
	return nil
}

var algInfos = map[algorithm]algInfo{
	kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256:          {hash: crypto.SHA256, check: ecCurve(elliptic.P256())},
	kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384:          {hash: crypto.SHA384, check: ecCurve(elliptic.P384())},
	kmspb.CryptoKeyVersion_EC_SIGN_ED25519:              {check: isEd25519},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256:     {hash: crypto.SHA256, check: rsaBits(2048), pss: true},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_3072_SHA256:     {hash: crypto.SHA256, check: rsaBits(3072), pss: true},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256:   {hash: crypto.SHA256, check: rsaBits(2048)},
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA256: {hash: crypto.SHA256, check: rsaBits(2048)},
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA1:   {hash: crypto.SHA1, check: rsaBits(2048)},
	kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_4096_SHA256: {hash: crypto.SHA256, check: rsaBits(4096)},
}

func hashOf(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA1:
		s := sha1.Sum(msg)
		return s[:]
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(msg)
		return s[:]
	}
	panic(fmt.Sprintf("no hash %v", h))
}

// digestOf builds the Digest message for h.
func digestOf(h crypto.Hash, d []byte) *kmspb.Digest {
	switch h {
	case crypto.SHA256:
		return &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: d}}
	case crypto.SHA384:
		return &kmspb.Digest{Digest: &kmspb.Digest_Sha384{Sha384: d}}
	case crypto.SHA512:
		return &kmspb.Digest{Digest: &kmspb.Digest_Sha512{Sha512: d}}
	}
	panic(fmt.Sprintf("no digest for %v", h))
}

// verifySignature checks sig over msg with Go's own implementations.
func verifySignature(a algorithm, pub crypto.PublicKey, msg, sig []byte) error {
	info := algInfos[a]
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, hashOf(info.hash, msg), sig) {
			return fmt.Errorf("ECDSA signature does not verify")
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return fmt.Errorf("Ed25519 signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if info.pss {
			// Cloud KMS signs RSA-PSS with a salt as long as the digest.
			return rsa.VerifyPSS(k, info.hash, hashOf(info.hash, msg), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, info.hash, hashOf(info.hash, msg), sig)
	}
	return fmt.Errorf("unexpected public key %T", pub)
}

// getPublicKey fetches and parses the public key of a version, and checks
// the PEM checksum.
func getPublicKey(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, version string) (crypto.PublicKey, *kmspb.PublicKey) {
	t.Helper()
	pk, err := c.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: version})
	if err != nil {
		t.Fatalf("GetPublicKey(%s) = %v, want success", version, err)
	}
	block, rest := pem.Decode([]byte(pk.GetPem()))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("GetPublicKey(%s).Pem = %q, want one PUBLIC KEY block", version, pk.GetPem())
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("GetPublicKey(%s): x509.ParsePKIXPublicKey = %v", version, err)
	}
	if got, want := pk.GetPemCrc32C().GetValue(), crc32c([]byte(pk.GetPem())); pk.GetPemCrc32C() == nil || got != want {
		t.Errorf("GetPublicKey(%s).PemCrc32C = %v, want %d", version, pk.GetPemCrc32C(), want)
	}
	return pub, pk
}

func (e *apiEnv) testGetPublicKey(t *testing.T, specs []keySpec) {
	ctx := testContext(t)
	for _, ks := range specs {
		if ks.purpose != asymmetricSign && ks.purpose != asymmetricDecrypt {
			continue
		}
		t.Run(ks.want.String(), func(t *testing.T) {
			version := versionName(e.key(t, ks.id).GetName(), 1)
			pub, pk := getPublicKey(t, ctx, e.c, version)
			if err := algInfos[ks.want].check(pub); err != nil {
				t.Errorf("GetPublicKey(%s): %v", version, err)
			}
			if pk.GetAlgorithm() != ks.want || pk.GetName() != version || pk.GetProtectionLevel() != kmspb.ProtectionLevel_SOFTWARE {
				t.Errorf("GetPublicKey(%s) = name %q algorithm %v level %v, want %s %v SOFTWARE",
					version, pk.GetName(), pk.GetAlgorithm(), pk.GetProtectionLevel(), version, ks.want)
			}
		})
	}
	t.Run("symmetric key has no public key: FailedPrecondition", func(t *testing.T) {
		name := versionName(e.key(t, "symmetric_default").GetName(), 1)
		_, err := e.c.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: name})
		wantCode(t, "GetPublicKey("+name+")", err, codes.FailedPrecondition)
	})
}

func (e *apiEnv) testGenerateRandomBytes(t *testing.T) {
	ctx := testContext(t)
	levels := []kmspb.ProtectionLevel{kmspb.ProtectionLevel_HSM, kmspb.ProtectionLevel_SOFTWARE, kmspb.ProtectionLevel_PROTECTION_LEVEL_UNSPECIFIED}
	for _, level := range levels {
		for _, n := range []int32{8, 32, 1024} {
			t.Run(fmt.Sprintf("%d bytes at %v", n, level), func(t *testing.T) {
				resp, err := e.c.GenerateRandomBytes(ctx, &kmspb.GenerateRandomBytesRequest{Location: e.loc, LengthBytes: n, ProtectionLevel: level})
				if err != nil {
					t.Fatalf("GenerateRandomBytes(%d, %v) = %v, want success", n, level, err)
				}
				if len(resp.GetData()) != int(n) {
					t.Errorf("GenerateRandomBytes(%d, %v) returned %d bytes", n, level, len(resp.GetData()))
				}
				if resp.GetDataCrc32C() == nil || resp.GetDataCrc32C().GetValue() != crc32c(resp.GetData()) {
					t.Errorf("GenerateRandomBytes(%d, %v).DataCrc32C = %v, want %d", n, level, resp.GetDataCrc32C(), crc32c(resp.GetData()))
				}
				if n >= 32 && bytes.Equal(resp.GetData(), make([]byte, n)) {
					t.Errorf("GenerateRandomBytes(%d, %v) returned zeros", n, level)
				}
			})
		}
	}
	for _, n := range []int32{7, 1025, 0, -1} {
		t.Run(fmt.Sprintf("%d bytes is InvalidArgument", n), func(t *testing.T) {
			_, err := e.c.GenerateRandomBytes(ctx, &kmspb.GenerateRandomBytesRequest{Location: e.loc, LengthBytes: n, ProtectionLevel: kmspb.ProtectionLevel_HSM})
			wantCode(t, fmt.Sprintf("GenerateRandomBytes(%d)", n), err, codes.InvalidArgument)
		})
	}
	t.Run("two calls differ", func(t *testing.T) {
		var got [2][]byte
		for i := range got {
			resp, err := e.c.GenerateRandomBytes(ctx, &kmspb.GenerateRandomBytesRequest{Location: e.loc, LengthBytes: 32})
			if err != nil {
				t.Fatalf("GenerateRandomBytes(32) = %v", err)
			}
			got[i] = resp.GetData()
		}
		if bytes.Equal(got[0], got[1]) {
			t.Errorf("GenerateRandomBytes(32) returned %x twice", got[0])
		}
	})
}

func (e *apiEnv) encrypt(t *testing.T, ctx context.Context, name string, pt, aad []byte) *kmspb.EncryptResponse {
	t.Helper()
	resp, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{Name: name, Plaintext: pt, AdditionalAuthenticatedData: aad})
	if err != nil {
		t.Fatalf("Encrypt(%s, %q) = %v, want success", name, pt, err)
	}
	return resp
}

func (e *apiEnv) decrypt(t *testing.T, ctx context.Context, name string, ct, aad []byte) *kmspb.DecryptResponse {
	t.Helper()
	resp, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: name, Ciphertext: ct, AdditionalAuthenticatedData: aad})
	if err != nil {
		t.Fatalf("Decrypt(%s) = %v, want success", name, err)
	}
	return resp
}

func (e *apiEnv) testEncryptDecrypt(t *testing.T) {
	ctx := testContext(t)
	key := e.key(t, "symmetric_default").GetName()
	pt, aad := []byte("attack at dawn"), []byte("context: e2e")
	enc := e.encrypt(t, ctx, key, pt, aad)

	t.Run("round trip with AAD", func(t *testing.T) {
		if enc.GetName() != versionName(key, 1) {
			t.Errorf("Encrypt(%s).Name = %q, want %q", key, enc.GetName(), versionName(key, 1))
		}
		if bytes.Contains(enc.GetCiphertext(), pt) {
			t.Errorf("Encrypt(%q) = %x contains the plaintext", pt, enc.GetCiphertext())
		}
		if enc.GetCiphertextCrc32C().GetValue() != crc32c(enc.GetCiphertext()) {
			t.Errorf("Encrypt(%q).CiphertextCrc32C = %v, want %d", pt, enc.GetCiphertextCrc32C(), crc32c(enc.GetCiphertext()))
		}
		if enc.GetVerifiedPlaintextCrc32C() || enc.GetVerifiedAdditionalAuthenticatedDataCrc32C() {
			t.Errorf("Encrypt without checksums reports verified checksums: %v", enc)
		}
		if enc.GetProtectionLevel() != kmspb.ProtectionLevel_SOFTWARE {
			t.Errorf("Encrypt(%q).ProtectionLevel = %v, want SOFTWARE", pt, enc.GetProtectionLevel())
		}
		dec := e.decrypt(t, ctx, key, enc.GetCiphertext(), aad)
		if !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(Encrypt(%q)) = %q, want %q", pt, dec.GetPlaintext(), pt)
		}
		if !dec.GetUsedPrimary() {
			t.Errorf("Decrypt(%s).UsedPrimary = false, want true", key)
		}
		if dec.GetPlaintextCrc32C().GetValue() != crc32c(pt) {
			t.Errorf("Decrypt(%s).PlaintextCrc32C = %v, want %d", key, dec.GetPlaintextCrc32C(), crc32c(pt))
		}
	})

	t.Run("two encryptions differ", func(t *testing.T) {
		again := e.encrypt(t, ctx, key, pt, aad)
		if bytes.Equal(again.GetCiphertext(), enc.GetCiphertext()) {
			t.Errorf("Encrypt(%q) returned the same ciphertext twice", pt)
		}
	})

	t.Run("plaintext of exactly 64 KiB round trips", func(t *testing.T) {
		big := bytes.Repeat([]byte{0xa5}, 64*1024)
		enc := e.encrypt(t, ctx, key, big, aad)
		if dec := e.decrypt(t, ctx, key, enc.GetCiphertext(), aad); !bytes.Equal(dec.GetPlaintext(), big) {
			t.Errorf("Decrypt(Encrypt(64 KiB)) returned %d bytes that differ", len(dec.GetPlaintext()))
		}
	})

	t.Run("empty AAD round trip", func(t *testing.T) {
		enc := e.encrypt(t, ctx, key, pt, nil)
		if dec := e.decrypt(t, ctx, key, enc.GetCiphertext(), nil); !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(Encrypt(%q)) = %q", pt, dec.GetPlaintext())
		}
	})

	t.Run("checksums verified", func(t *testing.T) {
		resp, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{
			Name: key, Plaintext: pt, AdditionalAuthenticatedData: aad,
			PlaintextCrc32C:                   wrapperspb.Int64(crc32c(pt)),
			AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(aad)),
		})
		if err != nil {
			t.Fatalf("Encrypt(%q, with checksums) = %v, want success", pt, err)
		}
		if !resp.GetVerifiedPlaintextCrc32C() || !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C() {
			t.Errorf("Encrypt(%q, with checksums) verified plaintext %v aad %v, want both true", pt,
				resp.GetVerifiedPlaintextCrc32C(), resp.GetVerifiedAdditionalAuthenticatedDataCrc32C())
		}
		if resp.GetCiphertextCrc32C().GetValue() != crc32c(resp.GetCiphertext()) {
			t.Errorf("Encrypt(%q).CiphertextCrc32C = %v, want %d", pt, resp.GetCiphertextCrc32C(), crc32c(resp.GetCiphertext()))
		}
		dec, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{
			Name: key, Ciphertext: resp.GetCiphertext(), AdditionalAuthenticatedData: aad,
			CiphertextCrc32C:                  wrapperspb.Int64(crc32c(resp.GetCiphertext())),
			AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(aad)),
		})
		if err != nil {
			t.Fatalf("Decrypt(with checksums) = %v, want success", err)
		}
		if !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(with checksums) = %q, want %q", dec.GetPlaintext(), pt)
		}
	})

	bad := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"wrong plaintext_crc32c is InvalidArgument", func() error {
			_, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(crc32c(pt) ^ 1)})
			return err
		}, codes.InvalidArgument},
		{"wrong additional_authenticated_data_crc32c is InvalidArgument", func() error {
			_, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt, AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(aad) ^ 1)})
			return err
		}, codes.InvalidArgument},
		{"wrong ciphertext_crc32c is InvalidArgument", func() error {
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: aad, CiphertextCrc32C: wrapperspb.Int64(crc32c(enc.GetCiphertext()) ^ 1)})
			return err
		}, codes.InvalidArgument},
		{"wrong AAD is InvalidArgument", func() error {
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: []byte("context: other")})
			return err
		}, codes.InvalidArgument},
		{"missing AAD is InvalidArgument", func() error {
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: enc.GetCiphertext()})
			return err
		}, codes.InvalidArgument},
		{"flipped ciphertext byte is InvalidArgument", func() error {
			ct := bytes.Clone(enc.GetCiphertext())
			ct[len(ct)-1] ^= 1
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct, AdditionalAuthenticatedData: aad})
			return err
		}, codes.InvalidArgument},
		{"garbage ciphertext is InvalidArgument", func() error {
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: []byte("not a ciphertext")})
			return err
		}, codes.InvalidArgument},
		{"ciphertext of another key is InvalidArgument", func() error {
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: e.key(t, "symmetric_default_empty").GetName(), Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: aad})
			return err
		}, codes.InvalidArgument},
		{"plaintext over 64 KiB is InvalidArgument", func() error {
			_, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: make([]byte, 64*1024+1)})
			return err
		}, codes.InvalidArgument},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, tc.call(), tc.want)
		})
	}

	t.Run("Encrypt with a version name", func(t *testing.T) {
		v1 := versionName(key, 1)
		resp := e.encrypt(t, ctx, v1, pt, aad)
		if resp.GetName() != v1 {
			t.Errorf("Encrypt(%s).Name = %q, want %q", v1, resp.GetName(), v1)
		}
		if dec := e.decrypt(t, ctx, key, resp.GetCiphertext(), aad); !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(Encrypt(%s, %q)) = %q", v1, pt, dec.GetPlaintext())
		}
	})

	t.Run("old ciphertext decrypts after rotation", func(t *testing.T) {
		rot := e.createKey(t, ctx, "rotated", symmetricKey(), false).GetName()
		old := e.encrypt(t, ctx, rot, pt, aad)
		v2, err := e.c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: rot})
		if err != nil {
			t.Fatalf("CreateCryptoKeyVersion(%s) = %v", rot, err)
		}
		if _, err := e.c.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: rot, CryptoKeyVersionId: "2"}); err != nil {
			t.Fatalf("UpdateCryptoKeyPrimaryVersion(%s, 2) = %v", rot, err)
		}
		dec := e.decrypt(t, ctx, rot, old.GetCiphertext(), aad)
		if !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(old ciphertext) = %q, want %q", dec.GetPlaintext(), pt)
		}
		if dec.GetUsedPrimary() {
			t.Errorf("Decrypt(old ciphertext).UsedPrimary = true, want false (version 1 is no longer primary)")
		}
		fresh := e.encrypt(t, ctx, rot, pt, aad)
		if fresh.GetName() != v2.GetName() {
			t.Errorf("Encrypt(%s) after rotation used %q, want %q", rot, fresh.GetName(), v2.GetName())
		}
		if dec := e.decrypt(t, ctx, rot, fresh.GetCiphertext(), aad); !dec.GetUsedPrimary() || !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(new ciphertext) = %q used primary %v, want %q and true", dec.GetPlaintext(), dec.GetUsedPrimary(), pt)
		}
	})
}

func (e *apiEnv) setState(t *testing.T, ctx context.Context, name string, st state) {
	t.Helper()
	_, err := e.c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
		CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: name, State: st},
		UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	})
	if err != nil {
		t.Fatalf("UpdateCryptoKeyVersion(%s, %v) = %v, want success", name, st, err)
	}
}

func (e *apiEnv) testDisabledVersion(t *testing.T) {
	ctx := testContext(t)
	key := e.createKey(t, ctx, "disable_me", symmetricKey(), false).GetName()
	v1 := versionName(key, 1)
	pt := []byte("secret")
	enc := e.encrypt(t, ctx, key, pt, nil)
	e.setState(t, ctx, v1, disabled)

	t.Run("Decrypt with a disabled version is FailedPrecondition", func(t *testing.T) {
		_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: enc.GetCiphertext()})
		wantCode(t, "Decrypt(disabled version)", err, codes.FailedPrecondition)
	})
	t.Run("Encrypt with a disabled primary is FailedPrecondition", func(t *testing.T) {
		_, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt})
		wantCode(t, "Encrypt(disabled primary)", err, codes.FailedPrecondition)
	})
	t.Run("sign with a disabled version is FailedPrecondition", func(t *testing.T) {
		signKey := e.createKey(t, ctx, "disable_sign", &kmspb.CryptoKey{Purpose: asymmetricSign,
			VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256}}, false).GetName()
		sv := versionName(signKey, 1)
		e.setState(t, ctx, sv, disabled)
		_, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: sv, Data: pt})
		wantCode(t, "AsymmetricSign(disabled version)", err, codes.FailedPrecondition)
		_, err = e.c.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: sv})
		wantCode(t, "GetPublicKey(disabled version)", err, codes.FailedPrecondition)
	})
	t.Run("enabled again, Decrypt works", func(t *testing.T) {
		e.setState(t, ctx, v1, enabled)
		if dec := e.decrypt(t, ctx, key, enc.GetCiphertext(), nil); !bytes.Equal(dec.GetPlaintext(), pt) {
			t.Errorf("Decrypt(re-enabled) = %q, want %q", dec.GetPlaintext(), pt)
		}
	})
}

func (e *apiEnv) testRawEncryptDecrypt(t *testing.T) {
	ctx := testContext(t)
	for _, id := range []string{"aes_128_gcm", "aes_256_gcm"} {
		t.Run(id, func(t *testing.T) {
			version := versionName(e.key(t, id).GetName(), 1)
			pt, aad := []byte("raw plaintext"), []byte("raw aad")
			enc, err := e.c.RawEncrypt(ctx, &kmspb.RawEncryptRequest{
				Name: version, Plaintext: pt, AdditionalAuthenticatedData: aad,
				PlaintextCrc32C: wrapperspb.Int64(crc32c(pt)),
			})
			if err != nil {
				t.Fatalf("RawEncrypt(%s, %q) = %v, want success", version, pt, err)
			}
			if len(enc.GetInitializationVector()) != 12 {
				t.Errorf("RawEncrypt(%s).InitializationVector = %x, want 12 bytes", version, enc.GetInitializationVector())
			}
			if enc.GetTagLength() != 16 {
				t.Errorf("RawEncrypt(%s).TagLength = %d, want 16", version, enc.GetTagLength())
			}
			if len(enc.GetCiphertext()) != len(pt)+16 {
				t.Errorf("RawEncrypt(%s) ciphertext is %d bytes, want %d (plaintext + tag)", version, len(enc.GetCiphertext()), len(pt)+16)
			}
			if enc.GetName() != version || !enc.GetVerifiedPlaintextCrc32C() {
				t.Errorf("RawEncrypt(%s) = name %q verified plaintext crc %v, want %s and true", version, enc.GetName(), enc.GetVerifiedPlaintextCrc32C(), version)
			}
			if enc.GetCiphertextCrc32C().GetValue() != crc32c(enc.GetCiphertext()) ||
				enc.GetInitializationVectorCrc32C().GetValue() != crc32c(enc.GetInitializationVector()) {
				t.Errorf("RawEncrypt(%s) checksums %v %v do not match the ciphertext and IV", version, enc.GetCiphertextCrc32C(), enc.GetInitializationVectorCrc32C())
			}
			dec, err := e.c.RawDecrypt(ctx, &kmspb.RawDecryptRequest{
				Name: version, Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: aad,
				InitializationVector: enc.GetInitializationVector(), TagLength: 16,
			})
			if err != nil {
				t.Fatalf("RawDecrypt(%s) = %v, want success", version, err)
			}
			if !bytes.Equal(dec.GetPlaintext(), pt) {
				t.Errorf("RawDecrypt(RawEncrypt(%q)) = %q", pt, dec.GetPlaintext())
			}
			_, err = e.c.RawDecrypt(ctx, &kmspb.RawDecryptRequest{
				Name: version, Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: []byte("other"),
				InitializationVector: enc.GetInitializationVector(), TagLength: 16,
			})
			wantCode(t, "RawDecrypt(wrong AAD)", err, codes.InvalidArgument)
			_, err = e.c.RawDecrypt(ctx, &kmspb.RawDecryptRequest{
				Name: version, Ciphertext: enc.GetCiphertext(), AdditionalAuthenticatedData: aad,
				InitializationVector: make([]byte, 12), TagLength: 16,
			})
			wantCode(t, "RawDecrypt(wrong IV)", err, codes.InvalidArgument)
		})
	}
}

func (e *apiEnv) testAsymmetricSign(t *testing.T, specs []keySpec) {
	ctx := testContext(t)
	msg := []byte("message to sign")
	for _, ks := range specs {
		if ks.purpose != asymmetricSign {
			continue
		}
		info := algInfos[ks.want]
		version := versionName(e.key(t, ks.id).GetName(), 1)
		t.Run(ks.want.String(), func(t *testing.T) {
			pub, _ := getPublicKey(t, ctx, e.c, version)
			if info.hash != 0 {
				t.Run("digest", func(t *testing.T) {
					d := hashOf(info.hash, msg)
					resp, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{
						Name: version, Digest: digestOf(info.hash, d), DigestCrc32C: wrapperspb.Int64(crc32c(d)),
					})
					if err != nil {
						t.Fatalf("AsymmetricSign(%s, digest) = %v, want success", version, err)
					}
					if err := verifySignature(ks.want, pub, msg, resp.GetSignature()); err != nil {
						t.Errorf("AsymmetricSign(%s, digest): %v", version, err)
					}
					if !resp.GetVerifiedDigestCrc32C() || resp.GetSignatureCrc32C().GetValue() != crc32c(resp.GetSignature()) || resp.GetName() != version {
						t.Errorf("AsymmetricSign(%s) = verified digest crc %v, signature crc %v, name %q; want true, %d, %s",
							version, resp.GetVerifiedDigestCrc32C(), resp.GetSignatureCrc32C(), resp.GetName(), crc32c(resp.GetSignature()), version)
					}
				})
				t.Run("digest of the wrong length is InvalidArgument", func(t *testing.T) {
					d := hashOf(info.hash, msg)
					_, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: version, Digest: digestOf(info.hash, d[:len(d)-1])})
					wantCode(t, "AsymmetricSign(short digest)", err, codes.InvalidArgument)
				})
				t.Run("digest of the wrong hash is InvalidArgument", func(t *testing.T) {
					other := crypto.SHA512
					if info.hash == crypto.SHA512 {
						other = crypto.SHA256
					}
					_, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: version, Digest: digestOf(other, hashOf(other, msg))})
					wantCode(t, fmt.Sprintf("AsymmetricSign(%v digest)", other), err, codes.InvalidArgument)
				})
				t.Run("wrong digest_crc32c is InvalidArgument", func(t *testing.T) {
					d := hashOf(info.hash, msg)
					_, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: version, Digest: digestOf(info.hash, d), DigestCrc32C: wrapperspb.Int64(crc32c(d) ^ 1)})
					wantCode(t, "AsymmetricSign(wrong digest crc)", err, codes.InvalidArgument)
				})
			} else {
				t.Run("a digest is InvalidArgument", func(t *testing.T) {
					d := hashOf(crypto.SHA512, msg)
					_, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: version, Digest: digestOf(crypto.SHA512, d)})
					wantCode(t, "AsymmetricSign(Ed25519 with a digest)", err, codes.InvalidArgument)
				})
			}
			t.Run("data", func(t *testing.T) {
				resp, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: version, Data: msg, DataCrc32C: wrapperspb.Int64(crc32c(msg))})
				if err != nil {
					t.Fatalf("AsymmetricSign(%s, data) = %v, want success", version, err)
				}
				if err := verifySignature(ks.want, pub, msg, resp.GetSignature()); err != nil {
					t.Errorf("AsymmetricSign(%s, data): %v", version, err)
				}
				if !resp.GetVerifiedDataCrc32C() {
					t.Errorf("AsymmetricSign(%s, data).VerifiedDataCrc32C = false, want true", version)
				}
				if err := verifySignature(ks.want, pub, []byte("another message"), resp.GetSignature()); err == nil {
					t.Errorf("AsymmetricSign(%s) signature also verifies another message", version)
				}
			})
		})
	}
	t.Run("sign with a symmetric key is FailedPrecondition", func(t *testing.T) {
		name := versionName(e.key(t, "symmetric_default").GetName(), 1)
		_, err := e.c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: name, Data: msg})
		wantCode(t, "AsymmetricSign("+name+")", err, codes.FailedPrecondition)
	})
}

func (e *apiEnv) testAsymmetricDecrypt(t *testing.T, specs []keySpec) {
	ctx := testContext(t)
	msg := []byte("a data key, say")
	for _, ks := range specs {
		if ks.purpose != asymmetricDecrypt {
			continue
		}
		version := versionName(e.key(t, ks.id).GetName(), 1)
		t.Run(ks.want.String(), func(t *testing.T) {
			pub, _ := getPublicKey(t, ctx, e.c, version)
			rsaPub, ok := pub.(*rsa.PublicKey)
			if !ok {
				t.Fatalf("GetPublicKey(%s) is %T, want RSA", version, pub)
			}
			h := algInfos[ks.want].hash.New()
			ct, err := rsa.EncryptOAEP(h, rand.Reader, rsaPub, msg, nil)
			if err != nil {
				t.Fatalf("rsa.EncryptOAEP: %v", err)
			}
			resp, err := e.c.AsymmetricDecrypt(ctx, &kmspb.AsymmetricDecryptRequest{Name: version, Ciphertext: ct, CiphertextCrc32C: wrapperspb.Int64(crc32c(ct))})
			if err != nil {
				t.Fatalf("AsymmetricDecrypt(%s) = %v, want success", version, err)
			}
			if !bytes.Equal(resp.GetPlaintext(), msg) {
				t.Errorf("AsymmetricDecrypt(%s) = %q, want %q", version, resp.GetPlaintext(), msg)
			}
			if !resp.GetVerifiedCiphertextCrc32C() || resp.GetPlaintextCrc32C().GetValue() != crc32c(msg) {
				t.Errorf("AsymmetricDecrypt(%s) = verified ciphertext crc %v, plaintext crc %v; want true, %d",
					version, resp.GetVerifiedCiphertextCrc32C(), resp.GetPlaintextCrc32C(), crc32c(msg))
			}
			bad := bytes.Clone(ct)
			bad[len(bad)/2] ^= 0x40
			_, err = e.c.AsymmetricDecrypt(ctx, &kmspb.AsymmetricDecryptRequest{Name: version, Ciphertext: bad})
			wantCode(t, "AsymmetricDecrypt(flipped ciphertext)", err, codes.InvalidArgument)
		})
	}
}

func (e *apiEnv) testMac(t *testing.T) {
	ctx := testContext(t)
	version := versionName(e.key(t, "hmac_sha256").GetName(), 1)
	data := []byte("authenticate me")
	sign, err := e.c.MacSign(ctx, &kmspb.MacSignRequest{Name: version, Data: data, DataCrc32C: wrapperspb.Int64(crc32c(data))})
	if err != nil {
		t.Fatalf("MacSign(%s, %q) = %v, want success", version, data, err)
	}
	if len(sign.GetMac()) != 32 || !sign.GetVerifiedDataCrc32C() || sign.GetMacCrc32C().GetValue() != crc32c(sign.GetMac()) || sign.GetName() != version {
		t.Errorf("MacSign(%s) = %v, want a 32-byte tag with matching checksums", version, sign)
	}
	flipped := bytes.Clone(sign.GetMac())
	flipped[0] ^= 1
	cases := []struct {
		name string
		data []byte
		mac  []byte
		want bool
	}{
		{"right tag verifies", data, sign.GetMac(), true},
		{"flipped tag does not verify", data, flipped, false},
		{"other data does not verify", []byte("authenticate you"), sign.GetMac(), false},
		{"truncated tag does not verify", data, sign.GetMac()[:16], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.c.MacVerify(ctx, &kmspb.MacVerifyRequest{Name: version, Data: tc.data, Mac: tc.mac})
			if err != nil {
				t.Fatalf("MacVerify(%s, %q) = %v, want success", version, tc.data, err)
			}
			if resp.GetSuccess() != tc.want {
				t.Errorf("MacVerify(%s, %q, %x).Success = %v, want %v", version, tc.data, tc.mac, resp.GetSuccess(), tc.want)
			}
			if resp.GetVerifiedSuccessIntegrity() != resp.GetSuccess() {
				t.Errorf("MacVerify.VerifiedSuccessIntegrity = %v, want it equal to Success (%v)", resp.GetVerifiedSuccessIntegrity(), resp.GetSuccess())
			}
		})
	}
}
