// SPDX-License-Identifier: Apache-2.0

package devfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestOpenCreatesThenReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root-key")
	s1, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("root key file mode = %v, want 0600", st.Mode().Perm())
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := s1.RootKey(context.Background())
	k2, _ := s2.RootKey(context.Background())
	if !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatalf("reopened key differs or has length %d", len(k1))
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"world-readable file", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0o644},
		{"short key", "0011\n", 0o600},
		{"not hex", "zz\n", 0o600},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode)
			if _, err := Open(path); err == nil {
				t.Fatalf("Open accepted a %s", tc.name)
			}
		})
	}
}

// TestOpenConcurrentCreate: processes starting together on a new folder all
// end up with the one key that was created, none with an error or a key of
// its own.
func TestOpenConcurrentCreate(t *testing.T) {
	for range 20 {
		path := filepath.Join(t.TempDir(), "root-key")
		keys := make([][]byte, 8)
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				s, err := Open(path)
				if err == nil {
					keys[i] = s.key
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil {
				t.Fatalf("Open #%d = %v", i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("Open #%d returned another key than Open #0", i)
			}
		}
	}
}
