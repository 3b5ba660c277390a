// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// auditStep is one call of the admin-activity test and the one entry it
// must leave.
type auditStep struct {
	name string
	do   func(t *testing.T) httpAnswer
	// wantHTTP is the call's HTTP status (200 if 0).
	wantHTTP int
	// The entry: principal and authMethod are the admin's if empty,
	// status is OK if empty.
	method     string
	resource   func() string
	principal  string
	authMethod string
	status     string
}

// TestAuditLog checks that every admin call leaves exactly one complete
// audit entry, that data access is recorded exactly where it is enabled,
// that no entry holds data or secrets, and that the chain reveals an
// altered entry and a removed tail.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	t.Run("admin activity", func(t *testing.T) {
		t.Parallel()
		testAuditAdminActivity(t)
	})
	t.Run("data access", func(t *testing.T) {
		t.Parallel()
		testAuditDataAccess(t)
	})
	t.Run("tamper detection", func(t *testing.T) {
		t.Parallel()
		testAuditTamper(t)
	})
}

func testAuditAdminActivity(t *testing.T) {
	s := startServer(t)
	h := s.plainTarget()
	loc := "projects/audit/locations/global"
	ring := loc + "/keyRings/r"
	key := ring + "/cryptoKeys/k"
	v1 := versionName(key, 1)
	otherRing := loc + "/keyRings/other"
	s.adminJSON(t, "POST", "/v1/"+loc+"/keyRings?keyRingId=other", "{}")

	var appKeyID, appKey string
	admin := func(method, path, body string) func(t *testing.T) httpAnswer {
		return func(t *testing.T) httpAnswer { return h.call(t, method, path, body, s.token) }
	}
	asApp := func(method, path, body string) func(t *testing.T) httpAnswer {
		return func(t *testing.T) httpAnswer { return h.call(t, method, path, body, appKey) }
	}
	is := func(s string) func() string { return func() string { return s } }
	steps := []auditStep{
		{name: "CreateKeyRing", do: admin("POST", "/v1/"+loc+"/keyRings?keyRingId=r", "{}"), method: "CreateKeyRing", resource: is(ring)},
		{name: "CreateCryptoKey", do: admin("POST", "/v1/"+ring+"/cryptoKeys?cryptoKeyId=k", `{"purpose":"ENCRYPT_DECRYPT"}`), method: "CreateCryptoKey", resource: is(key)},
		{name: "UpdateCryptoKey", do: admin("PATCH", "/v1/"+key+"?updateMask=labels", `{"labels":{"team":"audit"}}`), method: "UpdateCryptoKey", resource: is(key)},
		{name: "CreateCryptoKeyVersion", do: admin("POST", "/v1/"+key+"/cryptoKeyVersions", "{}"), method: "CreateCryptoKeyVersion", resource: is(versionName(key, 2))},
		{name: "UpdateCryptoKeyPrimaryVersion", do: admin("POST", "/v1/"+key+":updatePrimaryVersion", `{"cryptoKeyVersionId":"2"}`), method: "UpdateCryptoKeyPrimaryVersion", resource: is(key)},
		{name: "UpdateCryptoKeyVersion", do: admin("PATCH", "/v1/"+v1+"?updateMask=state", `{"state":"DISABLED"}`), method: "UpdateCryptoKeyVersion", resource: is(v1)},
		{name: "DestroyCryptoKeyVersion", do: admin("POST", "/v1/"+v1+":destroy", "{}"), method: "DestroyCryptoKeyVersion", resource: is(v1)},
		{name: "RestoreCryptoKeyVersion", do: admin("POST", "/v1/"+v1+":restore", "{}"), method: "RestoreCryptoKeyVersion", resource: is(v1)},
		{name: "CreateApp", do: admin("POST", "/admin/v1/apps", `{"name":"auditee","project":"audit"}`), method: "CreateApp", resource: is("apps/auditee")},
		{name: "SetIamPolicy", do: admin("POST", "/v1/"+ring+":setIamPolicy", `{"policy":{"bindings":[{"role":"roles/cloudkms.admin","members":["app:auditee"]}]}}`),
			method: "SetIamPolicy", resource: is(ring)},
		{name: "CreateKey", do: func(t *testing.T) httpAnswer {
			a := h.call(t, "POST", "/admin/v1/apps/auditee/keys", `{"format":"api-key"}`, s.token)
			if a.status == http.StatusOK {
				m := a.object(t)
				appKeyID, _ = m["keyId"].(string)
				appKey, _ = m["apiKey"].(string)
			}
			return a
		}, method: "CreateKey", resource: is("apps/auditee/keys")},
		{name: "CreateCryptoKey by an app", do: func(t *testing.T) httpAnswer {
			return h.call(t, "POST", "/v1/"+ring+"/cryptoKeys?cryptoKeyId=k2", `{"purpose":"ENCRYPT_DECRYPT"}`, appKey)
		}, method: "CreateCryptoKey", resource: is(ring + "/cryptoKeys/k2"), principal: "app:auditee", authMethod: "api-key"},
		{name: "refused CreateKeyRing by an app", do: asApp("POST", "/v1/"+loc+"/keyRings?keyRingId=r3", "{}"), wantHTTP: http.StatusForbidden,
			method: "CreateKeyRing", resource: is(loc), principal: "app:auditee", authMethod: "api-key", status: "PERMISSION_DENIED"},
		{name: "refused SetIamPolicy by an app", do: asApp("POST", "/v1/"+otherRing+":setIamPolicy", `{"policy":{"bindings":[{"role":"roles/cloudkms.admin","members":["app:auditee"]}]}}`), wantHTTP: http.StatusForbidden,
			method: "SetIamPolicy", resource: is(otherRing), principal: "app:auditee", authMethod: "api-key", status: "PERMISSION_DENIED"},
		{name: "refused CreateApp by an app", do: asApp("POST", "/admin/v1/apps", `{"name":"intruder","project":"audit"}`), wantHTTP: http.StatusForbidden,
			method: "CreateApp", resource: is("apps/intruder"), principal: "app:auditee", authMethod: "api-key", status: "PERMISSION_DENIED"},
		{name: "refused quota set by an app", do: asApp("PUT", "/admin/v1/quotas/app:auditee", `{"rpm":1000}`), wantHTTP: http.StatusForbidden,
			method: "SetQuota", resource: is("app:auditee"), principal: "app:auditee", authMethod: "api-key", status: "PERMISSION_DENIED"},
		{name: "refused audit config set by an app", do: asApp("PUT", "/admin/v1/auditConfig/"+otherRing, `{"dataAccess":false}`), wantHTTP: http.StatusForbidden,
			method: "SetAuditConfig", resource: is(otherRing), principal: "app:auditee", authMethod: "api-key", status: "PERMISSION_DENIED"},
		{name: "refused DisableApp by an app", do: asApp("POST", "/admin/v1/apps/auditee:disable", ""), wantHTTP: http.StatusForbidden,
			method: "DisableApp", resource: is("apps/auditee"), principal: "app:auditee", authMethod: "api-key", status: "PERMISSION_DENIED"},
		{name: "RevokeKey", do: func(t *testing.T) httpAnswer {
			return h.call(t, "POST", "/admin/v1/apps/auditee/keys/"+appKeyID+":revoke", "", s.token)
		}, method: "RevokeKey", resource: func() string { return "apps/auditee/keys/" + appKeyID }},
		{name: "DisableApp", do: admin("POST", "/admin/v1/apps/auditee:disable", ""), method: "DisableApp", resource: is("apps/auditee")},
		{name: "EnableApp", do: admin("POST", "/admin/v1/apps/auditee:enable", ""), method: "EnableApp", resource: is("apps/auditee")},
		{name: "quota set", do: admin("PUT", "/admin/v1/quotas/app:auditee", `{"rpm":100}`), method: "SetQuota", resource: is("app:auditee")},
		{name: "audit config set", do: admin("PUT", "/admin/v1/auditConfig/"+ring, `{"dataAccess":false}`), method: "SetAuditConfig", resource: is(ring)},
		{name: "DeleteApp", do: admin("DELETE", "/admin/v1/apps/auditee", ""), method: "DeleteApp", resource: is("apps/auditee")},
	}
	for _, st := range steps {
		t.Run(st.name+" leaves exactly one entry", func(t *testing.T) {
			before := s.auditHead(t)
			start := time.Now()
			a := st.do(t)
			wantStatus := st.wantHTTP
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			if a.status != wantStatus {
				t.Fatalf("%s = %d %s, want %d", st.name, a.status, a.body, wantStatus)
			}
			got := s.auditAfter(t, before)
			if len(got) != 1 {
				t.Fatalf("%s left %d audit entries, want exactly 1: %+v", st.name, len(got), got)
			}
			want := auditEntry{
				Seq: before + 1, Principal: "admin", AuthMethod: "admin-token",
				Method: st.method, Resource: st.resource(), Status: "OK",
				RequestID: a.header.Get("X-Request-Id"), ClientAddress: a.local,
			}
			if st.principal != "" {
				want.Principal, want.AuthMethod = st.principal, st.authMethod
			}
			if st.status != "" {
				want.Status = st.status
			}
			if want.RequestID == "" {
				t.Errorf("%s: the answer has no X-Request-Id header", st.name)
			}
			if diff := cmp.Diff(want, got[0], cmpopts.IgnoreFields(auditEntry{}, "Time", "Details")); diff != "" {
				t.Errorf("%s left the entry %+v (-want +got):\n%s", st.name, got[0], diff)
			}
			if tm := got[0].Time; tm.Location() != time.UTC || tm.Before(start.Add(-time.Second)) || tm.After(time.Now().Add(time.Second)) {
				t.Errorf("%s: entry time %v, want UTC and during the call", st.name, tm)
			}
		})
	}

	t.Run("a gRPC call's entry has the request id of its x-request-id header", func(t *testing.T) {
		before := s.auditHead(t)
		var md metadata.MD
		_, err := s.grpcClient(t).CreateCryptoKey(testContext(t), &kmspb.CreateCryptoKeyRequest{
			Parent: ring, CryptoKeyId: "over-grpc", CryptoKey: &kmspb.CryptoKey{Purpose: encryptDecrypt},
		}, gax.WithGRPCOptions(grpc.Header(&md)))
		if err != nil {
			t.Fatalf("CreateCryptoKey = %v", err)
		}
		got := s.auditAfter(t, before)
		if len(got) != 1 {
			t.Fatalf("CreateCryptoKey over gRPC left %d entries, want 1: %+v", len(got), got)
		}
		ids := md.Get("x-request-id")
		if len(ids) != 1 || got[0].RequestID != ids[0] || got[0].Method != "CreateCryptoKey" || got[0].Resource != ring+"/cryptoKeys/over-grpc" {
			t.Errorf("entry %+v, want CreateCryptoKey of %s/cryptoKeys/over-grpc with request id %q", got[0], ring, ids)
		}
		if !strings.HasPrefix(got[0].ClientAddress, "127.0.0.1:") {
			t.Errorf("entry clientAddress = %q, want 127.0.0.1:PORT", got[0].ClientAddress)
		}
	})

	t.Run("verify says the log is whole", func(t *testing.T) {
		head := s.auditHead(t)
		m := s.adminJSON(t, "POST", "/admin/v1/audit:verify", "")
		if m["ok"] != true || m["entries"] != float64(head) || m["firstBadSeq"] != float64(0) {
			t.Errorf("POST /admin/v1/audit:verify = %v, want ok with %d entries", m, head)
		}
	})
}

