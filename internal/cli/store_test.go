// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/integrity"
)

func TestStoreVerifyOnline(t *testing.T) {
	var many []string
	for i := range 103 {
		many = append(many, fmt.Sprintf(`{"name":"k/%03d","kind":"version","problem":"its MAC does not verify"}`, i))
	}
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /admin/v1/store:verify": func(r request) reply {
			switch r.Auth {
			case "Bearer good":
				return reply{body: `{"ok":true,"records":12,"sealed":3,"auditEntries":7,"problemCount":0,"problems":[]}`}
			case "Bearer bad":
				return reply{body: `{"ok":false,"records":12,"sealed":2,"auditEntries":7,"problemCount":2,"problems":[` +
					`{"name":"projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1","kind":"version","problem":"its MAC does not verify: the record was altered, or written without the root key"},` +
					`{"name":"evil\u001b[2J\nname","kind":"x\u0007","problem":"its MAC does not verify"}]}`}
			case "Bearer many":
				return reply{body: `{"ok":false,"records":200,"sealed":0,"auditEntries":0,"problemCount":150,"problems":[` + strings.Join(many[:100], ",") + `]}`}
			case "Bearer empty":
				return reply{body: `{}`}
			case "Bearer mixed":
				return reply{body: `{"ok":true,"records":1,"problemCount":1,"problems":[]}`}
			case "Bearer silent":
				return reply{body: `{"ok":false,"records":1,"problemCount":1,"problems":[]}`}
			case "Bearer app":
				return reply{status: 403, body: `{"error":{"code":403,"message":"only the admin may verify the store","status":"PERMISSION_DENIED"}}`}
			case "Bearer down":
				return reply{status: 503, body: `{"error":{"code":503,"message":"the store could not be read to its end","status":"UNAVAILABLE"}}`}
			}
			return reply{status: 401, body: `{"error":{"code":401,"message":"no","status":"UNAUTHENTICATED"}}`}
		},
	})
	env := func(token string) map[string]string {
		return map[string]string{envAddr: srv.srv.URL, envToken: token}
	}

	r := runEnv(t, env("good"), "", "store", "verify").mustSucceed(t)
	if want := "store verified: 12 records, 3 sealed values, 7 audit entries, no problem\n"; r.stdout != want || r.stderr != "" {
		t.Errorf("good: stdout %q, stderr %q; want %q", r.stdout, r.stderr, want)
	}
	r = runEnv(t, env("good"), "", "store", "verify", "-o", "json").mustSucceed(t)
	var rep integrity.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK || rep.Records != 12 || rep.Problems == nil {
		t.Errorf("good -o json: %q (%+v, %v)", r.stdout, rep, err)
	}

	// Damage: exit 1, one line per problem on stderr, control characters
	// of a damaged record's name defused; -o json prints the report too.
	r = runEnv(t, env("bad"), "", "store", "verify")
	wantErr := "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1 (version): its MAC does not verify: the record was altered, or written without the root key\n" +
		"evil?[2J?name (x?): its MAC does not verify\n" +
		"custos: error: the store has 2 problems in 12 records read\n"
	if r.code != 1 || r.stdout != "" || r.stderr != wantErr {
		t.Errorf("bad: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, cmp.Diff(wantErr, r.stderr))
	}
	r = runEnv(t, env("bad"), "", "store", "verify", "-o", "json")
	rep = integrity.Report{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 1 || err != nil || rep.OK || rep.ProblemCount != 2 || len(rep.Problems) != 2 {
		t.Errorf("bad -o json: exit %d, stdout %q (%v)", r.code, r.stdout, err)
	}
	if strings.Contains(r.stderr, "(version)") || !strings.Contains(r.stderr, "custos: error: the store has 2 problems") {
		t.Errorf("bad -o json: stderr %q; want the verdict alone", r.stderr)
	}
	r = runEnv(t, env("many"), "", "store", "verify")
	if r.code != 1 || strings.Count(r.stderr, "(version)") != 100 || !strings.Contains(r.stderr, "... and 50 more\n") {
		t.Errorf("many: exit %d, stderr %q", r.code, r.stderr)
	}

	// No verdict: exit 2, nothing on stdout, whatever the output.
	for _, token := range []string{"empty", "mixed", "silent", "app", "down", "unknown"} {
		for _, o := range []string{"text", "json"} {
			r = runEnv(t, env(token), "", "store", "verify", "-o", o)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("answer %s, -o %s: exit %d, stdout %q, stderr %q; want exit 2", token, o, r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, args := range [][]string{{"extra"}, {"--root-key-file", "k"}, {"--data", ""}, {"--bogus"}} {
		if r := runEnv(t, env("good"), "", append([]string{"store", "verify"}, args...)...); r.code != 2 {
			t.Errorf("store verify %v: exit %d, want 2", args, r.code)
		}
	}
}

func TestStoreVerifyOffline(t *testing.T) {
	noServer := map[string]string{}
	dir := newDataDir(t, 5, false)
	before := dirDigest(t, dir)
	r := runEnv(t, noServer, "", "store", "verify", "--data", dir).mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "store in "+dir+" (offline) verified: ") || !strings.Contains(r.stdout, " 5 audit entries, no problem\n") {
		t.Errorf("stdout %q", r.stdout)
	}
	if diff := cmp.Diff(before, dirDigest(t, dir)); diff != "" {
		t.Errorf("the data folder changed (-before +after):\n%s", diff)
	}

	tamper(t, dir, 3)
	r = runEnv(t, noServer, "", "store", "verify", "--data", dir, "-o", "json")
	var rep integrity.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 1 || err != nil || rep.OK || rep.ProblemCount != 2 {
		t.Errorf("tampered: exit %d, stdout %q (%v), stderr %q", r.code, r.stdout, err, r.stderr)
	}
	r = runEnv(t, noServer, "", "store", "verify", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("audit/%020d (audit): its MAC does not verify", 3)) {
		t.Errorf("tampered: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runEnv(t, noServer, "", "store", "verify", "--data", dir, "--root-key-file", filepath.Join(dir, "nokey"))
	if r.code != 2 || r.stdout != "" {
		t.Errorf("no root key: exit %d, stdout %q", r.code, r.stdout)
	}
}
