// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// TestCheckStillDestroyed: a version the audit log records as destroyed
// may hold material again only when it was imported again afterwards.
func TestCheckStillDestroyed(t *testing.T) {
	destroyed := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := func(v Version) storage.Record {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return storage.Record{Kind: kindVersion, Name: v.Name, Data: b}
	}
	const name = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
	for _, tc := range []struct {
		what string
		v    Version
		bad  bool
	}{
		{"still destroyed", Version{Name: name, State: Destroyed}, false},
		{"imported again since", Version{Name: name, State: Enabled, Material: []byte("m1..."), ImportTime: destroyed.Add(time.Hour)}, false},
		{"put back, generated", Version{Name: name, State: Enabled, Material: []byte("m1...")}, true},
		{"put back, imported before", Version{Name: name, State: DestroyScheduled, Material: []byte("m1..."), ImportTime: destroyed.Add(-time.Hour)}, true},
	} {
		err := CheckStillDestroyed(rec(tc.v), destroyed)
		if (err != nil) != tc.bad {
			t.Errorf("%s: %v, want a problem %v", tc.what, err, tc.bad)
		}
		if err != nil && !strings.Contains(err.Error(), "2026-05-01T12:00:00Z") {
			t.Errorf("%s: %v does not say when it was destroyed", tc.what, err)
		}
	}
}
