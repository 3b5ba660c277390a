// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliAs runs the CLI against s with token and returns its stdout, stderr
// and exit code.
func cliAs(t *testing.T, s *server, token string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(custosBin, args...)
	cmd.Env = append(os.Environ(), "CUSTOS_ADDR=http://"+s.restAddr, "CUSTOS_TOKEN="+token, "CUSTOS_TOKEN_FILE=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("custos %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// status is the HTTP status of listing key rings as token.
func (s *server) status(t *testing.T, token string) int {
	t.Helper()
	return s.do(t, restCall{method: "GET", path: "/v1/projects/p/locations/global/keyRings", token: &token}).status
}

// TestAdminTokenRotateDev: the admin changes the admin token; the old one is
// refused at once, the new one works, the dev token file and a restarted
// server hand out the new one, an app cannot change it, and the change is
// recorded without the token.
func TestAdminTokenRotateDev(t *testing.T) {
	dir := t.TempDir()
	s := startServerIn(t, dir)
	old := s.token

	s.plainTarget().mustCreateApp(t, s.token, "rotator", "")
	_, key := s.plainTarget().mustAPIKey(t, s.token, "rotator")
	if _, stderr, code := cliAs(t, s, key, "admin-token", "rotate"); code != 1 || !strings.Contains(stderr, "PERMISSION_DENIED") {
		t.Fatalf("an app rotating the admin token: exit %d, %s", code, stderr)
	}

	stdout, stderr, code := cliAs(t, s, old, "admin-token", "rotate")
	if code != 0 {
		t.Fatalf("admin-token rotate: exit %d, %s", code, stderr)
	}
	tok := strings.TrimSuffix(stdout, "\n")
	if !strings.HasPrefix(tok, "custos_admin_") || strings.Contains(tok, "\n") || tok == old {
		t.Fatalf("admin-token rotate printed %q, want one new token", stdout)
	}
	if got := s.status(t, old); got != http.StatusUnauthorized {
		t.Errorf("the old token answers %d, want 401", got)
	}
	if got := s.status(t, tok); got != http.StatusOK {
		t.Errorf("the new token answers %d, want 200", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "admin-token")); err != nil || string(b) != tok+"\n" {
		t.Errorf("the dev token file holds %q (%v), want the new token", b, err)
	}
	if _, _, code := cliAs(t, s, old, "admin-token", "rotate"); code != 1 {
		t.Errorf("the old token rotating again: exit %d, want 1", code)
	}

	export, stderr, code := cliAs(t, s, tok, "audit", "export", "--method", "RotateAdminToken")
	if code != 0 || !strings.Contains(export, `"principal":"admin"`) || !strings.Contains(export, `"status":"OK"`) {
		t.Errorf("the audit log of the change: exit %d, %s%s", code, export, stderr)
	}
	all, _, _ := cliAs(t, s, tok, "audit", "export")
	if strings.Contains(all, tok) || strings.Contains(all, old) || strings.Contains(s.output.String(), tok) {
		t.Error("an admin token is in the audit log or the server log")
	}

	s.stop(t)
	s = startServerIn(t, dir)
	if s.token != tok {
		t.Fatalf("after a restart the token file holds %q, want the new token", s.token)
	}
	if got := s.status(t, old); got != http.StatusUnauthorized {
		t.Errorf("after a restart the old token answers %d, want 401", got)
	}
}

// TestAdminTokenRotateProduction: a production server keeps only the new
// token's hash across a restart; with the server stopped, init
// --new-admin-token is the way back in for whoever holds the root key, and
// is recorded; while the server runs it is refused.
func TestAdminTokenRotateProduction(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	rootKey := filepath.Join(dir, "root-key")
	initToken := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(custosBin, append([]string{"init", "--data", data, "--root-key-file", rootKey}, args...)...).Output()
		if err != nil {
			t.Fatalf("custos init %v: %v", args, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1]
	}
	first := initToken()

	s := startProduction(t, data, rootKey, first)
	stdout, stderr, code := cliAs(t, s, first, "admin-token", "rotate", "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"token": "custos_admin_`) {
		t.Fatalf("admin-token rotate -o json: exit %d, %s%s", code, stdout, stderr)
	}
	second := stdout[strings.Index(stdout, "custos_admin_"):]
	second = second[:strings.IndexByte(second, '"')]
	if got := s.status(t, first); got != http.StatusUnauthorized {
		t.Errorf("the first token answers %d, want 401", got)
	}
	b, err := exec.Command(custosBin, "init", "--data", data, "--root-key-file", rootKey, "--new-admin-token").CombinedOutput()
	if err == nil || strings.Contains(string(b), "custos_admin_") {
		t.Fatalf("init --new-admin-token while the server runs = %v:\n%s", err, b)
	}
	s.stop(t)

	s = startProduction(t, data, rootKey, second)
	if got := s.status(t, second); got != http.StatusOK {
		t.Fatalf("after a restart the rotated token answers %d, want 200", got)
	}
	if got := s.status(t, first); got != http.StatusUnauthorized {
		t.Errorf("after a restart the first token answers %d, want 401", got)
	}
	s.stop(t)

	third := initToken("--new-admin-token")
	if !strings.HasPrefix(third, "custos_admin_") || third == second {
		t.Fatalf("init --new-admin-token printed %q", third)
	}
	s = startProduction(t, data, rootKey, third)
	if got := s.status(t, second); got != http.StatusUnauthorized {
		t.Errorf("the token before init --new-admin-token answers %d, want 401", got)
	}
	export, stderr, code := cliAs(t, s, third, "audit", "export", "--method", "RotateAdminToken")
	if code != 0 || strings.Count(export, "\n") != 2 || !strings.Contains(export, `"principal":"local:custos-init"`) {
		t.Errorf("the audit log of both changes: exit %d, %s%s", code, export, stderr)
	}
	if _, stderr, code := cliAs(t, s, third, "store", "verify"); code != 0 {
		t.Errorf("store verify after the changes: exit %d, %s", code, stderr)
	}

	devDir := t.TempDir()
	dev := startServerIn(t, devDir)
	dev.stop(t)
	b, err = exec.Command(custosBin, "init", "--data", devDir, "--root-key-file", filepath.Join(devDir, "root-key"), "--new-admin-token").CombinedOutput()
	if err == nil {
		t.Errorf("init --new-admin-token on a dev folder succeeded:\n%s", b)
	}
}