// daCase is one case of data-access recording.
type daCase struct {
	name    string
	project string
	// on and off: where to turn data access on and off, among "project",
	// "ring" and "keys".
	on, off []string
	want    bool
}

func testAuditDataAccess(t *testing.T) {
	s := startServer(t)
	c := s.grpcClient(t)
	ctx := testContext(t)
	secret := []byte("audit plaintext 7f3a9c")
	aad := []byte("audit aad 51be")

	cases := []daCase{
		{name: "no setting records no data access", project: "da-none"},
		{name: "on on the key records its use", project: "da-key", on: []string{"keys"}, want: true},
		{name: "on on the key ring records the use of its keys", project: "da-ring", on: []string{"ring"}, want: true},
		{name: "on on the project records the use of its keys", project: "da-project", on: []string{"project"}, want: true},
		{name: "off on the key overrides on on its key ring", project: "da-override", on: []string{"ring"}, off: []string{"keys"}},
		{name: "off on the project records nothing", project: "da-off", off: []string{"project"}},
	}
	var outputs [][]byte // every ciphertext, signature and tag, which no entry may hold
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			project := "projects/" + tc.project
			e := &apiEnv{c: c}
			r, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: project + "/locations/global", KeyRingId: "r"})
			if err != nil {
				t.Fatal(err)
			}
			e.ring = r.GetName()
			sym := e.createKey(t, ctx, "sym", symmetricKey(), false).GetName()
			sign := e.createKey(t, ctx, "sign", &kmspb.CryptoKey{Purpose: asymmetricSign, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256}}, false).GetName()
			mac := e.createKey(t, ctx, "mac", &kmspb.CryptoKey{Purpose: macPurpose, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_HMAC_SHA256}}, false).GetName()
			where := map[string][]string{"project": {project}, "ring": {e.ring}, "keys": {sym, sign, mac}}
			for setting, lists := range map[bool][]string{true: tc.on, false: tc.off} {
				for _, l := range lists {
					for _, res := range where[l] {
						s.adminJSON(t, "PUT", "/admin/v1/auditConfig/"+res, fmt.Sprintf(`{"dataAccess":%t}`, setting))
					}
				}
			}

			before := s.auditHead(t)
			enc := e.encrypt(t, ctx, sym, secret, aad)
			e.decrypt(t, ctx, sym, enc.GetCiphertext(), aad)
			d := sha256.Sum256(secret)
			sig, err := c.AsymmetricSign(ctx, &kmspb.AsymmetricSignRequest{Name: versionName(sign, 1), Digest: &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: d[:]}}})
			if err != nil {
				t.Fatalf("AsymmetricSign = %v", err)
			}
			tag, err := c.MacSign(ctx, &kmspb.MacSignRequest{Name: versionName(mac, 1), Data: secret})
			if err != nil {
				t.Fatalf("MacSign = %v", err)
			}
			outputs = append(outputs, enc.GetCiphertext(), sig.GetSignature(), tag.GetMac())

			type short struct{ Method, Resource, Status, Principal string }
			var got []short
			for _, en := range s.auditAfter(t, before) {
				got = append(got, short{en.Method, en.Resource, en.Status, en.Principal})
			}
			var want []short
			if tc.want {
				want = []short{
					{"Encrypt", sym, "OK", "admin"},
					{"Decrypt", sym, "OK", "admin"},
					{"AsymmetricSign", versionName(sign, 1), "OK", "admin"},
					{"MacSign", versionName(mac, 1), "OK", "admin"},
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entries of Encrypt, Decrypt, AsymmetricSign and MacSign (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("no entry holds plaintext, ciphertext or a credential", func(t *testing.T) {
		s.mustCreateApp(t, "secretive", "da-key")
		_, apiKey := s.mustAPIKey(t, "secretive")
		file := s.plainTarget().mustKeyFile(t, s.token, "secretive")
		sa, _ := parseKeyFile(t, file)
		pemBody := strings.Join(strings.Split(sa.PrivateKey, "\n")[1:4], "")

		a := s.plainTarget().call(t, "GET", "/admin/v1/audit:export", "", s.token)
		if a.status != http.StatusOK {
			t.Fatalf("GET /admin/v1/audit:export = %d %s", a.status, a.body)
		}
		forbidden := map[string]string{"the API key": apiKey, "the private key": pemBody, "the admin token": s.token}
		for _, b := range append([][]byte{secret, aad}, outputs...) {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				forbidden[fmt.Sprintf("%q in base64", b)] = enc.EncodeToString(b)
			}
			forbidden[fmt.Sprintf("%q as is", b)] = string(b)
			forbidden[fmt.Sprintf("%q in hex", b)] = fmt.Sprintf("%x", b)
		}
		for what, s := range forbidden {
			if bytes.Contains(a.body, []byte(s)) {
				t.Errorf("the audit export holds %s", what)
			}
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(a.body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e auditEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("export line %d is not an entry: %v: %s", n+1, err, sc.Bytes())
			}
			if n++; e.Seq != int64(n) {
				t.Errorf("export line %d has seq %d", n, e.Seq)
			}
		}
		if head := s.auditHead(t); int64(n) != head || n == 0 {
			t.Errorf("the export has %d entries, the log %d", n, head)
		}
	})

	t.Run("verify says the log is whole", func(t *testing.T) {
		m := s.adminJSON(t, "POST", "/admin/v1/audit:verify", "")
		if m["ok"] != true {
			t.Errorf("POST /admin/v1/audit:verify = %v, want ok", m)
		}
	})
}

// auditRecord returns the store's record that holds audit entry seq: the
// record of the entries committed together, named after the first
// ("audit/" + seq in 20 digits), one JSON object per line. It returns the
// record's name, the seq of its first entry and its lines.
func auditRecord(t *testing.T, db *sql.DB, seq int64) (name string, first int64, lines [][]byte, mac []byte) {
	t.Helper()
	var data []byte
	err := db.QueryRow(`SELECT name, data, mac FROM records WHERE kind = 'audit' AND parent = 'audit' AND name <= ? ORDER BY name DESC LIMIT 1`,
		fmt.Sprintf("audit/%020d", seq)).Scan(&name, &data, &mac)
	if err != nil {
		t.Fatalf("reading the record of audit entry %d: %v", seq, err)
	}
	if _, err := fmt.Sscanf(name, "audit/%d", &first); err != nil {
		t.Fatalf("audit record %q: %v", name, err)
	}
	lines = bytes.Split(data, []byte{'\n'})
	if seq-first >= int64(len(lines)) {
		t.Fatalf("audit entry %d is not in %s (%d entries)", seq, name, len(lines))
	}
	return name, first, lines, mac
}

// restartAfterTamper starts a server on dir again. It returns nil if the
// server refused to start, with its output.
func restartAfterTamper(t *testing.T, dir string) (*server, string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		s, err := tryStart(t, dir)
		if err == nil {
			return s, ""
		}
		if attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err.Error()
		}
	}
}

