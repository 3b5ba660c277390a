// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// restCall is one raw HTTP request to the REST surface.
type restCall struct {
	method string
	path   string // with the query, e.g. /v1/projects/p/locations/global/keyRings?keyRingId=r
	body   string // JSON, or "" for none
	token  *string
}

// restResponse is an answer: status, raw body, and the body as JSON.
type restResponse struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (s *server) do(t *testing.T, c restCall) restResponse {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(testContext(t), c.method, "http://"+s.restAddr+c.path, body)
	if err != nil {
		t.Fatalf("http.NewRequest(%s %s) = %v", c.method, c.path, err)
	}
	tok := s.token
	if c.token != nil {
		tok = *c.token
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s = %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", c.method, c.path, err)
	}
	out := restResponse{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &out.json); err != nil {
		t.Fatalf("%s %s = %d with a body that is not a JSON object (%v): %q", c.method, c.path, resp.StatusCode, err, raw)
	}
	return out
}

// field returns the value at a dotted path of a JSON object, or nil.
func (r restResponse) field(path string) any {
	var v any = r.json
	for p := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// wantOK fails unless the answer is 200.
func (r restResponse) wantOK(t *testing.T, c restCall) restResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s %s = %d %s, want 200", c.method, c.path, r.status, r.raw)
	}
	return r
}

