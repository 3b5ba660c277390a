// SPDX-License-Identifier: Apache-2.0

// Package alg is the table of key algorithms Custos supports, named exactly
// as Cloud KMS names them (CryptoKeyVersionAlgorithm), with what each one is
// for and how it is built. The rest of the code asks an [Algorithm] for its
// capabilities instead of switching on names.
package alg

import "crypto"

// Purpose is a CryptoKey purpose, named as in Cloud KMS.
type Purpose string

const (
	EncryptDecrypt    Purpose = "ENCRYPT_DECRYPT"
	AsymmetricSign    Purpose = "ASYMMETRIC_SIGN"
	AsymmetricDecrypt Purpose = "ASYMMETRIC_DECRYPT"
	MAC               Purpose = "MAC"
	RawEncryptDecrypt Purpose = "RAW_ENCRYPT_DECRYPT"
)

// ValidPurpose reports whether p is a purpose Custos serves.
func ValidPurpose(p Purpose) bool {
	switch p {
	case EncryptDecrypt, AsymmetricSign, AsymmetricDecrypt, MAC, RawEncryptDecrypt:
		return true
	}
	return false
}

// Family says which primitive an algorithm uses.
type Family int

const (
	FamilyAESGCM   Family = iota + 1 // AES-GCM: symmetric and raw encryption
	FamilyECDSA                      // ECDSA over a NIST curve
	FamilyEd25519                    // pure Ed25519
	FamilyRSAPSS                     // RSASSA-PSS, salt length = hash length
	FamilyRSAPKCS1                   // RSASSA-PKCS1-v1_5
	FamilyRSAOAEP                    // RSAES-OAEP, MGF1 with the same hash
	FamilyHMAC                       // HMAC
)

// Algorithm is a Cloud KMS algorithm name, such as "EC_SIGN_P256_SHA256".
type Algorithm string

// Spec describes an algorithm.
type Spec struct {
	Purpose Purpose
	Family  Family
	// Bits is the RSA modulus size, the EC curve size, or the symmetric key
	// size in bits.
	Bits int
	// Hash is the digest the algorithm signs, MACs or uses in OAEP;
	// 0 where there is none (AES-GCM, Ed25519).
	Hash crypto.Hash
}

var table = map[Algorithm]Spec{
	"GOOGLE_SYMMETRIC_ENCRYPTION": {EncryptDecrypt, FamilyAESGCM, 256, 0},
	"AES_128_GCM":                 {RawEncryptDecrypt, FamilyAESGCM, 128, 0},
	"AES_256_GCM":                 {RawEncryptDecrypt, FamilyAESGCM, 256, 0},

	"EC_SIGN_P256_SHA256": {AsymmetricSign, FamilyECDSA, 256, crypto.SHA256},
	"EC_SIGN_P384_SHA384": {AsymmetricSign, FamilyECDSA, 384, crypto.SHA384},
	"EC_SIGN_ED25519":     {AsymmetricSign, FamilyEd25519, 256, 0},

	"RSA_SIGN_PSS_2048_SHA256":   {AsymmetricSign, FamilyRSAPSS, 2048, crypto.SHA256},
	"RSA_SIGN_PSS_3072_SHA256":   {AsymmetricSign, FamilyRSAPSS, 3072, crypto.SHA256},
	"RSA_SIGN_PSS_4096_SHA256":   {AsymmetricSign, FamilyRSAPSS, 4096, crypto.SHA256},
	"RSA_SIGN_PSS_4096_SHA512":   {AsymmetricSign, FamilyRSAPSS, 4096, crypto.SHA512},
	"RSA_SIGN_PKCS1_2048_SHA256": {AsymmetricSign, FamilyRSAPKCS1, 2048, crypto.SHA256},
	"RSA_SIGN_PKCS1_3072_SHA256": {AsymmetricSign, FamilyRSAPKCS1, 3072, crypto.SHA256},
	"RSA_SIGN_PKCS1_4096_SHA256": {AsymmetricSign, FamilyRSAPKCS1, 4096, crypto.SHA256},
	"RSA_SIGN_PKCS1_4096_SHA512": {AsymmetricSign, FamilyRSAPKCS1, 4096, crypto.SHA512},

	"RSA_DECRYPT_OAEP_2048_SHA256": {AsymmetricDecrypt, FamilyRSAOAEP, 2048, crypto.SHA256},
	"RSA_DECRYPT_OAEP_3072_SHA256": {AsymmetricDecrypt, FamilyRSAOAEP, 3072, crypto.SHA256},
	"RSA_DECRYPT_OAEP_4096_SHA256": {AsymmetricDecrypt, FamilyRSAOAEP, 4096, crypto.SHA256},
	"RSA_DECRYPT_OAEP_4096_SHA512": {AsymmetricDecrypt, FamilyRSAOAEP, 4096, crypto.SHA512},
	"RSA_DECRYPT_OAEP_2048_SHA1":   {AsymmetricDecrypt, FamilyRSAOAEP, 2048, crypto.SHA1},
	"RSA_DECRYPT_OAEP_3072_SHA1":   {AsymmetricDecrypt, FamilyRSAOAEP, 3072, crypto.SHA1},
	"RSA_DECRYPT_OAEP_4096_SHA1":   {AsymmetricDecrypt, FamilyRSAOAEP, 4096, crypto.SHA1},

	"HMAC_SHA1":   {MAC, FamilyHMAC, 160, crypto.SHA1},
	"HMAC_SHA224": {MAC, FamilyHMAC, 224, crypto.SHA224},
	"HMAC_SHA256": {MAC, FamilyHMAC, 256, crypto.SHA256},
	"HMAC_SHA384": {MAC, FamilyHMAC, 384, crypto.SHA384},
	"HMAC_SHA512": {MAC, FamilyHMAC, 512, crypto.SHA512},
}

// Lookup returns the algorithm's spec, and false if Custos does not support it.
func Lookup(a Algorithm) (Spec, bool) {
	s, ok := table[a]
	return s, ok
}

// All returns every supported algorithm name (in no particular order).
func All() []Algorithm {
	out := make([]Algorithm, 0, len(table))
	for a := range table {
		out = append(out, a)
	}
	return out
}

// Default returns the algorithm a key of that purpose gets when the caller
// names none, and false where Cloud KMS requires the caller to choose.
func Default(p Purpose) (Algorithm, bool) {
	if p == EncryptDecrypt {
		return "GOOGLE_SYMMETRIC_ENCRYPTION", true
	}
	return "", false
}

// KeyBytes is the length of symmetric key material (AES or HMAC key),
// 0 for asymmetric algorithms.
func (s Spec) KeyBytes() int {
	switch s.Family {
	case FamilyAESGCM, FamilyHMAC:
		return s.Bits / 8
	}
	return 0
}

// Asymmetric reports whether the material is a private key in PKCS#8.
func (s Spec) Asymmetric() bool { return s.KeyBytes() == 0 }
