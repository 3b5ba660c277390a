// SPDX-License-Identifier: Apache-2.0

package byok

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/crypto/keywrap"
)

// Wrapping keys are slow to make: one of each size per test binary.
var (
	wrappingOnce sync.Once
	wrappingKeys map[int]*rsa.PrivateKey
)

func wrappingKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	wrappingOnce.Do(func() {
		wrappingKeys = map[int]*rsa.PrivateKey{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, b := range []int{2048, 3072, 4096} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := rsa.GenerateKey(rand.Reader, b)
				if err != nil {
					panic(err)
				}
				mu.Lock()
				wrappingKeys[b] = k
				mu.Unlock()
			}()
		}
		wg.Wait()
	})
	return wrappingKeys[bits]
}

// testMaterial makes material of algorithm a with the standard library
// only: random bytes for raw keys, PKCS#8 otherwise.
func testMaterial(t testing.TB, a alg.Algorithm) []byte {
	t.Helper()
	spec, ok := alg.Lookup(a)
	if !ok {
		t.Fatalf("unknown algorithm %s", a)
	}
	if n := spec.KeyBytes(); n > 0 {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	var priv any
	var err error
	switch spec.Family {
	case alg.FamilyECDSA:
		curve := elliptic.P256()
		if spec.Bits == 384 {
			curve = elliptic.P384()
		}
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	case alg.FamilyEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, spec.Bits)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func hashFunc(h crypto.Hash) hash.Hash {
	if h == crypto.SHA1 {
		return sha1.New()
	}
	return sha256.New()
}

// unwrapOAEP and unwrapRSAAES undo the two wrappings with crypto/rsa and
// the vector-tested RFC 5649 code.
func unwrapOAEP(t *testing.T, priv *rsa.PrivateKey, h crypto.Hash, ct []byte) []byte {
	t.Helper()
	if len(ct) != priv.Size() {
		t.Fatalf("RSA-OAEP ciphertext is %d bytes, want %d", len(ct), priv.Size())
	}
	pt, err := rsa.DecryptOAEP(hashFunc(h), nil, priv, ct, nil)
	if err != nil {
		t.Fatalf("RSA-OAEP with %v and an empty label does not decrypt: %v", h, err)
	}
	return pt
}

func unwrapRSAAES(t *testing.T, priv *rsa.PrivateKey, h crypto.Hash, blob []byte) []byte {
	t.Helper()
	if len(blob) < priv.Size()+16 {
		t.Fatalf("RSA-AES blob is %d bytes, too short", len(blob))
	}
	kek := unwrapOAEP(t, priv, h, blob[:priv.Size()])
	if len(kek) != 32 {
		t.Fatalf("the ephemeral key is %d bytes, want 32 (AES-256)", len(kek))
	}
	pt, err := keywrap.UnwrapPad(kek, blob[priv.Size():])
	if err != nil {
		t.Fatalf("the AES-KWP part does not unwrap: %v", err)
	}
	return pt
}

// roundTrip is one target, algorithm and key type that must work.
type roundTrip struct {
	target  Target
	wrapAlg string
	bits    int
	keyAlg  alg.Algorithm
	hash    crypto.Hash
	rsaAES  bool
	decode  func([]byte) ([]byte, error) // output → the RSA blob
}

func b64decode(b []byte) ([]byte, error) { return base64.StdEncoding.Strict().DecodeString(string(b)) }

func azureDecode(b []byte) ([]byte, error) {
	var f azureFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.Strict().DecodeString(f.Ciphertext)
}

func roundTrips() []roundTrip {
	var out []roundTrip
	awsKeys := []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_256_GCM", "HMAC_SHA224", "HMAC_SHA256", "HMAC_SHA384", "HMAC_SHA512", "EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384"}
	for _, w := range AWSAlgorithms {
		keys := awsKeys
		if awsAlgorithms[w].aes {
			keys = append(keys, "RSA_SIGN_PSS_2048_SHA256", "RSA_DECRYPT_OAEP_2048_SHA256")
		}
		for _, bits := range []int{2048, 3072, 4096} {
			for _, k := range keys {
				out = append(out, roundTrip{AWS, w, bits, k, awsAlgorithms[w].hash, awsAlgorithms[w].aes, nil})
			}
		}
	}
	for _, m := range GCPMethods {
		keys := []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_128_GCM", "HMAC_SHA1", "HMAC_SHA512", "EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384", "EC_SIGN_ED25519"}
		if gcpMethods[m].aes {
			keys = append(keys, "RSA_SIGN_PKCS1_2048_SHA256", "RSA_DECRYPT_OAEP_3072_SHA1")
		}
		for _, k := range keys {
			out = append(out, roundTrip{GCP, m, gcpMethods[m].bits, k, gcpMethods[m].hash, gcpMethods[m].aes, nil})
		}
	}
	for _, k := range []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_256_GCM"} {
		out = append(out, roundTrip{GCPCSEK, "", 2048, k, crypto.SHA1, false, b64decode})
	}
	for _, bits := range []int{2048, 3072, 4096} {
		for _, k := range []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_128_GCM", "EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384", "RSA_SIGN_PSS_2048_SHA256", "RSA_DECRYPT_OAEP_4096_SHA256"} {
			out = append(out, roundTrip{Azure, "", bits, k, crypto.SHA1, true, azureDecode})
		}
	}
	for _, w := range AlibabaAlgorithms {
		for _, k := range []alg.Algorithm{"GOOGLE_SYMMETRIC_ENCRYPTION", "AES_256_GCM"} {
			out = append(out, roundTrip{Alibaba, w, 2048, k, alibabaAlgorithms[w], false, b64decode})
		}
	}
	return out
}

