// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"time"

	"github.com/custos-kms/custos/internal/crypto/alg"
)

// State is a CryptoKeyVersion state, named as in Cloud KMS.
type State string

const (
	PendingGeneration State = "PENDING_GENERATION"
	Enabled           State = "ENABLED"
	Disabled          State = "DISABLED"
	DestroyScheduled  State = "DESTROY_SCHEDULED"
	Destroyed         State = "DESTROYED"
	PendingImport     State = "PENDING_IMPORT"
	ImportFailed      State = "IMPORT_FAILED"
)

// Protection levels, named as in Cloud KMS.
const (
	Software = "SOFTWARE"
	HSM      = "HSM"
	External = "EXTERNAL"
)

// KeyRing is a Cloud KMS key ring.
type KeyRing struct {
	Name       string    `json:"name"`
	CreateTime time.Time `json:"createTime"`
}

// VersionTemplate says how new versions of a key are made.
type VersionTemplate struct {
	Algorithm       alg.Algorithm `json:"algorithm"`
	ProtectionLevel string        `json:"protectionLevel"`
}

// CryptoKey is a Cloud KMS crypto key. It holds no material: versions do.
type CryptoKey struct {
	Name       string      `json:"name"`
	Purpose    alg.Purpose `json:"purpose"`
	CreateTime time.Time   `json:"createTime"`
	// Primary is the primary version's number for ENCRYPT_DECRYPT keys, 0 if none.
	Primary                  int64             `json:"primary,omitempty"`
	Template                 VersionTemplate   `json:"template"`
	Labels                   map[string]string `json:"labels,omitempty"`
	RotationPeriod           time.Duration     `json:"rotationPeriod,omitempty"`
	NextRotationTime         time.Time         `json:"nextRotationTime,omitzero"`
	DestroyScheduledDuration time.Duration     `json:"destroyScheduledDuration"`
	ImportOnly               bool              `json:"importOnly,omitempty"`
	// Exportable is fixed at creation; export still needs its own permission.
	Exportable bool `json:"exportable,omitempty"`
	// EKMID is the unguessable id of the key's Cloud EKM URI, fixed for life.
	EKMID string `json:"ekmId,omitempty"`
	// LastVersion is the highest version number handed out so far.
	LastVersion int64 `json:"lastVersion"`
}

// Version is a Cloud KMS crypto key version.
type Version struct {
	Name                string        `json:"name"`
	State               State         `json:"state"`
	Algorithm           alg.Algorithm `json:"algorithm"`
	ProtectionLevel     string        `json:"protectionLevel"`
	CreateTime          time.Time     `json:"createTime"`
	GenerateTime        time.Time     `json:"generateTime,omitzero"`
	DestroyTime         time.Time     `json:"destroyTime,omitzero"`
	DestroyEventTime    time.Time     `json:"destroyEventTime,omitzero"`
	ImportJob           string        `json:"importJob,omitempty"`
	ImportTime          time.Time     `json:"importTime,omitzero"`
	ImportFailureReason string        `json:"importFailureReason,omitempty"`
	// ReimportEligible is true for an imported version whose material was
	// destroyed: the same material may be imported into it again.
	ReimportEligible bool `json:"reimportEligible,omitempty"`
	// Material is the key material sealed by the keystore; nil once destroyed.
	Material []byte `json:"material,omitempty"`
	// Fingerprint is a keyed hash of the material, kept after destruction so
	// that a re-import can prove it brings the same material back.
	Fingerprint []byte `json:"fingerprint,omitempty"`
}

// PublicKey is the public half of an asymmetric version.
type PublicKey struct {
	Name            string
	PEM             string
	Algorithm       alg.Algorithm
	ProtectionLevel string
}

// Page is a page request of a List method.
type Page struct {
	Size    int
	Token   string
	Filter  string
	OrderBy string
}
