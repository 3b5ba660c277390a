// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestSignaturesVerifyWithOpenSSL checks signatures with an implementation
// that shares no code with Custos or Go: the openssl command line.
func TestSignaturesVerifyWithOpenSSL(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	s := startServer(t)
	c := s.grpcClient(t)
	ctx := testContext(t)
	ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/openssl/locations/global", KeyRingId: "openssl"})
	if err != nil {
		t.Fatalf("CreateKeyRing = %v", err)
	}
	data := []byte("signed by custos, checked by openssl\n")

	cases := []struct {
		name   string
		alg    algorithm
		digest bool // sign a SHA-256 digest rather than the data
		verify []string
	}{
		{"EC P-256 digest", kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, true,
			[]string{"dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "data"}},
		{"RSA-PSS-2048 digest", kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256, true,
			[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-verify", "pub.pem", "-signature", "sig", "data"}},
		{"RSA-PKCS1-2048 data", kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256, false,
			[]string{"dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "data"}},
		{"Ed25519 data", kmspb.CryptoKeyVersion_EC_SIGN_ED25519, false,
			[]string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "data", "-sigfile", "sig"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, err := c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
				Parent: ring.GetName(), CryptoKeyId: tc.alg.String(),
				CryptoKey: &kmspb.CryptoKey{Purpose: asymmetricSign, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: tc.alg}},
			})
			if err != nil {
				t.Fatalf("CreateCryptoKey(%v) = %v", tc.alg, err)
			}
			version := versionName(key.GetName(), 1)
			_, pk := getPublicKey(t, ctx, c, version)
			req := &kmspb.AsymmetricSignRequest{Name: version, Data: data}
			if tc.digest {
				d := hashOf(algInfos[tc.alg].hash, data)
				req = &kmspb.AsymmetricSignRequest{Name: version, Digest: digestOf(algInfos[tc.alg].hash, d), DigestCrc32C: wrapperspb.Int64(crc32c(d))}
			}
			resp, err := c.AsymmetricSign(ctx, req)
			if err != nil {
				t.Fatalf("AsymmetricSign(%s) = %v", version, err)
			}

			dir := t.TempDir()
			write := func(name string, b []byte) {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write("pub.pem", []byte(pk.GetPem()))
			write("sig", resp.GetSignature())
			write("data", data)
			if out, err := runOpenSSL(t, openssl, dir, tc.verify...); err != nil {
				t.Errorf("openssl %v rejects the signature of AsymmetricSign(%s): %v\n%s", tc.verify, version, err, out)
			}

			// The same check must fail for other data, or it proves nothing.
			write("data", []byte("other data\n"))
			if out, err := runOpenSSL(t, openssl, dir, tc.verify...); err == nil {
				t.Errorf("openssl %v accepts the signature of AsymmetricSign(%s) over other data:\n%s", tc.verify, version, out)
			}
		})
	}
}

func runOpenSSL(t *testing.T, openssl, dir string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}
