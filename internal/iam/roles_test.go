// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/kms"
)

// TestRoles spot-checks each role against the lists Cloud KMS publishes
// (https://cloud.google.com/kms/docs/reference/permissions-and-roles).
func TestRoles(t *testing.T) {
	tests := []struct {
		role string
		has  []string
		lack []string
	}{{
		role: "roles/cloudkms.admin",
		has: []string{
			kms.PermKeyRingsCreate, kms.PermKeyRingsGet, kms.PermKeyRingsList,
			kms.PermCryptoKeysCreate, kms.PermCryptoKeysUpdate, kms.PermVersionsCreate,
			kms.PermVersionsDestroy, kms.PermVersionsRestore, kms.PermVersionsUpdate,
			PermKeyRingsSetIamPolicy, PermCryptoKeysSetIamPolicy, PermImportJobsSetIamPolicy,
			"cloudkms.importJobs.useToImport",
		},
		lack: []string{
			kms.PermUseToEncrypt, kms.PermUseToDecrypt, kms.PermUseToSign, kms.PermUseToVerify,
			kms.PermVersionsViewPublicKey, kms.PermGenerateRandomBytes,
			PermProjectsSetIamPolicy, PermExport, PermEKMWrap,
		},
	}, {
		role: "roles/cloudkms.viewer",
		has:  []string{kms.PermKeyRingsGet, kms.PermKeyRingsList, kms.PermCryptoKeysGet, kms.PermCryptoKeysList, kms.PermVersionsGet, kms.PermVersionsList},
		lack: []string{kms.PermUseToEncrypt, kms.PermVersionsViewPublicKey, kms.PermCryptoKeysUpdate, PermKeyRingsGetIamPolicy, PermCryptoKeysGetIamPolicy},
	}, {
		role: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
		has:  []string{kms.PermUseToEncrypt, kms.PermUseToDecrypt, "cloudkms.locations.get"},
		lack: []string{kms.PermCryptoKeysGet, kms.PermVersionsGet, kms.PermUseToSign, kms.PermVersionsViewPublicKey},
	}, {
		role: "roles/cloudkms.cryptoKeyEncrypter",
		has:  []string{kms.PermUseToEncrypt},
		lack: []string{kms.PermUseToDecrypt, kms.PermCryptoKeysGet},
	}, {
		role: "roles/cloudkms.cryptoKeyDecrypter",
		has:  []string{kms.PermUseToDecrypt},
		lack: []string{kms.PermUseToEncrypt, kms.PermCryptoKeysGet},
	}, {
		role: "roles/cloudkms.signerVerifier",
		has:  []string{kms.PermUseToSign, kms.PermUseToVerify, kms.PermVersionsViewPublicKey},
		lack: []string{kms.PermUseToDecrypt, kms.PermVersionsGet},
	}, {
		role: "roles/cloudkms.signer",
		has:  []string{kms.PermUseToSign},
		lack: []string{kms.PermUseToVerify, kms.PermVersionsViewPublicKey},
	}, {
		role: "roles/cloudkms.verifier",
		has:  []string{kms.PermUseToVerify, kms.PermVersionsViewPublicKey},
		lack: []string{kms.PermUseToSign},
	}, {
		role: "roles/cloudkms.publicKeyViewer",
		has:  []string{kms.PermVersionsViewPublicKey},
		lack: []string{kms.PermUseToVerify, kms.PermVersionsGet},
	}, {
		role: "roles/cloudkms.cryptoOperator",
		has:  []string{kms.PermUseToEncrypt, kms.PermUseToDecrypt, kms.PermUseToSign, kms.PermUseToVerify, kms.PermVersionsViewPublicKey, kms.PermGenerateRandomBytes},
		lack: []string{kms.PermCryptoKeysGet, kms.PermCryptoKeysCreate},
	}, {
		role: "roles/cloudkms.importer",
		has:  []string{"cloudkms.importJobs.create", "cloudkms.importJobs.get", "cloudkms.importJobs.list", "cloudkms.importJobs.useToImport"},
		lack: []string{PermImportJobsGetIamPolicy, kms.PermCryptoKeysCreate, kms.PermVersionsCreate},
	}}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			ps := Permissions(tc.role)
			if ps == nil {
				t.Fatalf("Permissions(%q) = nil", tc.role)
			}
			for _, p := range tc.has {
				if !slices.Contains(ps, p) {
					t.Errorf("%s lacks %s", tc.role, p)
				}
			}
			for _, p := range tc.lack {
				if slices.Contains(ps, p) {
					t.Errorf("%s grants %s", tc.role, p)
				}
			}
		})
	}
}

