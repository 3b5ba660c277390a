// SPDX-License-Identifier: Apache-2.0

package kms

// Permissions, named as Cloud KMS publishes them. Each method checks one on
// the resource its "Authorization requires" line names.
const (
	PermKeyRingsCreate = "cloudkms.keyRings.create"
	PermKeyRingsGet    = "cloudkms.keyRings.get"
	PermKeyRingsList   = "cloudkms.keyRings.list"

	PermCryptoKeysCreate = "cloudkms.cryptoKeys.create"
	PermCryptoKeysGet    = "cloudkms.cryptoKeys.get"
	PermCryptoKeysList   = "cloudkms.cryptoKeys.list"
	PermCryptoKeysUpdate = "cloudkms.cryptoKeys.update"

	PermVersionsCreate        = "cloudkms.cryptoKeyVersions.create"
	PermVersionsGet           = "cloudkms.cryptoKeyVersions.get"
	PermVersionsList          = "cloudkms.cryptoKeyVersions.list"
	PermVersionsUpdate        = "cloudkms.cryptoKeyVersions.update"
	PermVersionsDestroy       = "cloudkms.cryptoKeyVersions.destroy"
	PermVersionsRestore       = "cloudkms.cryptoKeyVersions.restore"
	PermVersionsViewPublicKey = "cloudkms.cryptoKeyVersions.viewPublicKey"
	PermUseToEncrypt          = "cloudkms.cryptoKeyVersions.useToEncrypt"
	PermUseToDecrypt          = "cloudkms.cryptoKeyVersions.useToDecrypt"
	PermUseToSign             = "cloudkms.cryptoKeyVersions.useToSign"
	PermUseToVerify           = "cloudkms.cryptoKeyVersions.useToVerify"

	PermGenerateRandomBytes = "cloudkms.locations.generateRandomBytes"
)
