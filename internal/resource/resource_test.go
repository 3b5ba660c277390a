// SPDX-License-Identifier: Apache-2.0

package resource

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind Kind
	}{
		{"project", "projects/p1", KindProject},
		{"location", "projects/p1/locations/us-east1", KindLocation},
		{"key ring", "projects/p/locations/global/keyRings/r_1-A", KindKeyRing},
		{"crypto key", "projects/p/locations/global/keyRings/r/cryptoKeys/k", KindCryptoKey},
		{"version", "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/12", KindCryptoKeyVersion},
		{"import job", "projects/p/locations/global/keyRings/r/importJobs/j", KindImportJob},
		{"empty", "", KindInvalid},
		{"trailing slash", "projects/p/", KindInvalid},
		{"odd segments", "projects/p/locations", KindInvalid},
		{"wrong collection", "projects/p/regions/x", KindInvalid},
		{"version zero", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/0", KindInvalid},
		{"version leading zero", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/01", KindInvalid},
		{"version negative", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/-1", KindInvalid},
		{"version huge", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/99999999999", KindInvalid},
		{"version under import job", "projects/p/locations/l/keyRings/r/importJobs/j/cryptoKeyVersions/1", KindInvalid},
		{"id too long", "projects/p/locations/l/keyRings/" + string(make([]byte, 64)), KindInvalid},
		{"bad char in id", "projects/p/locations/l/keyRings/a.b", KindInvalid},
		{"upper-case project", "projects/P/locations/l", KindInvalid},
		{"path traversal", "projects/p/locations/l/keyRings/..", KindInvalid},
		{"dot-dot project", "projects/../locations/l/keyRings/r", KindInvalid},
		{"dot project", "projects/./locations/l", KindInvalid},
		{"project starting with a dot", "projects/.p/locations/l", KindInvalid},
		{"domain-scoped project", "projects/example.com:p-1/locations/l", KindLocation},
		{"project number", "projects/123456789/locations/l", KindLocation},
		{"extra segments", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1/x/y", KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse(tc.in)
			if tc.kind == KindInvalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrInvalid", tc.in, n, err)
				}
				return
			}
			if err != nil || n.Kind != tc.kind {
				t.Fatalf("Parse(%q) = %v, %v; want kind %v", tc.in, n, err, tc.kind)
			}
			if got := n.String(); got != tc.in {
				t.Errorf("Parse(%q).String() = %q", tc.in, got)
			}
		})
	}
}

func TestAncestorsAndChildren(t *testing.T) {
	v, err := ParseKind("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3", KindCryptoKeyVersion)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3",
		"projects/p/locations/l/keyRings/r/cryptoKeys/k",
		"projects/p/locations/l/keyRings/r",
		"projects/p/locations/l",
		"projects/p",
	}
	got := v.Ancestors()
	if len(got) != len(want) {
		t.Fatalf("Ancestors() has %d names, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("Ancestors()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if s := v.Key().VersionName(4).String(); s != "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/4" {
		t.Errorf("VersionName(4) = %q", s)
	}
	if s := v.ImportJobName("j").String(); s != "projects/p/locations/l/keyRings/r/importJobs/j" {
		t.Errorf("ImportJobName = %q", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1")
	f.Add("projects/p/locations/l/keyRings/r/importJobs/j")
	f.Add("projects//locations")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, n.String())
		}
	})
}
