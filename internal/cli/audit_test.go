// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/seal/devfile"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

func TestAuditLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "contract fields first, in order, time in UTC, extras after by name",
			in: `{"hash":"ab","status":"PERMISSION_DENIED","seq":12,"method":"Encrypt","time":"2030-01-02T04:04:05.5+01:00",
				"principal":"app:billing","authMethod":"api-key","resource":"projects/p","requestId":"r1",
				"clientAddress":"127.0.0.1:5","justification":"","details":{"b":"2","a":"1"}}`,
			want: `{"seq":12,"time":"2030-01-02T03:04:05.5Z","principal":"app:billing","authMethod":"api-key","method":"Encrypt","resource":"projects/p","status":"PERMISSION_DENIED","requestId":"r1","clientAddress":"127.0.0.1:5","justification":"","details":{"b":"2","a":"1"},"hash":"ab"}` + "\n",
		},
		{
			name: "missing strings are empty",
			in:   `{"seq":1,"time":"2030-01-02T03:04:05Z","principal":"admin","method":"CreateApp","status":"OK"}`,
			want: `{"seq":1,"time":"2030-01-02T03:04:05Z","principal":"admin","authMethod":"","method":"CreateApp","resource":"","status":"OK","requestId":"","clientAddress":"","justification":""}` + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auditLine([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("auditLine =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`[]`, `{"time":"2030-01-02T03:04:05Z"}`, `{"seq":1,"time":"yesterday"}`, `{"seq":1,"time":5}`} {
		if _, err := auditLine([]byte(bad)); err == nil {
			t.Errorf("auditLine(%s) succeeded, want an error", bad)
		}
	}
}

// auditEntryJSON returns entry seq as the server sends it.
func auditEntryJSON(seq int) string {
	return fmt.Sprintf(`{"seq":%d,"time":"2030-01-02T03:04:%02dZ","principal":"app:billing","authMethod":"api-key","method":"Encrypt","resource":"%s","status":"OK","requestId":"r%d","clientAddress":"127.0.0.1:1","justification":"","hash":"h%d"}`,
		seq, seq%60, testKey, seq, seq)
}

// auditServer serves total entries from GET /admin/v1/audit, paging as
// the server does (afterSeq, limit at most 1000).
func auditServer(t *testing.T, total int) *fakeServer {
	return newFakeServer(t, map[string]func(request) reply{
		"GET /admin/v1/audit": func(r request) reply {
			after, _ := strconv.Atoi(r.Query.Get("afterSeq"))
			limit, _ := strconv.Atoi(r.Query.Get("limit"))
			if limit < 1 || limit > 1000 {
				return reply{status: 400, body: `{"error":{"code":400,"message":"bad limit","status":"INVALID_ARGUMENT"}}`}
			}
			var entries []string
			for seq := after + 1; seq <= total && len(entries) < limit; seq++ {
				entries = append(entries, auditEntryJSON(seq))
			}
			return reply{body: `{"entries":[` + strings.Join(entries, ",") + "]}\n"}
		},
	})
}

func TestAuditListJSONLines(t *testing.T) {
	srv := auditServer(t, 2500)
	r := runCLI(t, srv.srv.URL, "", "audit", "list", "-o", "json").mustSucceed(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2500 {
		t.Fatalf("%d lines, want 2500", len(lines))
	}
	for i, line := range lines {
		keys, err := jsonKeys(line)
		if err != nil {
			t.Fatalf("line %d is not one JSON object: %v\n%s", i+1, err, line)
		}
		if !slices.Equal(keys[:len(auditFields)], auditFields) {
			t.Fatalf("line %d: keys %v, want %v first", i+1, keys, auditFields)
		}
		var e struct{ Seq int }
		json.Unmarshal([]byte(line), &e)
		if e.Seq != i+1 {
			t.Fatalf("line %d holds seq %d", i+1, e.Seq)
		}
	}
	// Three pages: after 0, 1000 and 2000.
	var afters []string
	for _, req := range srv.requests() {
		afters = append(afters, req.Query.Get("afterSeq")+"/"+req.Query.Get("limit"))
	}
	if want := []string{"/1000", "1000/1000", "2000/1000"}; !slices.Equal(afters, want) {
		t.Errorf("pages (afterSeq/limit) %v, want %v", afters, want)
	}

	// --limit across pages.
	srv = auditServer(t, 2500)
	r = runCLI(t, srv.srv.URL, "", "audit", "list", "-o", "json", "--limit", "1500").mustSucceed(t)
	if n := strings.Count(r.stdout, "\n"); n != 1500 {
		t.Errorf("--limit 1500: %d lines", n)
	}
	afters = nil
	for _, req := range srv.requests() {
		afters = append(afters, req.Query.Get("afterSeq")+"/"+req.Query.Get("limit"))
	}
	if want := []string{"/1000", "1000/500"}; !slices.Equal(afters, want) {
		t.Errorf("pages (afterSeq/limit) %v, want %v", afters, want)
	}

	// No entries: no output at all, not "[]".
	srv = auditServer(t, 0)
	r = runCLI(t, srv.srv.URL, "", "audit", "list", "-o", "json").mustSucceed(t)
	if r.stdout != "" {
		t.Errorf("empty list: stdout %q, want nothing", r.stdout)
	}
}

// jsonKeys returns the keys of the JSON object s, in order, and fails
// unless s is exactly one object.
func jsonKeys(s string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object")
	}
	return keys, nil
}

func TestAuditListFiltersAndText(t *testing.T) {
	srv := auditServer(t, 3)
	r := runCLI(t, srv.srv.URL, "", "audit", "list",
		"--after", "2030-01-01T00:00:00Z", "--before", "2030-02-01T00:00:00+01:00",
		"--principal", "app:billing", "--resource", testRing, "--method", "Encrypt",
		"--status", "permission_denied", "--limit", "7").mustSucceed(t)
	want := url.Values{
		"after": {"2030-01-01T00:00:00Z"}, "before": {"2030-02-01T00:00:00+01:00"},
		"principal": {"app:billing"}, "resource": {testRing}, "method": {"Encrypt"},
		"status": {"PERMISSION_DENIED"}, "limit": {"7"},
	}
	if diff := cmp.Diff(want, srv.last().Query); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("text output:\n%s", r.stdout)
	}
	for _, want := range []string{"1", "2030-01-02T03:04:01Z", "app:billing", "Encrypt", testKey, "OK"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}

	srv = auditServer(t, 0)
	r = runCLI(t, srv.srv.URL, "", "audit", "list").mustSucceed(t)
	if r.stdout != "" || !strings.Contains(r.stderr, "no audit entries match") {
		t.Errorf("empty text list: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	for _, args := range [][]string{
		{"--after", "2030-01-01"}, {"--before", "tomorrow"}, {"--status", "DENIED"},
		{"--limit", "-2"}, {"extra"},
	} {
		if r := runCLI(t, srv.srv.URL, "", append([]string{"audit", "list"}, args...)...); r.code != 2 {
			t.Errorf("audit list %v: exit %d, want 2", args, r.code)
		}
	}
}

func TestAuditExport(t *testing.T) {
	var body strings.Builder
	for seq := 1; seq <= 3; seq++ {
		body.WriteString(auditEntryJSON(seq) + "\n")
	}
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /admin/v1/audit:export": func(r request) reply {
			switch r.Query.Get("method") {
			case "Cut":
				return reply{body: body.String() + `{"seq":4,"ti`}
			case "Proxy":
				return reply{body: "<html>\n<body>Welcome</body>\n</html>\n"}
			case "Long":
				return reply{body: `{"seq":1,"details":{"x":"` + strings.Repeat("a", 200<<10) + `"}}` + "\n" + auditEntryJSON(2) + "\n"}
			}
			return reply{body: body.String()}
		},
	})
	r := runCLI(t, srv.srv.URL, "", "audit", "export").mustSucceed(t)
	if r.stdout != body.String() {
		t.Errorf("stdout = %q, want the server's lines", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "-o", "json", "--principal", "admin", "--limit", "5").mustSucceed(t)
	if r.stdout != body.String() {
		t.Errorf("-o json changed the export: %q", r.stdout)
	}
	if got := srv.last().Query; got.Get("principal") != "admin" || got.Get("limit") != "5" {
		t.Errorf("query %v", got)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "audit.jsonl")
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "--out", out).mustSucceed(t)
	data, err := os.ReadFile(out)
	if err != nil || string(data) != body.String() {
		t.Errorf("--out file: %v, %q", err, data)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("--out file mode: %v %v", st.Mode(), err)
	}
	if !strings.Contains(r.stderr, "wrote 3 audit entries to "+out) {
		t.Errorf("stderr %q", r.stderr)
	}

	// An export cut short is an error, and leaves no file behind.
	cut := filepath.Join(dir, "cut.jsonl")
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "--method", "Cut", "--out", cut)
	if r.code != 1 || !strings.Contains(r.stderr, "cut short") {
		t.Errorf("cut export: exit %d, stderr %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left in %s: %v", dir, entries)
	}
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "--method", "Cut")
	if r.code != 1 || !strings.Contains(r.stderr, "cut short") {
		t.Errorf("cut export to stdout: exit %d, stderr %q", r.code, r.stderr)
	}

	// An answer that is not JSON lines (a proxy's page with status 200) is
	// an error too, not an export.
	garbage := filepath.Join(dir, "garbage.jsonl")
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "--method", "Proxy", "--out", garbage)
	if r.code != 1 || !strings.Contains(r.stderr, "not an audit export") {
		t.Errorf("garbage export: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(garbage); err == nil {
		t.Errorf("garbage export wrote %s", garbage)
	}
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "--method", "Proxy")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "not an audit export") {
		t.Errorf("garbage export to stdout: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Lines longer than the copy buffer are whole lines.
	r = runCLI(t, srv.srv.URL, "", "audit", "export", "--method", "Long").mustSucceed(t)
	if n := strings.Count(r.stdout, "\n"); n != 2 || len(r.stdout) < 200<<10 {
		t.Errorf("long lines: %d lines, %d bytes", n, len(r.stdout))
	}
}

func TestAuditVerifyOnline(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /admin/v1/audit:verify": func(r request) reply {
			switch r.Auth {
			case "Bearer bad":
				return reply{body: `{"entries":6,"ok":false,"firstBadSeq":7,"problem":"entry 7 fails its MAC: it was altered or moved outside Custos"}`}
			case "Bearer head":
				return reply{body: `{"entries":9,"ok":false,"firstBadSeq":0,"problem":"the head record fails its integrity check"}`}
			case "Bearer empty":
				return reply{body: `{}`}
			case "Bearer null":
				return reply{body: `null`}
			case "Bearer silent":
				return reply{body: `{"entries":0,"ok":false}`}
			case "Bearer mixed":
				return reply{body: `{"entries":3,"ok":true,"firstBadSeq":2,"problem":"entry 2 fails"}`}
			case "Bearer app":
				return reply{status: 403, body: `{"error":{"code":403,"message":"only the admin may verify the audit log","status":"PERMISSION_DENIED"}}`}
			}
			return reply{body: `{"entries":42,"ok":true,"firstBadSeq":0,"problem":""}` + "\n"}
		},
	})
	env := func(token string) map[string]string {
		return map[string]string{envAddr: srv.srv.URL, envToken: token}
	}

	r := runEnv(t, env("good"), "", "audit", "verify").mustSucceed(t)
	if r.stdout != "audit log verified: 42 entries, the chain is whole\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	r = runEnv(t, env("good"), "", "audit", "verify", "-o", "json").mustSucceed(t)
	if r.stdout != "{\n  \"entries\": 42,\n  \"ok\": true,\n  \"firstBadSeq\": 0,\n  \"problem\": \"\"\n}\n" {
		t.Errorf("json stdout %q", r.stdout)
	}

	r = runEnv(t, env("bad"), "", "audit", "verify")
	if r.code != 1 || r.stdout != "" ||
		r.stderr != "custos: error: the audit log is not whole: first bad entry is seq 7: entry 7 fails its MAC: it was altered or moved outside Custos\n" {
		t.Errorf("broken chain: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runEnv(t, env("bad"), "", "audit", "verify", "-o", "json")
	if r.code != 1 || !strings.Contains(r.stdout, `"firstBadSeq": 7`) {
		t.Errorf("broken chain -o json: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runEnv(t, env("head"), "", "audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "the head record fails") {
		t.Errorf("broken head: exit %d, stderr %q", r.code, r.stderr)
	}

	// Could not run: exit 2, with the hint that fits.
	r = runEnv(t, env("app"), "", "audit", "verify")
	if r.code != 2 || !strings.Contains(r.stderr, "(PERMISSION_DENIED)") || strings.Contains(r.stderr, "--help") {
		t.Errorf("denied: exit %d, stderr %q", r.code, r.stderr)
	}
	// An answer that is not a report is no verdict either: no claim that
	// the log was altered, nothing on stdout.
	for _, token := range []string{"empty", "null", "silent", "mixed"} {
		for _, o := range []string{"text", "json"} {
			r = runEnv(t, env(token), "", "audit", "verify", "-o", o)
			if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "not a verification report") && !strings.Contains(r.stderr, "not a JSON object") {
				t.Errorf("answer %s, -o %s: exit %d, stdout %q, stderr %q; want exit 2", token, o, r.code, r.stdout, r.stderr)
			}
		}
	}
	r = runEnv(t, map[string]string{envAddr: "http://127.0.0.1:1", envToken: "x"}, "", "audit", "verify")
	if r.code != 2 || !strings.Contains(r.stderr, "custos: hint: is a custos server running there?") {
		t.Errorf("unreachable: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runEnv(t, map[string]string{envAddr: srv.srv.URL}, "", "audit", "verify")
	if r.code != 2 || !strings.Contains(r.stderr, "no token") {
		t.Errorf("no token: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"extra"}, {"--root-key-file", "k"}, {"--data", ""}, {"--bogus"}} {
		if r := runEnv(t, env("good"), "", append([]string{"audit", "verify"}, args...)...); r.code != 2 {
			t.Errorf("audit verify %v: exit %d, want 2", args, r.code)
		}
	}
}

// newDataDir makes the data folder of a server that recorded n audit
// entries, and returns it with the store still open if keepOpen.
func newDataDir(t *testing.T, n int, keepOpen bool) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	sl, err := devfile.Open(filepath.Join(dir, dataRootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := sl.RootKey(ctx)
	st, err := sqlite.Open(filepath.Join(dir, dataDBFile))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(ctx, st, root)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := log.Append(ctx, audit.Entry{Principal: "admin", Method: "CreateApp", Resource: "apps/a" + strconv.Itoa(i), Status: "OK"}); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()
	if keepOpen {
		t.Cleanup(func() { st.Close() })
	} else if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dirDigest returns the names and contents of the files in dir.
func dirDigest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// tamper flips a bit of the data of audit entry seq in the database of dir.
func tamper(t *testing.T, dir string, seq int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, dataDBFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("audit/%020d", seq)
	var data []byte
	if err := db.QueryRow(`SELECT data FROM records WHERE name = ?`, name).Scan(&data); err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if _, err := db.Exec(`UPDATE records SET data = ? WHERE name = ?`, data, name); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyOffline(t *testing.T) {
	noServer := map[string]string{} // no address, no token: none needed

	t.Run("whole, and nothing in the folder changes", func(t *testing.T) {
		dir := newDataDir(t, 5, false)
		before := dirDigest(t, dir)
		r := runEnv(t, noServer, "", "audit", "verify", "--data", dir).mustSucceed(t)
		if want := "audit log in " + dir + " (offline) verified: 5 entries, the chain is whole\n"; r.stdout != want {
			t.Errorf("stdout %q, want %q", r.stdout, want)
		}
		if diff := cmp.Diff(before, dirDigest(t, dir)); diff != "" {
			t.Errorf("the data folder changed (-before +after):\n%s", diff)
		}
		r = runEnv(t, noServer, "", "audit", "verify", "--data", dir, "-o", "json").mustSucceed(t)
		var rep audit.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK || rep.Entries != 5 {
			t.Errorf("json report %+v, %v", rep, err)
		}
	})

	t.Run("while a server has the store open", func(t *testing.T) {
		dir := newDataDir(t, 3, true)
		r := runEnv(t, noServer, "", "audit", "verify", "--data", dir).mustSucceed(t)
		if !strings.Contains(r.stdout, "3 entries") {
			t.Errorf("stdout %q", r.stdout)
		}
	})

	t.Run("a tampered entry is named", func(t *testing.T) {
		dir := newDataDir(t, 5, false)
		tamper(t, dir, 3)
		r := runEnv(t, noServer, "", "audit", "verify", "--data", dir)
		if r.code != 1 || !strings.Contains(r.stderr, "custos: error: the audit log is not whole: first bad entry is seq 3: ") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		r = runEnv(t, noServer, "", "audit", "verify", "--data", dir, "-o", "json")
		var rep audit.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep.OK || rep.FirstBadSeq != 3 || rep.Entries != 2 {
			t.Errorf("exit %d, report %+v, %v", r.code, rep, err)
		}
	})

	t.Run("cannot run", func(t *testing.T) {
		dir := newDataDir(t, 1, false)
		otherKey := filepath.Join(t.TempDir(), "other-key")
		if _, err := devfile.Open(otherKey); err != nil {
			t.Fatal(err)
		}
		openKey := filepath.Join(t.TempDir(), "open-key")
		b, _ := os.ReadFile(filepath.Join(dir, dataRootKeyFile))
		os.WriteFile(openKey, b, 0o644)
		noKeystore := t.TempDir()
		st, err := sqlite.Open(filepath.Join(noKeystore, dataDBFile))
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		os.WriteFile(filepath.Join(noKeystore, dataRootKeyFile), b, 0o600)
		notDB := t.TempDir()
		os.WriteFile(filepath.Join(notDB, dataDBFile), bytes.Repeat([]byte("x"), 200), 0o600)
		os.WriteFile(filepath.Join(notDB, dataRootKeyFile), b, 0o600)

		tests := []struct {
			name   string
			args   []string
			stderr string
		}{
			{"no folder", []string{"--data", filepath.Join(dir, "nothing")}, "no Custos store in"},
			{"no root key", []string{"--data", dir, "--root-key-file", filepath.Join(dir, "nokey")}, "root key: "},
			{"wrong root key", []string{"--data", dir, "--root-key-file", otherKey}, "does not open the store"},
			{"root key readable by others", []string{"--data", dir, "--root-key-file", openKey}, "readable by others"},
			{"a store without keystore", []string{"--data", noKeystore}, "holds no keystore"},
			{"not a database", []string{"--data", notDB}, "custos: error: reading "},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := runEnv(t, noServer, "", append([]string{"audit", "verify"}, tc.args...)...)
				if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
					t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.stderr)
				}
			})
		}
		if _, err := os.Stat(filepath.Join(dir, "nokey")); err == nil {
			t.Errorf("verify created the missing root key file")
		}
	})
}

func TestAuditConfig(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"PUT /admin/v1/auditConfig/" + testKey: func(r request) reply {
			on, _ := json.Marshal(r.Body["dataAccess"])
			return reply{body: `{"resource":"` + testKey + `","dataAccess":` + string(on) + "}\n"}
		},
		"GET /admin/v1/auditConfig/projects/p":             ok(`{"resource":"projects/p","dataAccess":true}`),
		"GET /admin/v1/auditConfig/projects/p/locations/l": ok(`{"resource":"projects/p/locations/l","dataAccess":false}`),
	})
	for _, tc := range []struct {
		arg  string
		want bool
	}{{"on", true}, {"off", false}, {"TRUE", true}} {
		r := runCLI(t, srv.srv.URL, "", "audit", "config", "set", testKey, "--data-access", tc.arg).mustSucceed(t)
		if diff := cmp.Diff(map[string]any{"dataAccess": tc.want}, srv.last().Body); diff != "" {
			t.Errorf("--data-access %s: body (-want +got):\n%s", tc.arg, diff)
		}
		state := "off"
		if tc.want {
			state = "on"
		}
		if !strings.Contains(r.stdout, "Data access:  "+state) {
			t.Errorf("stdout %q", r.stdout)
		}
	}
	r := runCLI(t, srv.srv.URL, "", "audit", "config", "get", "projects/p", "-o", "json").mustSucceed(t)
	if r.stdout != "{\n  \"resource\": \"projects/p\",\n  \"dataAccess\": true\n}\n" {
		t.Errorf("get -o json: %q", r.stdout)
	}
	runCLI(t, srv.srv.URL, "", "audit", "config", "get", "projects/p/locations/l").mustSucceed(t)

	n := len(srv.requests())
	for _, args := range [][]string{
		{"audit", "config", "set", testKey},
		{"audit", "config", "set", testKey, "--data-access", "sometimes"},
		{"audit", "config", "set", testVersion, "--data-access", "on"},
		{"audit", "config", "get", "apps/billing"},
		{"audit", "config"},
	} {
		if r := runCLI(t, srv.srv.URL, "", args...); r.code != 2 {
			t.Errorf("custos %s: exit %d, want 2", strings.Join(args, " "), r.code)
		}
	}
	if len(srv.requests()) != n {
		t.Errorf("usage errors sent requests")
	}
}

// TestAuditListTextStreams: the text table of a long listing has its
// header once and every entry, in order, printed a block at a time.
func TestAuditListTextStreams(t *testing.T) {
	srv := auditServer(t, 2500)
	r := runCLI(t, srv.srv.URL, "", "audit", "list").mustSucceed(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2501 || !strings.HasPrefix(lines[0], "SEQ") || strings.Count(r.stdout, "SEQ") != 1 {
		t.Fatalf("%d lines (want the header and 2500 rows), header %q", len(lines), lines[0])
	}
	for i, line := range lines[1:] {
		if f := strings.Fields(line); len(f) == 0 || f[0] != strconv.Itoa(i+1) {
			t.Fatalf("row %d: %q", i+1, line)
		}
	}
}
