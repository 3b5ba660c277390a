// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBarrierRotate: rotating the barrier key moves every sealed value to a
// new one; ciphertexts made before still decrypt, before and after a
// restart (the dev admin token, resealed too, still opens); an app cannot
// rotate; the store passes its scan; the change is recorded.
func TestBarrierRotate(t *testing.T) {
	dir := t.TempDir()
	s := startServerIn(t, dir)
	const key = "projects/p/locations/global/keyRings/b/cryptoKeys/k"
	for _, args := range [][]string{
		{"keyrings", "create", "projects/p/locations/global/keyRings/b"},
		{"keys", "create", key},
		{"keys", "rotate", key},
	} {
		if _, stderr, code := cliAs(t, s, s.token, args...); code != 0 {
			t.Fatalf("custos %v: exit %d, %s", args, code, stderr)
		}
	}
	plain := filepath.Join(dir, "plain.txt")
	sealed := filepath.Join(dir, "plain.enc")
	if err := os.WriteFile(plain, []byte("attack at dawn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cliAs(t, s, s.token, "encrypt", key, "--in", plain, "--out", sealed); code != 0 {
		t.Fatalf("encrypt: exit %d, %s", code, stderr)
	}
	decrypts := func(s *server) {
		t.Helper()
		out, stderr, code := cliAs(t, s, s.token, "decrypt", key, "--in", sealed)
		if code != 0 || out != "attack at dawn" {
			t.Fatalf("decrypt: exit %d, %q, %s", code, out, stderr)
		}
	}

	s.plainTarget().mustCreateApp(t, s.token, "outsider", "")
	_, appKey := s.plainTarget().mustAPIKey(t, s.token, "outsider")
	if _, stderr, code := cliAs(t, s, appKey, "barrier", "rotate"); code != 1 || !strings.Contains(stderr, "PERMISSION_DENIED") {
		t.Fatalf("an app rotating the barrier key: exit %d, %s", code, stderr)
	}

	out, stderr, code := cliAs(t, s, s.token, "barrier", "rotate")
	// Two versions' material and the dev admin token.
	if code != 0 || out != "barrier key 2 seals everything now; 3 sealed values moved to it\n" {
		t.Fatalf("barrier rotate: exit %d, %q, %s", code, out, stderr)
	}
	decrypts(s)
	out, _, code = cliAs(t, s, s.token, "barrier", "reseal", "-o", "json")
	if code != 0 || !strings.Contains(out, `"barrier": 2`) || !strings.Contains(out, `"resealed": 0`) {
		t.Errorf("barrier reseal after a whole rotation: exit %d, %q", code, out)
	}
	if _, stderr, code := cliAs(t, s, s.token, "store", "verify"); code != 0 {
		t.Errorf("store verify after the rotation: exit %d, %s", code, stderr)
	}
	export, _, _ := cliAs(t, s, s.token, "audit", "export", "--method", "RotateBarrierKey")
	if !strings.Contains(export, `"status":"OK"`) || !strings.Contains(export, `"barrier":"2"`) {
		t.Errorf("the audit log of the rotation: %q", export)
	}

	token := s.token
	s.stop(t)
	s = startServerIn(t, dir)
	if s.token != token {
		t.Fatalf("after a restart the dev admin token changed")
	}
	decrypts(s)
	out, _, code = cliAs(t, s, s.token, "barrier", "rotate", "-o", "json")
	if code != 0 || !strings.Contains(out, `"barrier": 3`) || !strings.Contains(out, `"resealed": 3`) {
		t.Errorf("a second rotation after a restart: exit %d, %q", code, out)
	}
	decrypts(s)
}