// wantError fails unless the answer is the Google JSON error envelope with
// this HTTP status and google.rpc.Code name.
func (r restResponse) wantError(t *testing.T, c restCall, httpStatus int, status string) {
	t.Helper()
	code, _ := r.field("error.code").(float64)
	gotStatus, _ := r.field("error.status").(string)
	msg, _ := r.field("error.message").(string)
	if r.status != httpStatus || int(code) != httpStatus || gotStatus != status || msg == "" {
		t.Errorf("%s %s = %d %s, want %d and the envelope {\"error\":{\"code\":%d,\"message\":...,\"status\":%q}}",
			c.method, c.path, r.status, r.raw, httpStatus, httpStatus, status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", c.method, c.path, ct)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRESTWithoutClientLibrary speaks HTTP/JSON to the REST surface directly,
// as curl or a hand-written client would.
func TestRESTWithoutClientLibrary(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	loc := "/v1/projects/raw/locations/global"
	ring := loc + "/keyRings/r"

	create := restCall{method: "POST", path: loc + "/keyRings?keyRingId=r", body: "{}"}
	got := s.do(t, create).wantOK(t, create)
	if name := got.field("name"); name != "projects/raw/locations/global/keyRings/r" {
		t.Errorf("POST %s: name = %v, want projects/raw/locations/global/keyRings/r", create.path, name)
	}
	if ct, _ := got.field("createTime").(string); ct == "" {
		t.Errorf("POST %s: createTime = %v, want an RFC 3339 time", create.path, got.field("createTime"))
	} else if _, err := time.Parse(time.RFC3339Nano, ct); err != nil {
		t.Errorf("POST %s: createTime %q: %v", create.path, ct, err)
	}

	errCases := []struct {
		name   string
		call   restCall
		status int
		code   string
	}{
		{"unknown path is NOT_FOUND", restCall{method: "GET", path: "/v1/no/such/thing"}, 404, "NOT_FOUND"},
		{"path outside /v1 is NOT_FOUND", restCall{method: "GET", path: "/nothing-here"}, 404, "NOT_FOUND"},
		{"missing key ring is NOT_FOUND", restCall{method: "GET", path: loc + "/keyRings/missing"}, 404, "NOT_FOUND"},
		{"no token is UNAUTHENTICATED", restCall{method: "GET", path: ring, token: ptr("")}, 401, "UNAUTHENTICATED"},
		{"bad token is UNAUTHENTICATED", restCall{method: "GET", path: ring, token: ptr("custos_admin_not-the-token")}, 401, "UNAUTHENTICATED"},
		{"duplicate key ring is ALREADY_EXISTS", create, 409, "ALREADY_EXISTS"},
		{"unknown body field is INVALID_ARGUMENT", restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=k0", body: `{"purpose":"ENCRYPT_DECRYPT","noSuchField":1}`}, 400, "INVALID_ARGUMENT"},
		{"malformed JSON is INVALID_ARGUMENT", restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=k0", body: `{"purpose":`}, 400, "INVALID_ARGUMENT"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			s.do(t, tc.call).wantError(t, tc.call, tc.status, tc.code)
		})
	}

	t.Run("wrong method is an error envelope", func(t *testing.T) {
		c := restCall{method: "DELETE", path: ring}
		r := s.do(t, c)
		code, _ := r.field("error.code").(float64)
		status, _ := r.field("error.status").(string)
		if r.status < 400 || r.status >= 500 || int(code) != r.status || status == "" {
			t.Errorf("DELETE %s = %d %s, want a 4xx error envelope", c.path, r.status, r.raw)
		}
		if r.status == http.StatusMethodNotAllowed && !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("DELETE %s = 405 with Allow %q, want GET allowed", c.path, r.header.Get("Allow"))
		}
	})

	t.Run("enum-encoding=int writes enums as numbers", func(t *testing.T) {
		c := restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=int_enums&$alt=json;enum-encoding=int", body: `{"purpose":"ENCRYPT_DECRYPT"}`}
		r := s.do(t, c).wantOK(t, c)
		if p, ok := r.field("purpose").(float64); !ok || p != 1 {
			t.Errorf("POST %s: purpose = %#v, want the number 1 (ENCRYPT_DECRYPT)", c.path, r.field("purpose"))
		}
		if st, ok := r.field("primary.state").(float64); !ok || st != 1 {
			t.Errorf("POST %s: primary.state = %#v, want the number 1 (ENABLED)", c.path, r.field("primary.state"))
		}
		get := restCall{method: "GET", path: ring + "/cryptoKeys/int_enums"}
		r = s.do(t, get).wantOK(t, get)
		if p := r.field("purpose"); p != "ENCRYPT_DECRYPT" {
			t.Errorf("GET %s: purpose = %#v, want \"ENCRYPT_DECRYPT\" without enum-encoding=int", get.path, p)
		}
	})

	t.Run("enums as numbers are accepted in the body", func(t *testing.T) {
		c := restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=int_body", body: `{"purpose":1}`}
		r := s.do(t, c).wantOK(t, c)
		if p := r.field("purpose"); p != "ENCRYPT_DECRYPT" {
			t.Errorf("POST %s with purpose 1: purpose = %#v, want ENCRYPT_DECRYPT", c.path, p)
		}
	})

	t.Run("snake_case body field names are accepted", func(t *testing.T) {
		c := restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=snake",
			body: `{"purpose":"ASYMMETRIC_SIGN","version_template":{"algorithm":"EC_SIGN_P256_SHA256","protection_level":"SOFTWARE"}}`}
		r := s.do(t, c).wantOK(t, c)
		if a := r.field("versionTemplate.algorithm"); a != "EC_SIGN_P256_SHA256" {
			t.Errorf("POST %s: versionTemplate.algorithm = %#v, want EC_SIGN_P256_SHA256", c.path, a)
		}
	})

	t.Run("query parameters in snake_case are accepted", func(t *testing.T) {
		c := restCall{method: "POST", path: ring + "/cryptoKeys?crypto_key_id=snake_query&skip_initial_version_creation=true", body: `{"purpose":"ENCRYPT_DECRYPT"}`}
		r := s.do(t, c).wantOK(t, c)
		if r.field("name") != "projects/raw/locations/global/keyRings/r/cryptoKeys/snake_query" || r.field("primary") != nil {
			t.Errorf("POST %s = %s, want key snake_query without a primary", c.path, r.raw)
		}
	})

	next := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	masks := []struct{ id, mask string }{
		{"mask_snake", "rotation_period,next_rotation_time"},
		{"mask_camel", "rotationPeriod,nextRotationTime"},
	}
	for _, m := range masks {
		t.Run("updateMask "+m.mask, func(t *testing.T) {
			mk := restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=" + m.id, body: `{"purpose":"ENCRYPT_DECRYPT"}`}
			s.do(t, mk).wantOK(t, mk)
			c := restCall{method: "PATCH", path: ring + "/cryptoKeys/" + m.id + "?updateMask=" + m.mask,
				body: `{"rotationPeriod":"172800s","nextRotationTime":"` + next + `"}`}
			r := s.do(t, c).wantOK(t, c)
			if p := r.field("rotationPeriod"); p != "172800s" {
				t.Errorf("PATCH %s: rotationPeriod = %#v, want \"172800s\"", c.path, p)
			}
			if n, _ := r.field("nextRotationTime").(string); n == "" {
				t.Errorf("PATCH %s: nextRotationTime = %#v, want %s", c.path, r.field("nextRotationTime"), next)
			} else if nt, err := time.Parse(time.RFC3339Nano, n); err != nil || nt.Format(time.RFC3339) != next {
				t.Errorf("PATCH %s: nextRotationTime = %q, want %s", c.path, n, next)
			}
		})
	}

	t.Run("the name in the path wins over the name in the body", func(t *testing.T) {
		for _, id := range []string{"path_key", "body_key"} {
			mk := restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=" + id, body: `{"purpose":"ENCRYPT_DECRYPT"}`}
			s.do(t, mk).wantOK(t, mk)
		}
		c := restCall{method: "PATCH", path: ring + "/cryptoKeys/path_key?updateMask=labels",
			body: `{"name":"projects/raw/locations/global/keyRings/r/cryptoKeys/body_key","labels":{"changed":"yes"}}`}
		r := s.do(t, c)
		if r.status == http.StatusOK && r.field("name") != "projects/raw/locations/global/keyRings/r/cryptoKeys/path_key" {
			t.Errorf("PATCH %s with another name in the body updated %v, want path_key (or an error)", c.path, r.field("name"))
		}
		get := restCall{method: "GET", path: ring + "/cryptoKeys/body_key"}
		if l := s.do(t, get).wantOK(t, get).field("labels"); l != nil {
			t.Errorf("GET body_key: labels = %v, want none: a PATCH on path_key changed body_key", l)
		}
	})

	t.Run("update_mask as the query name is accepted", func(t *testing.T) {
		c := restCall{method: "PATCH", path: ring + "/cryptoKeys/snake?update_mask=labels", body: `{"labels":{"via":"snake"}}`}
		r := s.do(t, c).wantOK(t, c)
		if l := r.field("labels.via"); l != "snake" {
			t.Errorf("PATCH %s: labels.via = %#v, want snake", c.path, l)
		}
	})

	t.Run("int64 fields are strings, and strings are accepted", func(t *testing.T) {
		pt := []byte("int64 as string")
		crc := strconv.FormatInt(crc32c(pt), 10)
		c := restCall{method: "POST", path: ring + "/cryptoKeys/int_enums:encrypt",
			body: `{"plaintext":"` + base64.StdEncoding.EncodeToString(pt) + `","plaintextCrc32c":"` + crc + `"}`}
		r := s.do(t, c).wantOK(t, c)
		if v := r.field("verifiedPlaintextCrc32c"); v != true {
			t.Errorf("POST %s: verifiedPlaintextCrc32c = %#v, want true", c.path, v)
		}
		ctB64, _ := r.field("ciphertext").(string)
		ct, err := base64.StdEncoding.DecodeString(ctB64)
		if err != nil {
			t.Fatalf("POST %s: ciphertext %q is not base64: %v", c.path, ctB64, err)
		}
		if got, ok := r.field("ciphertextCrc32c").(string); !ok || got != strconv.FormatInt(crc32c(ct), 10) {
			t.Errorf("POST %s: ciphertextCrc32c = %#v, want the string %q", c.path, r.field("ciphertextCrc32c"), strconv.FormatInt(crc32c(ct), 10))
		}

		// A JSON number is accepted for an int64 too (proto3 JSON).
		c = restCall{method: "POST", path: ring + "/cryptoKeys/int_enums:decrypt",
			body: `{"ciphertext":"` + ctB64 + `","ciphertextCrc32c":` + strconv.FormatInt(crc32c(ct), 10) + `}`}
		r = s.do(t, c).wantOK(t, c)
		if r.field("plaintext") != base64.StdEncoding.EncodeToString(pt) {
			t.Errorf("POST %s: plaintext = %#v, want %q", c.path, r.field("plaintext"), base64.StdEncoding.EncodeToString(pt))
		}

		c = restCall{method: "POST", path: loc + ":generateRandomBytes", body: `{"lengthBytes":16,"protectionLevel":"HSM"}`}
		r = s.do(t, c).wantOK(t, c)
		if _, ok := r.field("dataCrc32c").(string); !ok {
			t.Errorf("POST %s: dataCrc32c = %#v, want a string", c.path, r.field("dataCrc32c"))
		}
	})

	badAlg := []struct {
		name string
		body string
	}{
		{"unknown algorithm name", `{"purpose":"ASYMMETRIC_SIGN","versionTemplate":{"algorithm":"EC_SIGN_P999"}}`},
		{"algorithm of another purpose", `{"purpose":"ENCRYPT_DECRYPT","versionTemplate":{"algorithm":"EC_SIGN_P256_SHA256"}}`},
	}
	for _, tc := range badAlg {
		t.Run(tc.name+" is INVALID_ARGUMENT naming the field", func(t *testing.T) {
			c := restCall{method: "POST", path: ring + "/cryptoKeys?cryptoKeyId=bad_alg", body: tc.body}
			r := s.do(t, c)
			r.wantError(t, c, 400, "INVALID_ARGUMENT")
			// The field is named in a google.rpc.BadRequest field violation
			// or, failing that, in the message.
			if !namesField(r, "algorithm") {
				t.Errorf("POST %s = %s, want the error to name the algorithm field", c.path, r.raw)
			}
		})
	}
}

// namesField reports whether an error envelope names a field whose path
// contains want: in a BadRequest field violation, else in the message.
func namesField(r restResponse, want string) bool {
	details, _ := r.field("error.details").([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		vs, _ := dm["fieldViolations"].([]any)
		for _, v := range vs {
			vm, _ := v.(map[string]any)
			if f, _ := vm["field"].(string); strings.Contains(strings.ToLower(f), want) {
				return true
			}
		}
	}
	msg, _ := r.field("error.message").(string)
	return strings.Contains(msg, want)
}

// TestRESTBodyLimit checks that an oversized body is refused cleanly.
func TestRESTBodyLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := restCall{method: "POST", path: "/v1/projects/big/locations/global/keyRings?keyRingId=r",
		body: `{"name":"` + string(bytes.Repeat([]byte("a"), 2<<20)) + `"}`}
	r := s.do(t, c)
	if r.status < 400 || r.status >= 500 {
		t.Errorf("POST of a 2 MiB body = %d %s, want a 4xx error envelope", r.status, r.raw)
	}
}
