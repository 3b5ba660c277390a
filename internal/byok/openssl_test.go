// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// TestUnwrapWithOpenSSL undoes every target and wrapping algorithm with the
// openssl command line, the way the providers' own documentation does it:
// `openssl pkeyutl -decrypt` with the OAEP options, and for the AES part
// `openssl enc -d -id-aes256-wrap-pad -iv A65959A6` (OpenSSL 3 needs the
// RFC 5649 IV given).
func TestUnwrapWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	privFile := map[int]string{}
	for _, bits := range []int{2048, 3072, 4096} {
		der, err := x509.MarshalPKCS8PrivateKey(wrappingKey(t, bits))
		if err != nil {
			t.Fatal(err)
		}
		privFile[bits] = filepath.Join(dir, "priv"+itoa(bits)+".pem")
		if err := os.WriteFile(privFile[bits], pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, args ...string) []byte {
		t.Helper()
		var stderr bytes.Buffer
		cmd := exec.Command(openssl, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	mdName := func(h crypto.Hash) string {
		if h == crypto.SHA1 {
			return "sha1"
		}
		return "sha256"
	}
	// Every wrapping algorithm with one raw and, where allowed, one PKCS#8
	// key; the full matrix runs in TestWrapRoundTrip.
	seen := map[string]int{} // the first key of each target, algorithm and size, and the RSA and P-384 keys
	n := 0
	for _, rt := range roundTrips() {
		id := string(rt.target) + rt.wrapAlg + itoa(rt.bits)
		isRSAKey := kindOf(mustSpec(rt.keyAlg)) == kindRSA
		if seen[id] > 0 && !isRSAKey && rt.keyAlg != "EC_SIGN_P384_SHA384" {
			continue
		}
		seen[id]++
		t.Run(rt.name(), func(t *testing.T) {
			priv := wrappingKey(t, rt.bits)
			m := testMaterial(t, rt.keyAlg)
			out, err := Wrap(rt.target, m, rt.keyAlg, &priv.PublicKey, rt.opts())
			if err != nil {
				t.Fatal(err)
			}
			blob := out
			if rt.decode != nil {
				if blob, err = rt.decode(out); err != nil {
					t.Fatal(err)
				}
			}
			sub := t.TempDir()
			rsaPart, aesPart := blob, []byte(nil)
			if rt.rsaAES {
				rsaPart, aesPart = blob[:priv.Size()], blob[priv.Size():]
			}
			in := filepath.Join(sub, "rsa.bin")
			os.WriteFile(in, rsaPart, 0o600)
			got := run(t, "pkeyutl", "-decrypt", "-inkey", privFile[rt.bits], "-in", in,
				"-pkeyopt", "rsa_padding_mode:oaep",
				"-pkeyopt", "rsa_oaep_md:"+mdName(rt.hash),
				"-pkeyopt", "rsa_mgf1_md:"+mdName(rt.hash))
			if rt.rsaAES {
				if len(got) != 32 {
					t.Fatalf("the ephemeral key is %d bytes, want 32", len(got))
				}
				in := filepath.Join(sub, "aes.bin")
				os.WriteFile(in, aesPart, 0o600)
				got = run(t, "enc", "-d", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", hex.EncodeToString(got), "-in", in)
			}
			if !bytes.Equal(got, m) {
				t.Fatal("openssl unwrapped something else than the material")
			}
			n++
		})
	}
	t.Logf("%d outputs unwrapped by openssl", n)
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustSpec(a alg.Algorithm) alg.Spec {
	s, ok := alg.Lookup(a)
	if !ok {
		panic("unknown algorithm " + a)
	}
	return s
}
