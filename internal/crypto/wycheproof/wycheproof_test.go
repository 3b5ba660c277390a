// SPDX-License-Identifier: Apache-2.0

package wycheproof

import "testing"

// TestPath checks that the vectors are found by a path relative to the
// package directory, the one CI's fresh clone with shared/ beside it has.
func TestPath(t *testing.T) {
	got, err := Path("aes_gcm_test.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := "../../../../shared/testdata/wycheproof/aes_gcm_test.json"; got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	var f File[struct{}]
	Load(t, "aes_gcm_test.json", &f)
	if f.NumberOfTests == 0 || len(f.TestGroups) == 0 {
		t.Errorf("loaded %d tests in %d groups", f.NumberOfTests, len(f.TestGroups))
	}
}
