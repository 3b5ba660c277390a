// SPDX-License-Identifier: Apache-2.0

package signature

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/wycheproof"
)

type sigVector struct {
	wycheproof.Vector
	Msg wycheproof.Hex `json:"msg"`
	Sig wycheproof.Hex `json:"sig"`
}

// keyGroup is the group shape of the ECDSA, RSA-PSS and RSA PKCS#1 files:
// the public key as a DER SubjectPublicKeyInfo, and the hash.
type keyGroup struct {
	PublicKeyDer wycheproof.Hex `json:"publicKeyDer"`
	SHA          string         `json:"sha"`
	MGF          string         `json:"mgf"`
	MGFSHA       string         `json:"mgfSha"`
	SLen         int            `json:"sLen"`
	Tests        []sigVector    `json:"tests"`
}

type eddsaGroup struct {
	PublicKey struct {
		PK wycheproof.Hex `json:"pk"`
	} `json:"publicKey"`
	Tests []sigVector `json:"tests"`
}

// digestOf parses the group's key and hashes the vector's message.
func (g *keyGroup) setup(t *testing.T, v *sigVector) (crypto.PublicKey, crypto.Hash, []byte) {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(g.PublicKeyDer)
	if err != nil {
		t.Fatalf("tcId %d: group public key: %v", v.TcID, err)
	}
	h, err := wycheproof.Hash(g.SHA)
	if err != nil {
		t.Fatalf("tcId %d: %v", v.TcID, err)
	}
	d := h.New()
	d.Write(v.Msg)
	return pub, h, d.Sum(nil)
}

// checkVerify checks a Verify result against the vector: only nil and
// ErrVerify are acceptable outcomes for a well-formed key and digest.
func checkVerify(t *testing.T, v *sigVector, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrVerify) {
		t.Errorf("tcId %d: Verify = %v, want nil or ErrVerify", v.TcID, err)
	}
	v.Check(t, err == nil, "Verify")
}

func runKeyGroups(t *testing.T, file string, each func(t *testing.T, g *keyGroup, v *sigVector)) {
	var f wycheproof.File[keyGroup]
	wycheproof.Load(t, file, &f)
	n := 0
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) { each(t, &g, &v) })
		}
	}
	f.CheckCount(t, n)
}

func TestWycheproofECDSAP256(t *testing.T) {
	runECDSADER(t, "ecdsa_secp256r1_sha256_test.json", ECDSAP256SHA256)
}

func TestWycheproofECDSAP384(t *testing.T) {
	runECDSADER(t, "ecdsa_secp384r1_sha384_test.json", ECDSAP384SHA384)
}

// runECDSADER runs a file of DER-encoded ECDSA signatures through Verify.
func runECDSADER(t *testing.T, file string, s Scheme) {
	runKeyGroups(t, file, func(t *testing.T, g *keyGroup, v *sigVector) {
		pub, h, digest := g.setup(t, v)
		if h != s.Hash() {
			t.Fatalf("tcId %d: group hash %v, scheme hash %v", v.TcID, h, s.Hash())
		}
		checkVerify(t, v, Verify(pub, s, digest, v.Sig))
	})
}

func TestWycheproofECDSAP256P1363(t *testing.T) {
	runECDSAP1363(t, "ecdsa_secp256r1_sha256_p1363_test.json", ECDSAP256SHA256)
}

func TestWycheproofECDSAP384P1363(t *testing.T) {
	runECDSAP1363(t, "ecdsa_secp384r1_sha384_p1363_test.json", ECDSAP384SHA384)
}

