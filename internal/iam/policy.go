// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// Policy is an IAM policy: roles bound to members, on the model of
// google.iam.v1.Policy without conditions or audit configs.
type Policy struct {
	// Version is the policy's schema version: always 1 as stored, since
	// Custos policies have no conditions.
	Version int `json:"version"`
	// Etag identifies this revision of the policy (standard base64). Pass it
	// back to SetIamPolicy to refuse to overwrite a concurrent change.
	Etag string `json:"etag"`
	// Bindings are sorted by role, each role at most once, members sorted.
	Bindings []Binding `json:"bindings,omitempty"`
}

// Binding grants one role to members ("app:NAME" or "group:NAME").
type Binding struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
}

// Limits of a policy, as Google Cloud IAM sets them.
const (
	// MaxMembers is the largest number of members a policy may hold,
	// counted across its bindings ("up to 1,500 principals").
	MaxMembers = 1500
	// maxNameLen bounds app and group names.
	maxNameLen = 128
)

// Member prefixes.
const (
	appPrefix   = "app:"
	groupPrefix = "group:"
)

// validName accepts app and group names: 1 to 128 characters of letters,
// digits, '.', '_', '-' and '@'. Whether the app exists is not checked, as
// Google Cloud does not check that a principal exists when it is bound.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return false
		}
	}
	return true
}

// validMember reports whether m is "app:NAME" or "group:NAME".
func validMember(m string) bool {
	if name, ok := strings.CutPrefix(m, appPrefix); ok {
		return validName(name)
	}
	if name, ok := strings.CutPrefix(m, groupPrefix); ok {
		return validName(name)
	}
	return false
}

// normalize validates the bindings of a policy being set and returns them
// in canonical form: bindings of one role merged, members deduplicated and
// sorted, bindings without members dropped, sorted by role. Errors are
// INVALID_ARGUMENT and name the offending role or member.
func normalize(p Policy) (Policy, error) {
	switch p.Version {
	case 0, 1, 3:
	default:
		return Policy{}, kmserr.InvalidArgument("policy.version", "must be 1 or 3, not %d", p.Version)
	}
	byRole := map[string][]string{}
	for _, b := range p.Bindings {
		if _, ok := roles.bit[b.Role]; !ok {
			return Policy{}, kmserr.InvalidArgument("policy.bindings.role", "role %q is not supported", b.Role)
		}
		for _, m := range b.Members {
			if !validMember(m) {
				return Policy{}, kmserr.InvalidArgument("policy.bindings.members", "member %q of role %s is not valid: want app:NAME or group:NAME", m, b.Role)
			}
		}
		byRole[b.Role] = append(byRole[b.Role], b.Members...)
	}
	out := Policy{Version: 1}
	total := 0
	for role, ms := range byRole {
		sort.Strings(ms)
		ms = slices.Compact(ms)
		if len(ms) == 0 {
			continue
		}
		total += len(ms)
		out.Bindings = append(out.Bindings, Binding{Role: role, Members: ms})
	}
	if total > MaxMembers {
		return Policy{}, kmserr.InvalidArgument("policy.bindings.members", "the policy has %d members; at most %d are allowed", total, MaxMembers)
	}
	sort.Slice(out.Bindings, func(i, j int) bool { return out.Bindings[i].Role < out.Bindings[j].Role })
	return out, nil
}

// etagOf returns the etag of revision rev of the policy on resource name:
// standard base64 of 12 bytes of SHA-256 over the name, the revision and the
// bindings. The revision makes every write a new etag, even one that sets
// the same bindings again, so that a read-modify-write never succeeds over
// a change it did not see.
func etagOf(name string, rev int64, bindings []Binding) string {
	h := sha256.New()
	h.Write([]byte("custos iam policy etag v1\x00"))
	h.Write([]byte(name))
	h.Write([]byte{0})
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(rev))
	h.Write(n[:])
	b, _ := json.Marshal(bindings) // strings only: cannot fail
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil)[:12])
}

// Storage of policies: one record per resource that has one.
const (
	kindPolicy   storage.Kind = "iampolicy"
	policyParent              = "iam"
)

// policyRecordName is the storage name of the policy of resource name.
func policyRecordName(name string) string { return "iam/" + name }

// emptyPolicy is the policy of a resource that has none: version 1, no
// bindings, and the etag of revision 0.
func emptyPolicy(name string) *Policy {
	return &Policy{Version: 1, Etag: etagOf(name, 0, nil)}
}

// Signer authenticates stored records; *keystore.Keystore is one.
type Signer interface {
	// Sign sets r.MAC.
	Sign(r *storage.Record)
	// Verify returns an error unless r.MAC authenticates r.
	Verify(r storage.Record) error
}

// records encodes and decodes the package's signed records.
type records struct {
	store  storage.Store
	signer Signer
}

// encode serializes v into a signed record.
func (rs records) encode(kind storage.Kind, name, parent string, v any) (storage.Record, error) {
	return signed.Encode(rs.signer, kind, name, parent, 0, v)
}

// decode verifies r's MAC and kind, then unmarshals it into v. A record that
// fails either check was altered or moved on disk: it is refused, never used.
func (rs records) decode(r storage.Record, kind storage.Kind, v any) error {
	return signed.Decode(rs.signer, r, kind, v)
}

// readPolicy reads the policy of resource name through rd. It returns the
// policy, its record (Rev 0 if there is none) and whether one is stored.
func (rs records) readPolicy(ctx context.Context, rd storage.Reader, name string) (*Policy, storage.Record, bool, error) {
	rec, err := rd.Get(ctx, policyRecordName(name))
	if errors.Is(err, storage.ErrNotFound) {
		return emptyPolicy(name), storage.Record{}, false, nil
	}
	if err != nil {
		return nil, rec, false, storeErr(err)
	}
	p := new(Policy)
	if err := rs.decode(rec, kindPolicy, p); err != nil {
		return nil, rec, false, err
	}
	return p, rec, true, nil
}

// storeErr converts a storage error into an API error; a lost race on a
// policy is IAM's own ABORTED answer.
func storeErr(err error) error {
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrExists) {
		return errConcurrent()
	}
	return signed.Err(err, "policy", "")
}

// errConcurrent is Google Cloud IAM's answer to an etag mismatch.
func errConcurrent() error {
	return kmserr.Aborted("There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
}
