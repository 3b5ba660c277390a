// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"errors"
	"testing"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   resName
		parent string
		bad    bool
	}{
		{name: "location", in: "projects/p/locations/global",
			want: resName{kind: kindLocation, project: "p", location: "global"}},
		{name: "key ring", in: "projects/my-proj/locations/us-east1/keyRings/app",
			want:   resName{kind: kindKeyRing, project: "my-proj", location: "us-east1", keyRing: "app"},
			parent: "projects/my-proj/locations/us-east1"},
		{name: "key", in: "projects/p/locations/l/keyRings/r/cryptoKeys/k_1",
			want:   resName{kind: kindCryptoKey, project: "p", location: "l", keyRing: "r", cryptoKey: "k_1"},
			parent: "projects/p/locations/l/keyRings/r"},
		{name: "version", in: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/12",
			want:   resName{kind: kindVersion, project: "p", location: "l", keyRing: "r", cryptoKey: "k", version: "12"},
			parent: "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
		{name: "empty", in: "", bad: true},
		{name: "project only", in: "projects/p", bad: true},
		{name: "odd segments", in: "projects/p/locations/l/keyRings", bad: true},
		{name: "wrong collection", in: "projects/p/locations/l/rings/r", bad: true},
		{name: "collection case matters", in: "projects/p/locations/l/keyrings/r", bad: true},
		{name: "empty id", in: "projects/p/locations/l/keyRings/", bad: true},
		{name: "leading slash", in: "/projects/p/locations/l", bad: true},
		{name: "trailing slash", in: "projects/p/locations/l/", bad: true},
		{name: "colon in key id", in: "projects/p/locations/l/keyRings/r/cryptoKeys/k:encrypt", bad: true},
		{name: "query in id", in: "projects/p/locations/l/keyRings/r?x=1", bad: true},
		{name: "non-numeric version", in: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/one", bad: true},
		{name: "too long", in: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1/x/y", bad: true},
		{name: "id too long", in: "projects/p/locations/l/keyRings/" + string(make([]byte, 64)), bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := parseName(tc.in)
			if tc.bad {
				if why == "" {
					t.Fatalf("parseName(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if why != "" {
				t.Fatalf("parseName(%q) failed: %s", tc.in, why)
			}
			if got != tc.want {
				t.Fatalf("parseName(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want %q", s, tc.in)
			}
			if tc.parent != "" {
				if p := got.parent().String(); p != tc.parent {
					t.Errorf("parent() = %q, want %q", p, tc.parent)
				}
			}
		})
	}
}

func TestParseAsKindMismatchIsUsageError(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []kind
	}{
		{"ring where a key is wanted", "projects/p/locations/l/keyRings/r", []kind{kindCryptoKey}},
		{"version where a key is wanted", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", []kind{kindCryptoKey}},
		{"key where a version is wanted", "projects/p/locations/l/keyRings/r/cryptoKeys/k", []kind{kindVersion}},
		{"garbage where a key or version is wanted", "k", []kind{kindCryptoKey, kindVersion}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAs(tc.in, tc.want...)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseAs(%q) = %v, want a usage error", tc.in, err)
			}
		})
	}
}

func TestVersionID(t *testing.T) {
	key, _ := parseAs("projects/p/locations/l/keyRings/r/cryptoKeys/k", kindCryptoKey)
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{name: "bare id", in: "3", want: "3"},
		{name: "full name", in: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/7", want: "7"},
		{name: "other key's version", in: "projects/p/locations/l/keyRings/r/cryptoKeys/other/cryptoKeyVersions/7", bad: true},
		{name: "not a number", in: "seven", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := versionID(key, tc.in)
			if tc.bad {
				if exitCode(err) != 2 {
					t.Fatalf("versionID(%q) = %q, %v; want a usage error", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("versionID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("projects/p/locations/l")
	f.Add("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1")
	f.Add("projects//locations/l")
	f.Fuzz(func(t *testing.T, s string) {
		n, why := parseName(s)
		if why != "" {
			return
		}
		if got := n.String(); got != s {
			t.Fatalf("parseName(%q).String() = %q", s, got)
		}
		if n.kind > kindLocation {
			if p, why := parseName(n.parent().String()); why != "" || p.kind != n.kind-1 {
				t.Fatalf("parent of %q does not parse: %s", s, why)
			}
		}
	})
}
