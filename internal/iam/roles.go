// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"slices"
	"sort"
)

// Permissions of the IAM methods, named as Cloud KMS publishes them. Each
// IAM method checks one of them on the resource it is called on (the
// "Authorization requires" line of each getIamPolicy and setIamPolicy in
// https://cloud.google.com/kms/docs/reference/rest). testIamPermissions
// needs none. Project policies are Resource Manager's in Google Cloud;
// Custos serves them itself and checks Resource Manager's permissions, which
// no role of the table grants: only the built-in admin holds them.
const (
	PermProjectsGetIamPolicy   = "resourcemanager.projects.getIamPolicy"
	PermProjectsSetIamPolicy   = "resourcemanager.projects.setIamPolicy"
	PermKeyRingsGetIamPolicy   = "cloudkms.keyRings.getIamPolicy"
	PermKeyRingsSetIamPolicy   = "cloudkms.keyRings.setIamPolicy"
	PermCryptoKeysGetIamPolicy = "cloudkms.cryptoKeys.getIamPolicy"
	PermCryptoKeysSetIamPolicy = "cloudkms.cryptoKeys.setIamPolicy"
	PermImportJobsGetIamPolicy = "cloudkms.importJobs.getIamPolicy"
	PermImportJobsSetIamPolicy = "cloudkms.importJobs.setIamPolicy"
)

// Custos's own permissions, for what Cloud KMS has no method for.
const (
	// PermExport allows exporting a version's material (BYOK formats).
	PermExport = "custos.cryptoKeyVersions.export"
	// PermEKMWrap and PermEKMUnwrap allow the Cloud EKM wrap and unwrap
	// calls on a key.
	PermEKMWrap   = "custos.ekm.wrap"
	PermEKMUnwrap = "custos.ekm.unwrap"
	// PermAuditList allows reading the audit entries on a resource and
	// below it; PermAuditConfigsGet and PermAuditConfigsUpdate reading
	// and setting its data-access recording. The whole log, its
	// verification, and turning recording on or off are the admin's: no
	// role grants PermAuditConfigsUpdate.
	PermAuditList          = "custos.audit.list"
	PermAuditConfigsGet    = "custos.auditConfigs.get"
	PermAuditConfigsUpdate = "custos.auditConfigs.update"
)

