// SPDX-License-Identifier: Apache-2.0

// Package resource parses and formats Cloud KMS v1 resource names:
//
//	projects/{project}/locations/{location}
//	  /keyRings/{ring}
//	    /cryptoKeys/{key}
//	      /cryptoKeyVersions/{version}
//	    /importJobs/{job}
//
// Parsing is strict: every id must match the character set and length that
// Cloud KMS allows, so a parsed [Name] is always safe to store, log and
// compare. It never touches storage.
package resource

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is returned for a name that is not a well-formed resource name
// of the expected kind.
var ErrInvalid = errors.New("resource: invalid name")

// Kind is the sort of resource a name designates.
type Kind int

const (
	KindInvalid Kind = iota
	KindProject
	KindLocation
	KindKeyRing
	KindCryptoKey
	KindCryptoKeyVersion
	KindImportJob
)

func (k Kind) String() string {
	switch k {
	case KindProject:
		return "project"
	case KindLocation:
		return "location"
	case KindKeyRing:
		return "key ring"
	case KindCryptoKey:
		return "crypto key"
	case KindCryptoKeyVersion:
		return "crypto key version"
	case KindImportJob:
		return "import job"
	}
	return "invalid"
}

// Name is a parsed resource name. Fields below its kind are empty (Version 0).
type Name struct {
	Kind      Kind
	Project   string
	Location  string
	KeyRing   string
	CryptoKey string
	Version   int64
	ImportJob string
}

// ValidID reports whether id is a valid key ring, crypto key or import job id:
// 1 to 63 characters of [a-zA-Z0-9_-], as Cloud KMS requires.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validProject accepts Google project ids and numbers: 1 to 63 characters
// of lower-case letters, digits, '-', '.', ':' (domain-scoped projects),
// starting with a letter or digit, so that no id is a dot segment ("." or
// "..") that an HTTP path would resolve away.
func validProject(s string) bool {
	if len(s) == 0 || len(s) > 63 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// validLocation accepts region labels such as "global", "us-east1", "europe".
func validLocation(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Parse parses any resource name of the hierarchy.
func Parse(s string) (Name, error) {
	var n Name
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts)%2 != 0 {
		return Name{}, ErrInvalid
	}
	for i := 0; i < len(parts); i += 2 {
		coll, id := parts[i], parts[i+1]
		switch {
		case i == 0 && coll == "projects" && validProject(id):
			n.Project, n.Kind = id, KindProject
		case i == 2 && coll == "locations" && validLocation(id):
			n.Location, n.Kind = id, KindLocation
		case i == 4 && coll == "keyRings" && ValidID(id):
			n.KeyRing, n.Kind = id, KindKeyRing
		case i == 6 && coll == "cryptoKeys" && ValidID(id):
			n.CryptoKey, n.Kind = id, KindCryptoKey
		case i == 6 && coll == "importJobs" && ValidID(id):
			n.ImportJob, n.Kind = id, KindImportJob
		case i == 8 && coll == "cryptoKeyVersions" && n.Kind == KindCryptoKey:
			v, err := parseVersion(id)
			if err != nil {
				return Name{}, err
			}
			n.Version, n.Kind = v, KindCryptoKeyVersion
		default:
			return Name{}, ErrInvalid
		}
	}
	return n, nil
}

// parseVersion accepts a positive decimal without sign or leading zeros.
func parseVersion(id string) (int64, error) {
	if id == "" || id[0] == '0' || len(id) > 10 {
		return 0, ErrInvalid
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0, ErrInvalid
		}
	}
	v, err := strconv.ParseInt(id, 10, 64)
	if err != nil || v > 1<<31-1 {
		return 0, ErrInvalid
	}
	return v, nil
}

// ParseKind parses s and checks that it names a resource of kind k.
func ParseKind(s string, k Kind) (Name, error) {
	n, err := Parse(s)
	if err != nil || n.Kind != k {
		return Name{}, ErrInvalid
	}
	return n, nil
}

// String formats the name back; Parse(n.String()) == n for a valid n.
func (n Name) String() string {
	var b strings.Builder
	b.Grow(128)
	if n.Kind >= KindProject {
		b.WriteString("projects/")
		b.WriteString(n.Project)
	}
	if n.Kind >= KindLocation {
		b.WriteString("/locations/")
		b.WriteString(n.Location)
	}
	if n.Kind >= KindKeyRing {
		b.WriteString("/keyRings/")
		b.WriteString(n.KeyRing)
	}
	switch n.Kind {
	case KindCryptoKey, KindCryptoKeyVersion:
		b.WriteString("/cryptoKeys/")
		b.WriteString(n.CryptoKey)
		if n.Kind == KindCryptoKeyVersion {
			b.WriteString("/cryptoKeyVersions/")
			b.WriteString(strconv.FormatInt(n.Version, 10))
		}
	case KindImportJob:
		b.WriteString("/importJobs/")
		b.WriteString(n.ImportJob)
	}
	return b.String()
}

// Parent returns the name one level up (a version's key, a key's ring, ...).
func (n Name) Parent() Name {
	p := n
	switch n.Kind {
	case KindCryptoKeyVersion:
		p.Version, p.Kind = 0, KindCryptoKey
	case KindCryptoKey:
		p.CryptoKey, p.Kind = "", KindKeyRing
	case KindImportJob:
		p.ImportJob, p.Kind = "", KindKeyRing
	case KindKeyRing:
		p.KeyRing, p.Kind = "", KindLocation
	case KindLocation:
		p.Location, p.Kind = "", KindProject
	default:
		return Name{}
	}
	return p
}

// Key returns the crypto key name of a version name (or the name itself).
func (n Name) Key() Name {
	if n.Kind == KindCryptoKeyVersion {
		return n.Parent()
	}
	return n
}

// Ancestors returns the name and every name above it, from n up to the project.
// Authorization walks it to apply inherited policies.
func (n Name) Ancestors() []Name {
	out := make([]Name, 0, 5)
	for c := n; c.Kind != KindInvalid; c = c.Parent() {
		out = append(out, c)
	}
	return out
}

// Child builders.

func (n Name) KeyRingName(id string) Name {
	return Name{Kind: KindKeyRing, Project: n.Project, Location: n.Location, KeyRing: id}
}

func (n Name) CryptoKeyName(id string) Name {
	c := n.KeyRingName(n.KeyRing)
	c.Kind, c.CryptoKey = KindCryptoKey, id
	return c
}

func (n Name) VersionName(v int64) Name {
	c := n.CryptoKeyName(n.CryptoKey)
	c.Kind, c.Version = KindCryptoKeyVersion, v
	return c
}

func (n Name) ImportJobName(id string) Name {
	c := n.KeyRingName(n.KeyRing)
	c.Kind, c.ImportJob = KindImportJob, id
	return c
}