func testAuditTamper(t *testing.T) {
	cases := []struct {
		name string
		// tamper edits the store and returns the seq that verify must name.
		tamper func(t *testing.T, db *sql.DB, head int64) int64
	}{
		{"an altered entry is detected", func(t *testing.T, db *sql.DB, head int64) int64 {
			const seq = 3
			name, first, lines, mac := auditRecord(t, db, seq)
			line := lines[seq-first]
			altered := bytes.Replace(line, []byte(`"principal":"admin"`), []byte(`"principal":"eve"`), 1)
			if bytes.Equal(altered, line) {
				t.Fatalf("entry %d has no principal admin: %s", seq, line)
			}
			lines[seq-first] = altered
			writeRecord(t, db, name, bytes.Join(lines, []byte{'\n'}), mac)
			return seq
		}},
		{"a removed last entry (truncation) is detected", func(t *testing.T, db *sql.DB, head int64) int64 {
			// The last record may hold the entries before the head too:
			// the first of them is the first missing.
			name, first, _, _ := auditRecord(t, db, head)
			res, err := db.Exec("DELETE FROM records WHERE name = ?", name)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("deleting %s removed %d rows", name, n)
			}
			return first
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startServerIn(t, dir)
			c := s.grpcClient(t)
			ctx := testContext(t)
			e := &apiEnv{c: c}
			r, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/tamper/locations/global", KeyRingId: "r"})
			if err != nil {
				t.Fatal(err)
			}
			e.ring = r.GetName()
			for _, id := range []string{"a", "b", "c", "d"} {
				e.createKey(t, ctx, id, symmetricKey(), false)
			}
			head := s.auditHead(t)
			if head < 5 {
				t.Fatalf("the audit log has %d entries, want at least 5", head)
			}
			if m := s.adminJSON(t, "POST", "/admin/v1/audit:verify", ""); m["ok"] != true {
				t.Fatalf("POST /admin/v1/audit:verify before tampering = %v, want ok", m)
			}
			if err := s.stop(t); err != nil {
				t.Fatalf("stopping the server: %v", err)
			}

			db := openStore(t, dir)
			bad := tc.tamper(t, db, head)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			s2, out := restartAfterTamper(t, dir)
			if s2 == nil {
				t.Logf("the server refuses to start on the tampered log:\n%s", out)
				if !strings.Contains(strings.ToLower(out), "audit") || !strings.Contains(out, fmt.Sprint(bad)) {
					t.Errorf("the server refused to start but its output does not name the audit log and entry %d:\n%s", bad, out)
				}
				return
			}
			m := s2.adminJSON(t, "POST", "/admin/v1/audit:verify", "")
			t.Logf("the server starts on the tampered log; verify answers %v", m)
			if m["ok"] != false || m["firstBadSeq"] != float64(bad) {
				t.Errorf("POST /admin/v1/audit:verify after tampering with entry %d = %v, want ok false and firstBadSeq %d", bad, m, bad)
			}
		})
	}
}