func (rt roundTrip) name() string {
	return fmt.Sprintf("%s %s RSA-%d %s", rt.target, rt.wrapAlg, rt.bits, rt.keyAlg)
}

func (rt roundTrip) opts() Options {
	o := Options{Algorithm: rt.wrapAlg}
	if rt.target == Azure {
		o.KID = "https://contoso.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef"
	}
	return o
}

func TestWrapRoundTrip(t *testing.T) {
	materials := map[alg.Algorithm][]byte{}
	n := 0
	for _, rt := range roundTrips() {
		t.Run(rt.name(), func(t *testing.T) {
			priv := wrappingKey(t, rt.bits)
			m, ok := materials[rt.keyAlg]
			if !ok {
				m = testMaterial(t, rt.keyAlg)
				materials[rt.keyAlg] = m
			}
			orig := bytes.Clone(m)
			if err := Check(rt.target, rt.keyAlg, &priv.PublicKey, rt.opts()); err != nil {
				t.Fatalf("Check = %v", err)
			}
			out, err := Wrap(rt.target, m, rt.keyAlg, &priv.PublicKey, rt.opts())
			if err != nil {
				t.Fatalf("Wrap = %v", err)
			}
			if !bytes.Equal(m, orig) {
				t.Fatal("Wrap changed the material")
			}
			blob := out
			if rt.decode != nil {
				if blob, err = rt.decode(out); err != nil {
					t.Fatalf("decoding the output: %v", err)
				}
			}
			var got []byte
			if rt.rsaAES {
				got = unwrapRSAAES(t, priv, rt.hash, blob)
				if want := priv.Size() + (len(m)+7)/8*8 + 8; len(blob) != want {
					t.Errorf("RSA-AES blob is %d bytes, want %d", len(blob), want)
				}
			} else {
				got = unwrapOAEP(t, priv, rt.hash, blob)
			}
			if !bytes.Equal(got, m) {
				t.Fatal("the unwrapped material is not the material")
			}
			// Fresh randomness every time: never the same output twice.
			again, err := Wrap(rt.target, m, rt.keyAlg, &priv.PublicKey, rt.opts())
			if err != nil || bytes.Equal(again, out) {
				t.Fatalf("a second Wrap = same output %v, %v", bytes.Equal(again, out), err)
			}
			if format, notes := Describe(rt.target, rt.keyAlg, rt.opts()); format == "" || len(notes) == 0 {
				t.Errorf("Describe = %q, %q", format, notes)
			}
			n++
		})
	}
	t.Logf("%d round trips", n)
}