// roleTable maps each role to its permissions.
//
// The roles/cloudkms.* entries are copied from the "Predefined roles" table
// of Cloud KMS's "Permissions and roles" page,
// https://cloud.google.com/kms/docs/reference/permissions-and-roles (the
// version last updated 2026-04-02), which is the same list as the IAM roles
// reference https://cloud.google.com/iam/docs/roles-permissions/cloudkms.
// Each list is the published one, whole and unedited, including permissions
// of features Custos does not have (they are then simply never checked).
// Only the roles that apply to key rings, keys and import jobs are kept:
// the Autokey, EKM-connection, single-tenant-HSM, Key Access
// Justifications, "Via Delegation", "Expert" and service-agent roles are
// left out, as Custos has none of what they govern.
//
// Note what the published lists say, which is the point of separation of
// duties: roles/cloudkms.admin grants no use of a key (no useToEncrypt,
// useToDecrypt, useToSign, useToVerify, nor even viewPublicKey), and the
// crypto roles grant neither get nor list.
//
// The roles/custos.* entries are Custos's own.
var roleTable = map[string][]string{
	"roles/cloudkms.admin": {
		"cloudkms.autokeyConfigs.get",
		"cloudkms.autokeyConfigs.update",
		"cloudkms.cryptoKeyVersions.create",
		"cloudkms.cryptoKeyVersions.delete",
		"cloudkms.cryptoKeyVersions.destroy",
		"cloudkms.cryptoKeyVersions.get",
		"cloudkms.cryptoKeyVersions.list",
		"cloudkms.cryptoKeyVersions.restore",
		"cloudkms.cryptoKeyVersions.update",
		"cloudkms.cryptoKeyVersions.useToDecryptViaDelegation",
		"cloudkms.cryptoKeyVersions.useToEncryptViaDelegation",
		"cloudkms.cryptoKeys.create",
		"cloudkms.cryptoKeys.delete",
		"cloudkms.cryptoKeys.get",
		"cloudkms.cryptoKeys.getIamPolicy",
		"cloudkms.cryptoKeys.list",
		"cloudkms.cryptoKeys.setIamPolicy",
		"cloudkms.cryptoKeys.update",
		"cloudkms.ekmConfigs.get",
		"cloudkms.ekmConfigs.getIamPolicy",
		"cloudkms.ekmConfigs.setIamPolicy",
		"cloudkms.ekmConfigs.update",
		"cloudkms.ekmConnections.create",
		"cloudkms.ekmConnections.get",
		"cloudkms.ekmConnections.getIamPolicy",
		"cloudkms.ekmConnections.list",
		"cloudkms.ekmConnections.setIamPolicy",
		"cloudkms.ekmConnections.update",
		"cloudkms.ekmConnections.use",
		"cloudkms.ekmConnections.verifyConnectivity",
		"cloudkms.importJobs.create",
		"cloudkms.importJobs.get",
		"cloudkms.importJobs.getIamPolicy",
		"cloudkms.importJobs.list",
		"cloudkms.importJobs.setIamPolicy",
		"cloudkms.importJobs.useToImport",
		"cloudkms.kajPolicyConfigs.get",
		"cloudkms.kajPolicyConfigs.update",
		"cloudkms.keyHandles.create",
		"cloudkms.keyHandles.get",
		"cloudkms.keyHandles.list",
		"cloudkms.keyRings.create",
		"cloudkms.keyRings.createTagBinding",
		"cloudkms.keyRings.deleteTagBinding",
		"cloudkms.keyRings.get",
		"cloudkms.keyRings.getIamPolicy",
		"cloudkms.keyRings.list",
		"cloudkms.keyRings.listEffectiveTags",
		"cloudkms.keyRings.listTagBindings",
		"cloudkms.keyRings.setIamPolicy",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"cloudkms.locations.optOutKeyDeletionMsa",
		"cloudkms.operations.get",
		"cloudkms.projects.showEffectiveAutokeyConfig",
		"cloudkms.projects.showEffectiveKajEnrollmentConfig",
		"cloudkms.projects.showEffectiveKajPolicyConfig",
		"cloudkms.retiredResources.get",
		"cloudkms.retiredResources.list",
		"cloudkms.singleTenantHsmInstanceProposals.delete",
		"cloudkms.singleTenantHsmInstanceProposals.get",
		"cloudkms.singleTenantHsmInstanceProposals.list",
		"cloudkms.singleTenantHsmInstances.create",
		"cloudkms.singleTenantHsmInstances.get",
		"cloudkms.singleTenantHsmInstances.list",
		"cloudkms.singleTenantHsmInstances.use",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.viewer": {
		"cloudkms.autokeyConfigs.get",
		"cloudkms.cryptoKeyVersions.get",
		"cloudkms.cryptoKeyVersions.list",
		"cloudkms.cryptoKeys.get",
		"cloudkms.cryptoKeys.list",
		"cloudkms.ekmConfigs.get",
		"cloudkms.ekmConnections.get",
		"cloudkms.ekmConnections.list",
		"cloudkms.importJobs.get",
		"cloudkms.importJobs.list",
		"cloudkms.kajPolicyConfigs.get",
		"cloudkms.keyHandles.get",
		"cloudkms.keyHandles.list",
		"cloudkms.keyRings.get",
		"cloudkms.keyRings.list",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"cloudkms.operations.get",
		"cloudkms.retiredResources.get",
		"cloudkms.retiredResources.list",
		"cloudkms.singleTenantHsmInstanceProposals.get",
		"cloudkms.singleTenantHsmInstanceProposals.list",
		"cloudkms.singleTenantHsmInstances.get",
		"cloudkms.singleTenantHsmInstances.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.cryptoKeyEncrypterDecrypter": {
		"cloudkms.cryptoKeyVersions.useToDecrypt",
		"cloudkms.cryptoKeyVersions.useToEncrypt",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.cryptoKeyEncrypter": {
		"cloudkms.cryptoKeyVersions.useToEncrypt",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.cryptoKeyDecrypter": {
		"cloudkms.cryptoKeyVersions.useToDecrypt",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.cryptoOperator": {
		"cloudkms.cryptoKeyVersions.useToDecapsulate",
		"cloudkms.cryptoKeyVersions.useToDecrypt",
		"cloudkms.cryptoKeyVersions.useToEncrypt",
		"cloudkms.cryptoKeyVersions.useToSign",
		"cloudkms.cryptoKeyVersions.useToVerify",
		"cloudkms.cryptoKeyVersions.viewPublicKey",
		"cloudkms.locations.generateRandomBytes",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.decapsulator": {
		"cloudkms.cryptoKeyVersions.useToDecapsulate",
		"cloudkms.cryptoKeyVersions.viewPublicKey",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.signerVerifier": {
		"cloudkms.cryptoKeyVersions.useToSign",
		"cloudkms.cryptoKeyVersions.useToVerify",
		"cloudkms.cryptoKeyVersions.viewPublicKey",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.signer": {
		"cloudkms.cryptoKeyVersions.useToSign",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.verifier": {
		"cloudkms.cryptoKeyVersions.useToVerify",
		"cloudkms.cryptoKeyVersions.viewPublicKey",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.publicKeyViewer": {
		"cloudkms.cryptoKeyVersions.viewPublicKey",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},
	"roles/cloudkms.importer": {
		"cloudkms.importJobs.create",
		"cloudkms.importJobs.get",
		"cloudkms.importJobs.list",
		"cloudkms.importJobs.useToImport",
		"cloudkms.locations.get",
		"cloudkms.locations.list",
		"resourcemanager.projects.get",
	},

	// Custos's roles.
	"roles/custos.exporter":    {PermExport},
	"roles/custos.ekmUser":     {PermEKMUnwrap, PermEKMWrap},
	"roles/custos.auditViewer": {PermAuditList, PermAuditConfigsGet},
}

// table is roleTable precomputed for the hot path: each role has a bit, and
// each permission the mask of the roles that grant it, so that "does any
// of these roles grant perm" is one map lookup and an AND.
type table struct {
	bit       map[string]uint64 // role → its bit
	permRoles map[string]uint64 // permission → roles granting it
	known     map[string]bool   // every permission a check can name
	roles     []string          // sorted
}

var roles = buildTable(roleTable)

func buildTable(src map[string][]string) *table {
	if len(src) > 64 {
		// Unreachable while the table above has fewer than 64 roles;
		// a mask of more needs a wider type.
		panic("iam: internal error: more than 64 roles")
	}
	t := &table{bit: map[string]uint64{}, permRoles: map[string]uint64{}, known: map[string]bool{}}
	for r := range src {
		t.roles = append(t.roles, r)
	}
	sort.Strings(t.roles)
	for i, r := range t.roles {
		b := uint64(1) << i
		t.bit[r] = b
		for _, p := range src[r] {
			t.permRoles[p] |= b
			t.known[p] = true
		}
	}
	for _, p := range []string{
		PermProjectsGetIamPolicy, PermProjectsSetIamPolicy,
		PermKeyRingsGetIamPolicy, PermKeyRingsSetIamPolicy,
		PermCryptoKeysGetIamPolicy, PermCryptoKeysSetIamPolicy,
		PermImportJobsGetIamPolicy, PermImportJobsSetIamPolicy,
		PermAuditConfigsUpdate,
	} {
		t.known[p] = true
	}
	return t
}

// Roles returns the names of every role that policies may bind, sorted.
func Roles() []string { return slices.Clone(roles.roles) }

// Permissions returns the permissions of role, sorted, or nil for an
// unknown role. The caller may modify the result.
func Permissions(role string) []string {
	ps, ok := roleTable[role]
	if !ok {
		return nil
	}
	out := slices.Clone(ps)
	sort.Strings(out)
	return out
}

// KnownPermission reports whether perm is a permission that Custos can
// check: one of a role, or one of the IAM methods.
func KnownPermission(perm string) bool { return roles.known[perm] }