// runECDSAP1363 runs a file of IEEE P1363 (r || s) ECDSA signatures through
// ecdsa.Verify, and, re-encoded as DER, through Verify; both must agree with
// the vector.
func runECDSAP1363(t *testing.T, file string, s Scheme) {
	runKeyGroups(t, file, func(t *testing.T, g *keyGroup, v *sigVector) {
		pub, _, digest := g.setup(t, v)
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			t.Fatalf("tcId %d: group key is %T", v.TcID, pub)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(v.Sig) != 2*size {
			// P1363 fixes the length; anything else is malformed.
			v.Check(t, false, "signature length")
			return
		}
		r := new(big.Int).SetBytes(v.Sig[:size])
		sv := new(big.Int).SetBytes(v.Sig[size:])
		v.Check(t, ecdsa.Verify(k, digest, r, sv), "ecdsa.Verify")
		der, err := asn1.Marshal(struct{ R, S *big.Int }{r, sv})
		if err != nil {
			t.Fatalf("tcId %d: %v", v.TcID, err)
		}
		checkVerify(t, v, Verify(pub, s, digest, der))
	})
}

func TestWycheproofEd25519(t *testing.T) {
	var f wycheproof.File[eddsaGroup]
	wycheproof.Load(t, "ed25519_test.json", &f)
	n := 0
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			n++
			t.Run(v.Name(), func(t *testing.T) {
				checkVerify(t, &v, Verify(ed25519.PublicKey(g.PublicKey.PK), Ed25519, v.Msg, v.Sig))
			})
		}
	}
	f.CheckCount(t, n)
}

func TestWycheproofRSAPSS2048SHA256(t *testing.T) {
	runPSS(t, "rsa_pss_2048_sha256_mgf1_32_test.json")
}

func TestWycheproofRSAPSS3072SHA256(t *testing.T) {
	runPSS(t, "rsa_pss_3072_sha256_mgf1_32_test.json")
}

func TestWycheproofRSAPSS4096SHA512(t *testing.T) {
	runPSS(t, "rsa_pss_4096_sha512_mgf1_64_test.json")
}

// runPSS runs an RSA-PSS file through rsa.VerifyPSS with the group's salt
// length, and, where that salt length is the hash length (Cloud KMS's
// choice, all groups here), through Verify too.
func runPSS(t *testing.T, file string) {
	runKeyGroups(t, file, func(t *testing.T, g *keyGroup, v *sigVector) {
		pub, h, digest := g.setup(t, v)
		mgf, err := wycheproof.Hash(g.MGFSHA)
		if g.MGF != "MGF1" || err != nil || mgf != h {
			// crypto/rsa uses MGF1 with the signature's hash only.
			t.Fatalf("tcId %d: unsupported mask generation %s with %s", v.TcID, g.MGF, g.MGFSHA)
		}
		k := pub.(*rsa.PublicKey)
		err = rsa.VerifyPSS(k, h, digest, v.Sig, &rsa.PSSOptions{SaltLength: g.SLen})
		v.Check(t, err == nil, "rsa.VerifyPSS")
		if g.SLen != h.Size() {
			return
		}
		s := map[crypto.Hash]Scheme{crypto.SHA256: RSAPSSSHA256, crypto.SHA512: RSAPSSSHA512}[h]
		checkVerify(t, v, Verify(k, s, digest, v.Sig))
	})
}

func TestWycheproofRSAPKCS1v15_2048SHA256(t *testing.T) {
	runPKCS1(t, "rsa_signature_2048_sha256_test.json")
}

func TestWycheproofRSAPKCS1v15_3072SHA256(t *testing.T) {
	runPKCS1(t, "rsa_signature_3072_sha256_test.json")
}

func TestWycheproofRSAPKCS1v15_4096SHA512(t *testing.T) {
	runPKCS1(t, "rsa_signature_4096_sha512_test.json")
}

func runPKCS1(t *testing.T, file string) {
	runKeyGroups(t, file, func(t *testing.T, g *keyGroup, v *sigVector) {
		pub, h, digest := g.setup(t, v)
		s := map[crypto.Hash]Scheme{crypto.SHA256: RSAPKCS1SHA256, crypto.SHA512: RSAPKCS1SHA512}[h]
		if s == 0 {
			t.Fatalf("tcId %d: no scheme for %v", v.TcID, h)
		}
		checkVerify(t, v, Verify(pub, s, digest, v.Sig))
	})
}
