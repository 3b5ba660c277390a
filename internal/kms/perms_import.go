// SPDX-License-Identifier: Apache-2.0

package kms

// Permissions of the import job methods, named as Cloud KMS publishes them
// (the "Authorization requires" lines of importJobs.create, get, list and
// cryptoKeyVersions.import in https://cloud.google.com/kms/docs/reference/rest).
const (
	PermImportJobsCreate      = "cloudkms.importJobs.create"
	PermImportJobsGet         = "cloudkms.importJobs.get"
	PermImportJobsList        = "cloudkms.importJobs.list"
	PermImportJobsUseToImport = "cloudkms.importJobs.useToImport"
)