func TestCustosRoles(t *testing.T) {
	tests := []struct {
		role string
		want []string
	}{
		{"roles/custos.exporter", []string{PermExport}},
		{"roles/custos.ekmUser", []string{PermEKMUnwrap, PermEKMWrap}},
		{"roles/custos.auditViewer", []string{PermAuditList, PermAuditConfigsGet}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, Permissions(tc.role)); diff != "" {
			t.Errorf("Permissions(%q) (-want +got):\n%s", tc.role, diff)
		}
	}
}

// TestEveryCheckedPermissionIsGranted makes sure that each permission the
// core checks is granted by some role: a typo would lock out everyone but
// the admin.
func TestEveryCheckedPermissionIsGranted(t *testing.T) {
	for _, p := range []string{
		kms.PermKeyRingsCreate, kms.PermKeyRingsGet, kms.PermKeyRingsList,
		kms.PermCryptoKeysCreate, kms.PermCryptoKeysGet, kms.PermCryptoKeysList, kms.PermCryptoKeysUpdate,
		kms.PermVersionsCreate, kms.PermVersionsGet, kms.PermVersionsList, kms.PermVersionsUpdate,
		kms.PermVersionsDestroy, kms.PermVersionsRestore, kms.PermVersionsViewPublicKey,
		kms.PermUseToEncrypt, kms.PermUseToDecrypt, kms.PermUseToSign, kms.PermUseToVerify,
		kms.PermGenerateRandomBytes,
		PermKeyRingsGetIamPolicy, PermKeyRingsSetIamPolicy, PermCryptoKeysGetIamPolicy,
		PermCryptoKeysSetIamPolicy, PermImportJobsGetIamPolicy, PermImportJobsSetIamPolicy,
		PermExport, PermEKMWrap, PermEKMUnwrap, PermAuditList, PermAuditConfigsGet,
	} {
		if roles.permRoles[p] == 0 {
			t.Errorf("no role grants %s", p)
		}
		if !KnownPermission(p) {
			t.Errorf("KnownPermission(%q) = false", p)
		}
	}
	for _, p := range []string{PermProjectsGetIamPolicy, PermProjectsSetIamPolicy, PermAuditConfigsUpdate} {
		if !KnownPermission(p) {
			t.Errorf("KnownPermission(%q) = false", p)
		}
		if roles.permRoles[p] != 0 {
			t.Errorf("a role grants %s; only the admin should hold it", p)
		}
	}
}

func TestRolesList(t *testing.T) {
	rs := Roles()
	if !sort.StringsAreSorted(rs) {
		t.Errorf("Roles() = %v, not sorted", rs)
	}
	if len(rs) != len(roleTable) {
		t.Errorf("Roles() has %d roles, want %d", len(rs), len(roleTable))
	}
	rs[0] = "changed"
	if Roles()[0] == "changed" {
		t.Error("Roles() returns the table itself")
	}
	ps := Permissions("roles/custos.exporter")
	ps[0] = "changed"
	if Permissions("roles/custos.exporter")[0] == "changed" {
		t.Error("Permissions() returns the table itself")
	}
	if ps := Permissions("roles/owner"); ps != nil {
		t.Errorf("Permissions(roles/owner) = %v, want nil", ps)
	}
	for r, ps := range roleTable {
		if !slices.IsSorted(ps) {
			t.Errorf("%s: permissions not in the published (sorted) order", r)
		}
	}
}
