// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"crypto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// versionStates lists a key's versions as name -> state.
func versionStates(t *testing.T, c client, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range listVersions(t, testContext(t), c.kms, &kmspb.ListCryptoKeyVersionsRequest{Parent: key}) {
		v, err := c.kms.GetCryptoKeyVersion(testContext(t), &kmspb.GetCryptoKeyVersionRequest{Name: name})
		if err != nil {
			t.Fatalf("GetCryptoKeyVersion(%s) = %v", name, err)
		}
		out[name] = v.GetState().String()
	}
	return out
}

// TestRestartKeepsEverything stops a server with SIGTERM and starts another
// on the same data folder: rings, keys, versions, states, labels, the admin
// token and the key material are all still there.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServerIn(t, dir)
	c1 := client{"grpc", s1.grpcClient(t)}
	ctx := testContext(t)

	ring, err := c1.kms.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/restart/locations/global", KeyRingId: "r"})
	if err != nil {
		t.Fatalf("CreateKeyRing = %v", err)
	}
	e := &apiEnv{c: c1.kms, ring: ring.GetName(), keys: map[string]*kmspb.CryptoKey{}}
	sym := e.createKey(t, ctx, "sym", &kmspb.CryptoKey{Purpose: encryptDecrypt, Labels: map[string]string{"keep": "me"}}, false).GetName()
	pt, aad := []byte("survives a restart"), []byte("aad")
	ct1 := e.encrypt(t, ctx, sym, pt, aad).GetCiphertext()
	if _, err := c1.kms.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: sym}); err != nil {
		t.Fatalf("CreateCryptoKeyVersion(%s) = %v", sym, err)
	}
	if _, err := c1.kms.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: sym}); err != nil {
		t.Fatalf("CreateCryptoKeyVersion(%s) = %v", sym, err)
	}
	if _, err := c1.kms.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: sym, CryptoKeyVersionId: "2"}); err != nil {
		t.Fatalf("UpdateCryptoKeyPrimaryVersion(%s, 2) = %v", sym, err)
	}
	e.setState(t, ctx, versionName(sym, 3), disabled)
	ct2 := e.encrypt(t, ctx, sym, pt, aad).GetCiphertext()

	sign := e.createKey(t, ctx, "sign", &kmspb.CryptoKey{Purpose: asymmetricSign,
		VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256}}, false).GetName()
	signV1 := versionName(sign, 1)
	_, pk1 := getPublicKey(t, ctx, c1.kms, signV1)
	mac := e.createKey(t, ctx, "mac", &kmspb.CryptoKey{Purpose: macPurpose,
		VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_HMAC_SHA256}}, false).GetName()
	tag, err := c1.kms.MacSign(ctx, &kmspb.MacSignRequest{Name: versionName(mac, 1), Data: pt})
	if err != nil {
		t.Fatalf("MacSign = %v", err)
	}
	wantStates := versionStates(t, c1, sym)

	if err := s1.stop(t); err != nil {
		t.Fatalf("custos after SIGTERM exited with %v, want status 0", err)
	}
	s2 := startServerIn(t, dir)
	if s2.token != s1.token {
		t.Errorf("admin token after restart = %q, want the same token %q", s2.token, s1.token)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "admin-token")); err != nil || string(b) != s1.token+"\n" {
		t.Errorf("admin-token after restart = %q, %v; want %q", b, err, s1.token+"\n")
	}

	// The first server was driven over gRPC; the second is read over both
	// surfaces, so that what one wrote the other reads.
	for _, c2 := range s2.clients(t) {
		t.Run(c2.name, func(t *testing.T) {
			ctx := testContext(t)
			e2 := &apiEnv{c: c2.kms}
			if _, err := c2.kms.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: ring.GetName()}); err != nil {
				t.Errorf("GetKeyRing(%s) after restart = %v", ring.GetName(), err)
			}
			k, err := c2.kms.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: sym})
			if err != nil {
				t.Fatalf("GetCryptoKey(%s) after restart = %v", sym, err)
			}
			if k.GetPrimary().GetName() != versionName(sym, 2) || k.GetLabels()["keep"] != "me" {
				t.Errorf("GetCryptoKey(%s) after restart = primary %q labels %v, want version 2 and keep=me", sym, k.GetPrimary().GetName(), k.GetLabels())
			}
			if diff := cmp.Diff(wantStates, versionStates(t, c2, sym)); diff != "" {
				t.Errorf("versions of %s after restart (-before +after):\n%s", sym, diff)
			}
			for i, ct := range [][]byte{ct1, ct2} {
				dec := e2.decrypt(t, ctx, sym, ct, aad)
				if !bytes.Equal(dec.GetPlaintext(), pt) {
					t.Errorf("Decrypt(ciphertext %d from before the restart) = %q, want %q", i+1, dec.GetPlaintext(), pt)
				}
			}
			pub2, pk2 := getPublicKey(t, ctx, c2.kms, signV1)
			if pk2.GetPem() != pk1.GetPem() {
				t.Errorf("GetPublicKey(%s) after restart = %q, want %q", signV1, pk2.GetPem(), pk1.GetPem())
			}
			sig, err := c2.kms.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: signV1, Digest: digestOf(crypto.SHA256, hashOf(crypto.SHA256, pt))})
			if err != nil {
				t.Fatalf("AsymmetricSign(%s) after restart = %v", signV1, err)
			}
			if err := verifySignature(kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, pub2, pt, sig.GetSignature()); err != nil {
				t.Errorf("AsymmetricSign(%s) after restart: %v", signV1, err)
			}
			v, err := c2.kms.MacVerify(ctx, &kmspb.MacVerifyRequest{Name: versionName(mac, 1), Data: pt, Mac: tag.GetMac()})
			if err != nil || !v.GetSuccess() {
				t.Errorf("MacVerify(tag from before the restart) = %v, %v; want success", v, err)
			}
		})
	}
}

