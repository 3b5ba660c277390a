// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

const (
	testRole   = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
	testViewer = "roles/cloudkms.viewer"
)

func TestEditBinding(t *testing.T) {
	b := func(role string, members ...string) *iampb.Binding {
		return &iampb.Binding{Role: role, Members: members}
	}
	tests := []struct {
		name        string
		in          []*iampb.Binding
		add         bool
		member      string
		want        []*iampb.Binding
		wantChanged bool
	}{
		{"add to an empty policy", nil, true, "app:a", []*iampb.Binding{b(testRole, "app:a")}, true},
		{"add to the role's binding", []*iampb.Binding{b(testViewer, "app:a"), b(testRole, "app:b")}, true, "app:a",
			[]*iampb.Binding{b(testViewer, "app:a"), b(testRole, "app:b", "app:a")}, true},
		{"add a member already there", []*iampb.Binding{b(testRole, "app:a")}, true, "app:a",
			[]*iampb.Binding{b(testRole, "app:a")}, false},
		{"remove one of two", []*iampb.Binding{b(testRole, "app:a", "app:b")}, false, "app:a",
			[]*iampb.Binding{b(testRole, "app:b")}, true},
		{"remove the last drops the binding", []*iampb.Binding{b(testViewer, "app:a"), b(testRole, "app:a")}, false, "app:a",
			[]*iampb.Binding{b(testViewer, "app:a")}, true},
		{"remove an absent member", []*iampb.Binding{b(testRole, "app:b")}, false, "app:a",
			[]*iampb.Binding{b(testRole, "app:b")}, false},
		{"remove from another role only", []*iampb.Binding{b(testViewer, "app:a")}, false, "app:a",
			[]*iampb.Binding{b(testViewer, "app:a")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &iampb.Policy{Bindings: tc.in}
			if got := editBinding(p, testRole, tc.member, tc.add); got != tc.wantChanged {
				t.Errorf("changed = %v, want %v", got, tc.wantChanged)
			}
			if diff := cmp.Diff(&iampb.Policy{Bindings: tc.want}, p, protocmp.Transform()); diff != "" {
				t.Errorf("policy mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

const testPolicyPath = "/admin/v1/iam/" + testKey

// policyServer fakes the policy of testKey with an etag that changes on
// every write; the first abortN writes are refused with ABORTED, as if
// someone else had written meanwhile.
type policyServer struct {
	policy string // current policy JSON
	etag   int
	abortN int32
	puts   atomic.Int32
}

func (ps *policyServer) routes() map[string]func(request) reply {
	return map[string]func(request) reply{
		"GET " + testPolicyPath: func(request) reply { return reply{body: ps.current()} },
		"PUT " + testPolicyPath: func(r request) reply {
			n := ps.puts.Add(1)
			if n <= ps.abortN {
				ps.etag++ // someone else wrote
				return reply{status: 409, body: `{"error":{"code":409,"message":"There were concurrent policy changes.","status":"ABORTED"}}`}
			}
			if r.Body["etag"] != ps.etagString() {
				return reply{status: 409, body: `{"error":{"code":409,"message":"stale etag","status":"ABORTED"}}`}
			}
			b, _ := json.Marshal(r.Body["bindings"])
			ps.policy = string(b)
			ps.etag++
			return reply{body: ps.current()}
		},
	}
}

func (ps *policyServer) etagString() string {
	return base64.StdEncoding.EncodeToString([]byte("etag" + strconv.Itoa(ps.etag)))
}

func (ps *policyServer) current() string {
	bindings := ps.policy
	if bindings == "" {
		bindings = "null"
	}
	return `{"version":1,"etag":"` + ps.etagString() + `","bindings":` + bindings + "}\n"
}

func TestIAMAddBindingReadModifyWrite(t *testing.T) {
	defer func(f func(int) time.Duration) { bindingBackoff = f }(bindingBackoff)
	bindingBackoff = func(int) time.Duration { return 0 }

	ps := &policyServer{policy: `[{"role":"roles/cloudkms.viewer","members":["app:other"]}]`, abortN: 2}
	srv := newFakeServer(t, ps.routes())
	r := runCLI(t, srv.srv.URL, "", "iam", "add-binding", testKey, "--member", "app:billing", "--role", testRole).mustSucceed(t)

	// Three rounds: two refused with ABORTED, then one that succeeds.
	var gets, puts int
	var lastPut request
	for _, req := range srv.requests() {
		switch req.Method {
		case "GET":
			gets++
		case "PUT":
			puts++
			lastPut = req
		}
	}
	if gets != 3 || puts != 3 {
		t.Errorf("%d GETs and %d PUTs, want 3 of each", gets, puts)
	}
	wantBindings := []any{
		map[string]any{"role": testViewer, "members": []any{"app:other"}},
		map[string]any{"role": testRole, "members": []any{"app:billing"}},
	}
	if diff := cmp.Diff(wantBindings, lastPut.Body["bindings"]); diff != "" {
		t.Errorf("bindings written (-want +got):\n%s", diff)
	}
	if lastPut.Body["version"] != float64(1) {
		t.Errorf("version written = %v, want 1", lastPut.Body["version"])
	}
	if !strings.Contains(r.stdout, testRole) || !strings.Contains(r.stdout, "app:billing") {
		t.Errorf("stdout lacks the new binding:\n%s", r.stdout)
	}

	// JSON prints the server's policy.
	r = runCLI(t, srv.srv.URL, "", "iam", "remove-binding", testKey, "--member", "app:billing", "--role", testRole, "-o", "json").mustSucceed(t)
	var p map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	if strings.Contains(r.stdout, "app:billing") {
		t.Errorf("remove-binding left the member:\n%s", r.stdout)
	}
}

func TestIAMAddBindingGivesUp(t *testing.T) {
	defer func(f func(int) time.Duration) { bindingBackoff = f }(bindingBackoff)
	bindingBackoff = func(int) time.Duration { return 0 }
	ps := &policyServer{abortN: 100}
	srv := newFakeServer(t, ps.routes())
	r := runCLI(t, srv.srv.URL, "", "iam", "add-binding", testKey, "--member", "app:billing", "--role", testRole)
	if r.code != 1 || !strings.Contains(r.stderr, "gave up after 5 attempts") || !strings.Contains(r.stderr, "(ABORTED)") {
		t.Errorf("exit %d, stderr %q; want 1 and a give-up message", r.code, r.stderr)
	}
	if got := ps.puts.Load(); got != maxPolicyAttempts {
		t.Errorf("%d PUTs, want %d", got, maxPolicyAttempts)
	}
}

func TestIAMBindingNoChange(t *testing.T) {
	ps := &policyServer{policy: `[{"role":"` + testRole + `","members":["app:billing"]}]`}
	srv := newFakeServer(t, ps.routes())

	r := runCLI(t, srv.srv.URL, "", "iam", "add-binding", testKey, "--member", "app:billing", "--role", testRole).mustSucceed(t)
	if !strings.Contains(r.stderr, "already holds") {
		t.Errorf("stderr = %q, want a note", r.stderr)
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "remove-binding", testKey, "--member", "app:other", "--role", testRole)
	if r.code != 1 || !strings.Contains(r.stderr, "custos: error: app:other does not hold "+testRole) {
		t.Errorf("remove absent: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := ps.puts.Load(); got != 0 {
		t.Errorf("%d PUTs, want none", got)
	}
}

func TestIAMGetAndSet(t *testing.T) {
	ps := &policyServer{policy: `[{"role":"` + testRole + `","members":["app:billing","group:ops"]}]`}
	srv := newFakeServer(t, ps.routes())

	r := runCLI(t, srv.srv.URL, "", "iam", "get", testKey).mustSucceed(t)
	for _, want := range []string{"Resource:", testKey, "Etag:", base64.StdEncoding.EncodeToString([]byte("etag0")), "ROLE", "MEMBER", testRole, "app:billing", "group:ops"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("iam get: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "get", testKey, "-o", "json").mustSucceed(t)
	policy := r.stdout

	// set sends the file's policy, etag included; a second set with the
	// same (now stale) etag is refused with a hint.
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.json")
	os.WriteFile(file, []byte(policy), 0o600)
	runCLI(t, srv.srv.URL, "", "iam", "set", testKey, "--policy-file", file).mustSucceed(t)
	if got := srv.last().Body["etag"]; got != base64.StdEncoding.EncodeToString([]byte("etag0")) {
		t.Errorf("etag sent = %v, want the file's", got)
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "set", testKey, "--policy-file", file)
	if r.code != 1 || !strings.Contains(r.stderr, "(ABORTED)") || !strings.Contains(r.stderr, "custos: hint: the policy changed") {
		t.Errorf("stale set: exit %d, stderr %q", r.code, r.stderr)
	}

	// A SetIamPolicyRequest-shaped file, from stdin.
	r = runCLI(t, srv.srv.URL, `{"policy":{"bindings":[{"role":"`+testViewer+`","members":["app:x"]}],"etag":"`+ps.etagString()+`"}}`,
		"iam", "set", testKey, "--policy-file", "-").mustSucceed(t)
	if got := srv.last().Body["bindings"]; got == nil {
		t.Errorf("wrapped policy not unwrapped: body %v", srv.last().Body)
	}

	// A file that is not a policy is refused before any request.
	n := len(srv.requests())
	r = runCLI(t, srv.srv.URL, `{"bindings":"all"}`, "iam", "set", testKey, "--policy-file", "-")
	if r.code != 1 || len(srv.requests()) != n {
		t.Errorf("bad policy file: exit %d, %d requests; stderr %q", r.code, len(srv.requests())-n, r.stderr)
	}
}

func TestIAMResourcesAndUsage(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /admin/v1/iam/projects/p":                                            ok(`{"version":1,"etag":"AA=="}`),
		"GET /admin/v1/iam/projects/p/locations/l/keyRings/r":                     ok(`{"version":1,"etag":"AA=="}`),
		"GET /admin/v1/iam/projects/p/locations/l/keyRings/r/importJobs/j":        ok(`{"version":1,"etag":"AA=="}`),
		"GET /admin/v1/iam/projects/p/locations/l/keyRings/r/cryptoKeys/k":        ok(`{"version":1,"etag":"AA=="}`),
		"GET /admin/v1/iam/projects/p/locations/l/keyRings/r/cryptoKeys/k/extras": ok(`{}`),
	})
	for _, res := range []string{"projects/p", testRing, testRing + "/importJobs/j", testKey} {
		r := runCLI(t, srv.srv.URL, "", "iam", "get", res).mustSucceed(t)
		if !strings.Contains(r.stderr, "no bindings") {
			t.Errorf("iam get %s: stderr %q, want a note", res, r.stderr)
		}
	}
	n := len(srv.requests())
	for _, args := range [][]string{
		{"iam", "get", "projects/p/locations/l"},
		{"iam", "get", testVersion},
		{"iam", "get", "projects/a b"},
		{"iam", "set", "projects/p"},
		{"iam", "add-binding", "projects/p", "--member", "app:a"},
		{"iam", "add-binding", "projects/p", "--role", testRole},
		{"iam", "add-binding", "projects/p", "--member", "a", "--role", testRole},
		{"iam", "add-binding", "projects/p", "--member", "app:", "--role", testRole},
		{"iam", "remove-binding", "projects/p", "--member", "app:a", "--role", "has space"},
		{"iam", "roles", "a", "b"},
		{"iam", "groups", "set", "bad name", "--apps", "a"},
		{"iam", "groups", "set", "ops"},
		{"iam", "groups", "set", "ops", "--apps", "Bad"},
		{"iam", "groups", "get", "a/b"},
	} {
		r := runCLI(t, srv.srv.URL, "", args...)
		if r.code != 2 {
			t.Errorf("custos %s: exit %d, want 2; stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if len(srv.requests()) != n {
		t.Errorf("usage errors sent %d requests", len(srv.requests())-n)
	}
}

func TestIAMRoles(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /admin/v1/roles": ok(`{"roles":[{"name":"roles/a","includedPermissions":["p.one","p.two"]},{"name":"roles/b","includedPermissions":["p.three"]}]}`),
	})
	r := runCLI(t, srv.srv.URL, "", "iam", "roles").mustSucceed(t)
	if want := "roles/a\n  p.one\n  p.two\n\nroles/b\n  p.three\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "roles", "roles/b", "-o", "json").mustSucceed(t)
	var roles []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &roles); err != nil || len(roles) != 1 || roles[0]["name"] != "roles/b" {
		t.Errorf("roles roles/b -o json = %v, %v:\n%s", roles, err, r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "roles", "roles/c")
	if r.code != 1 {
		t.Errorf("unknown role: exit %d, want 1", r.code)
	}
}

func TestGroups(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"PUT /admin/v1/groups/ops": func(r request) reply {
			b, _ := json.Marshal(r.Body["apps"])
			return reply{body: `{"name":"ops","apps":` + string(b) + `}`}
		},
		"GET /admin/v1/groups/ops":    ok(`{"name":"ops","apps":["a","b"]}`),
		"GET /admin/v1/groups":        ok(`{"groups":[{"name":"ops","apps":["a","b"]}]}`),
		"DELETE /admin/v1/groups/ops": ok(`{}`),
	})
	r := runCLI(t, srv.srv.URL, "", "iam", "groups", "set", "ops", "--apps", "a,app:b", "--apps", "c").mustSucceed(t)
	if diff := cmp.Diff(map[string]any{"apps": []any{"a", "app:b", "c"}}, srv.last().Body); diff != "" {
		t.Errorf("set body (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, "group:ops") {
		t.Errorf("set: stdout %q", r.stdout)
	}
	runCLI(t, srv.srv.URL, "", "iam", "groups", "set", "ops", "--apps", "").mustSucceed(t)
	if diff := cmp.Diff(map[string]any{"apps": []any{}}, srv.last().Body); diff != "" {
		t.Errorf("empty set body (-want +got):\n%s", diff)
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "groups", "list").mustSucceed(t)
	if !strings.Contains(r.stdout, "ops") || !strings.Contains(r.stdout, "a,b") {
		t.Errorf("list: stdout %q", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "iam", "groups", "list", "-o", "json").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "[") {
		t.Errorf("list -o json: stdout %q, want an array", r.stdout)
	}
	runCLI(t, srv.srv.URL, "", "iam", "groups", "get", "ops").mustSucceed(t)
	r = runCLI(t, srv.srv.URL, "", "iam", "groups", "delete", "ops").mustSucceed(t)
	if req := srv.last(); req.Method != "DELETE" || req.Path != "/admin/v1/groups/ops" {
		t.Errorf("delete sent %s %s", req.Method, req.Path)
	}
	if !strings.Contains(r.stderr, "deleted group ops") {
		t.Errorf("delete: stderr %q", r.stderr)
	}
}
