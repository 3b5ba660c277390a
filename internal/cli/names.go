// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"fmt"
	"regexp"
	"strings"
)

// kind is the kind of a Cloud KMS resource name.
type kind int

const (
	kindLocation kind = iota + 1
	kindKeyRing
	kindCryptoKey
	kindVersion
)

// pattern returns the name pattern shown in errors and help.
func (k kind) pattern() string {
	switch k {
	case kindLocation:
		return "projects/P/locations/L"
	case kindKeyRing:
		return "projects/P/locations/L/keyRings/R"
	case kindCryptoKey:
		return "projects/P/locations/L/keyRings/R/cryptoKeys/K"
	case kindVersion:
		return "projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N"
	}
	return "?"
}

func (k kind) String() string {
	switch k {
	case kindLocation:
		return "location"
	case kindKeyRing:
		return "key ring"
	case kindCryptoKey:
		return "key"
	case kindVersion:
		return "key version"
	}
	return "resource"
}

// resName is a parsed Cloud KMS resource name.
type resName struct {
	kind                                           kind
	project, location, keyRing, cryptoKey, version string
}

// Collection keywords, in order, after the project id.
var nameCollections = []string{"projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions"}

// Identifier syntax. Key ring and key ids follow Cloud KMS
// ([a-zA-Z0-9_-]{1,63}); project and location ids also admit dots (legacy
// domain-scoped projects); version ids are the decimal numbers the service
// assigns.
var (
	projectIDRE  = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,100}$`)
	resourceIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
	versionIDRE  = regexp.MustCompile(`^[0-9]{1,20}$`)
)

// parseName parses a location, key ring, key or key version name. On
// failure it returns a short reason for the user.
func parseName(s string) (resName, string) {
	parts := strings.Split(s, "/")
	if len(parts) < 4 || len(parts)%2 != 0 || len(parts) > 2*len(nameCollections) {
		return resName{}, "it does not have the shape of a resource name"
	}
	var ids [5]string
	for i := 0; i < len(parts); i += 2 {
		want := nameCollections[i/2]
		if parts[i] != want {
			return resName{}, fmt.Sprintf("segment %d is %q, not %q", i+1, parts[i], want)
		}
		id := parts[i+1]
		re := resourceIDRE
		switch want {
		case "projects", "locations":
			re = projectIDRE
		case "cryptoKeyVersions":
			re = versionIDRE
		}
		if !re.MatchString(id) {
			return resName{}, fmt.Sprintf("%q is not a valid %s id", id, strings.TrimSuffix(want, "s"))
		}
		ids[i/2] = id
	}
	return resName{
		kind:      kind(len(parts)/2 - 1),
		project:   ids[0],
		location:  ids[1],
		keyRing:   ids[2],
		cryptoKey: ids[3],
		version:   ids[4],
	}, ""
}

// parseAs parses s and checks that it names one of the wanted kinds. The
// error is a usage error that shows the expected shapes.
func parseAs(s string, want ...kind) (resName, error) {
	var kinds, pats []string
	for _, k := range want {
		kinds = append(kinds, k.String())
		pats = append(pats, k.pattern())
	}
	n, why := parseName(s)
	if why != "" {
		return resName{}, usageErrorf("%q is not a %s name (%s); want %s",
			s, strings.Join(kinds, " or "), why, strings.Join(pats, " or "))
	}
	for _, k := range want {
		if n.kind == k {
			return n, nil
		}
	}
	return resName{}, usageErrorf("%q names a %s, not a %s; want %s",
		s, n.kind, strings.Join(kinds, " or "), strings.Join(pats, " or "))
}

// String returns the full resource name.
func (n resName) String() string {
	var b strings.Builder
	ids := []string{n.project, n.location, n.keyRing, n.cryptoKey, n.version}
	for i := 0; i <= int(n.kind); i++ {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(nameCollections[i])
		b.WriteByte('/')
		b.WriteString(ids[i])
	}
	return b.String()
}

// parent returns the name of the resource that holds n.
func (n resName) parent() resName {
	p := n
	switch n.kind {
	case kindVersion:
		p.version = ""
	case kindCryptoKey:
		p.cryptoKey = ""
	case kindKeyRing:
		p.keyRing = ""
	}
	p.kind = n.kind - 1
	return p
}

// id returns the last id of n.
func (n resName) id() string {
	switch n.kind {
	case kindLocation:
		return n.location
	case kindKeyRing:
		return n.keyRing
	case kindCryptoKey:
		return n.cryptoKey
	case kindVersion:
		return n.version
	}
	return ""
}

// path returns the REST path of n followed by suffix (":encrypt",
// "/publicKey", "/cryptoKeys", ...).
func (n resName) path(suffix string) string {
	return "/v1/" + n.String() + suffix
}