func TestWrapRefusals(t *testing.T) {
	k2048 := &wrappingKey(t, 2048).PublicKey
	k3072 := &wrappingKey(t, 3072).PublicKey
	k4096 := &wrappingKey(t, 4096).PublicKey
	kid := "https://contoso.vault.azure.net/keys/kek/0123456789abcdef"
	tests := []struct {
		name   string
		target Target
		key    alg.Algorithm
		pub    *rsa.PublicKey
		opts   Options
		want   error
	}{
		{"unknown target", "oracle", "AES_256_GCM", k2048, Options{}, ErrTarget},
		{"aws without algorithm", AWS, "AES_256_GCM", k2048, Options{}, ErrOption},
		{"aws with PKCS#1 v1.5", AWS, "AES_256_GCM", k2048, Options{Algorithm: "RSAES_PKCS1_V1_5"}, ErrOption},
		{"aws with a gcp method", AWS, "AES_256_GCM", k3072, Options{Algorithm: "RSA_OAEP_3072_SHA256"}, ErrOption},
		{"aws with a kid", AWS, "AES_256_GCM", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256", KID: kid}, ErrOption},
		{"aws RSA key with RSAES_OAEP", AWS, "RSA_SIGN_PSS_2048_SHA256", k4096, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrKeyType},
		{"aws AES-128", AWS, "AES_128_GCM", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrKeyType},
		{"aws HMAC-SHA1", AWS, "HMAC_SHA1", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrKeyType},
		{"aws Ed25519", AWS, "EC_SIGN_ED25519", k2048, Options{Algorithm: "RSA_AES_KEY_WRAP_SHA_256"}, ErrKeyType},
		{"gcp without method", GCP, "AES_256_GCM", k3072, Options{}, ErrOption},
		{"gcp with an aws algorithm", GCP, "AES_256_GCM", k3072, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrOption},
		{"gcp 3072 method with a 4096 key", GCP, "AES_256_GCM", k4096, Options{Algorithm: "RSA_OAEP_3072_SHA256_AES_256"}, ErrWrappingKey},
		{"gcp 4096 method with a 2048 key", GCP, "AES_256_GCM", k2048, Options{Algorithm: "RSA_OAEP_4096_SHA1_AES_256"}, ErrWrappingKey},
		{"gcp direct method with an RSA key", GCP, "RSA_SIGN_PSS_2048_SHA256", k3072, Options{Algorithm: "RSA_OAEP_3072_SHA256"}, ErrKeyType},
		{"gcp-csek with an algorithm", GCPCSEK, "AES_256_GCM", k2048, Options{Algorithm: "RSAES_OAEP_SHA_1"}, ErrOption},
		{"gcp-csek AES-128", GCPCSEK, "AES_128_GCM", k2048, Options{}, ErrKeyType},
		{"gcp-csek HMAC-SHA256 (32 bytes, not AES)", GCPCSEK, "HMAC_SHA256", k2048, Options{}, ErrKeyType},
		{"gcp-csek EC key", GCPCSEK, "EC_SIGN_P256_SHA256", k2048, Options{}, ErrKeyType},
		{"azure without kid", Azure, "AES_256_GCM", k2048, Options{}, ErrOption},
		{"azure kid over http", Azure, "AES_256_GCM", k2048, Options{KID: "http://contoso.vault.azure.net/keys/kek/1"}, ErrOption},
		{"azure kid without version", Azure, "AES_256_GCM", k2048, Options{KID: "https://contoso.vault.azure.net/keys/kek"}, ErrOption},
		{"azure kid not a key", Azure, "AES_256_GCM", k2048, Options{KID: "https://contoso.vault.azure.net/secrets/s/1"}, ErrOption},
		{"azure with an algorithm", Azure, "AES_256_GCM", k2048, Options{KID: kid, Algorithm: "RSA_AES_KEY_WRAP_SHA_1"}, ErrOption},
		{"azure HMAC", Azure, "HMAC_SHA256", k2048, Options{KID: kid}, ErrKeyType},
		{"azure Ed25519", Azure, "EC_SIGN_ED25519", k2048, Options{KID: kid}, ErrKeyType},
		{"alibaba without algorithm", Alibaba, "AES_256_GCM", k2048, Options{}, ErrOption},
		{"alibaba RSA_AES", Alibaba, "AES_256_GCM", k2048, Options{Algorithm: "RSA_AES_KEY_WRAP_SHA_256"}, ErrOption},
		{"alibaba EC key", Alibaba, "EC_SIGN_P256_SHA256", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrKeyType},
		{"alibaba AES-128", Alibaba, "AES_128_GCM", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrKeyType},
		{"unknown key algorithm", AWS, "AES_512", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256"}, ErrKeyType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.target, tc.key, tc.pub, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			// CheckOptions finds every problem but the key type.
			err = CheckOptions(tc.target, tc.pub, tc.opts)
			if tc.want == ErrKeyType && err != nil || tc.want != ErrKeyType && !errors.Is(err, tc.want) {
				t.Fatalf("CheckOptions = %v, want %v", err, tc.want)
			}
			m := make([]byte, 32)
			if _, err := Wrap(tc.target, m, tc.key, tc.pub, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("Wrap = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("material of the wrong length", func(t *testing.T) {
		_, err := Wrap(AWS, make([]byte, 16), "AES_256_GCM", k2048, Options{Algorithm: "RSAES_OAEP_SHA_256"})
		if !errors.Is(err, ErrKeyType) {
			t.Fatalf("Wrap(16 bytes as AES-256) = %v, want ErrKeyType", err)
		}
	})
	t.Run("no wrapping key", func(t *testing.T) {
		_, err := Wrap(AWS, make([]byte, 32), "AES_256_GCM", nil, Options{Algorithm: "RSAES_OAEP_SHA_256"})
		if !errors.Is(err, ErrWrappingKey) {
			t.Fatalf("Wrap(nil key) = %v, want ErrWrappingKey", err)
		}
	})
}

// TestAzureFileShape checks the .byok file field by field against the
// specification's example.
func TestAzureFileShape(t *testing.T) {
	priv := wrappingKey(t, 3072)
	kid := "https://contosokeyvaulthsm.vault.azure.net/keys/mykek/eba63d27e4e34e028839b53fac905621"
	m := testMaterial(t, "EC_SIGN_P256_SHA256")
	out, err := Wrap(Azure, m, "EC_SIGN_P256_SHA256", &priv.PublicKey, Options{KID: kid, Generator: "custos test"})
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("the .byok file is not JSON: %v", err)
	}
	ct, _ := f["ciphertext"].(string)
	want := map[string]any{
		"schema_version": "1.0.0",
		"header":         map[string]any{"kid": kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"},
		"ciphertext":     ct,
		"generator":      "custos test",
	}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf(".byok file (-want +got):\n%s", diff)
	}
	if strings.ContainsAny(ct, "=+/ \n") {
		t.Errorf("ciphertext %q is not base64url without padding", ct)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(ct)
	if err != nil {
		t.Fatal(err)
	}
	if got := unwrapRSAAES(t, priv, crypto.SHA1, raw); !bytes.Equal(got, m) {
		t.Error("the ciphertext does not unwrap to the material")
	}
	// Fields in the specification's order.
	order := []string{`"schema_version"`, `"header"`, `"kid"`, `"alg"`, `"enc"`, `"ciphertext"`, `"generator"`}
	last := -1
	for _, k := range order {
		i := bytes.Index(out, []byte(k))
		if i < last {
			t.Errorf("field %s is out of the specification's order", k)
		}
		last = i
	}
	// The default generator names Custos.
	out, err = Wrap(Azure, m, "EC_SIGN_P256_SHA256", &priv.PublicKey, Options{KID: kid})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"generator": "custos/`)) {
		t.Errorf("default generator missing from %s", out)
	}
}