// TestMissedRotationRunsOnStart: a key due to rotate while the server was
// down rotates when the server starts again, once.
func TestMissedRotationRunsOnStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServerIn(t, dir)
	c := s1.grpcClient(t)
	ctx := testContext(t)
	ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/missed/locations/global", KeyRingId: "r"})
	if err != nil {
		t.Fatalf("CreateKeyRing = %v", err)
	}
	const period = 48 * time.Hour
	due := time.Now().Add(5 * time.Second).Truncate(time.Millisecond)
	key, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
		Parent: ring.GetName(), CryptoKeyId: "due",
		CryptoKey: &kmspb.CryptoKey{
			Purpose:          encryptDecrypt,
			RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(period)},
			NextRotationTime: timestamppb.New(due),
		},
	})
	if err != nil {
		t.Fatalf("CreateCryptoKey(next rotation in 5s) = %v", err)
	}
	name := key.GetName()
	if err := s1.stop(t); err != nil {
		t.Fatalf("custos after SIGTERM exited with %v, want status 0", err)
	}
	if stopped := time.Now(); !stopped.Before(due) {
		t.Fatalf("the first server took until %v to stop, after the rotation was due (%v): the test proves nothing", stopped, due)
	}
	time.Sleep(time.Until(due) + 500*time.Millisecond)

	s2 := startServerIn(t, dir)
	c2 := s2.grpcClient(t)
	var k *kmspb.CryptoKey
	if !poll(ctx, func() bool {
		k, err = c2.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: name})
		return err == nil && k.GetPrimary().GetName() == versionName(name, 2)
	}) {
		t.Fatalf("GetCryptoKey(%s) after a restart past its rotation time = primary %q, %v; want version 2 within %v",
			name, k.GetPrimary().GetName(), err, pollTimeout)
	}
	if got := listVersions(t, ctx, c2, &kmspb.ListCryptoKeyVersionsRequest{Parent: name}); len(got) != 2 {
		t.Errorf("versions of %s after the missed rotation = %v, want exactly 2 (one rotation)", name, got)
	}
	if nrt := k.GetNextRotationTime().AsTime(); !nrt.Equal(due.Add(period)) {
		t.Errorf("GetCryptoKey(%s).NextRotationTime = %v, want %v (the missed time plus one period)", name, nrt, due.Add(period))
	}
	if ct := k.GetPrimary().GetCreateTime().AsTime(); ct.Before(due) {
		t.Errorf("version 2 of %s was created at %v, before the rotation was due (%v)", name, ct, due)
	}
}
