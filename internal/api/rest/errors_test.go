// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/kmserr"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestHTTPStatus checks each row of google/rpc/code.proto.
func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		code codes.Code
		want int
	}{
		{codes.OK, 200},
		{codes.Canceled, 499},
		{codes.Unknown, 500},
		{codes.InvalidArgument, 400},
		{codes.DeadlineExceeded, 504},
		{codes.NotFound, 404},
		{codes.AlreadyExists, 409},
		{codes.PermissionDenied, 403},
		{codes.Unauthenticated, 401},
		{codes.ResourceExhausted, 429},
		{codes.FailedPrecondition, 400},
		{codes.Aborted, 409},
		{codes.OutOfRange, 400},
		{codes.Unimplemented, 501},
		{codes.Internal, 500},
		{codes.Unavailable, 503},
		{codes.DataLoss, 500},
		{codes.Code(99), 500},
	}
	for _, tc := range tests {
		t.Run(tc.code.String(), func(t *testing.T) {
			if got := HTTPStatus(tc.code); got != tc.want {
				t.Errorf("HTTPStatus(%v) = %d, want %d", tc.code, got, tc.want)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	withDetails, err := status.New(codes.InvalidArgument, "bad field").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: "bad"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "dial tcp 10.1.2.3: connection refused"
	tests := []struct {
		name       string
		err        error
		wantHTTP   int
		wantStatus string
		wantMsg    string // "" to not check
		wantType   string // @type of the first detail, "" for none
	}{
		{"status error", status.Error(codes.NotFound, "no such key"), 404, "NOT_FOUND", "no such key", ""},
		{"kmserr", kmserr.NotFound("key %q", "k"), 404, "NOT_FOUND", "", ""},
		{"wrapped kmserr keeps its own message",
			fmt.Errorf("lookup: %w", &kmserr.Error{Code: codes.FailedPrecondition, Msg: "version disabled", Err: errors.New(secret)}),
			400, "FAILED_PRECONDITION", "version disabled", ""},
		{"details", withDetails.Err(), 400, "INVALID_ARGUMENT", "bad field", "type.googleapis.com/google.rpc.BadRequest"},
		{"plain error", errors.New(secret), 500, "INTERNAL", "internal error", ""},
		{"wrapped plain error", fmt.Errorf("x: %w", errors.New(secret)), 500, "INTERNAL", "internal error", ""},
		{"context canceled", context.Canceled, 499, "CANCELLED", "", ""},
		{"deadline", fmt.Errorf("store: %w", context.DeadlineExceeded), 504, "DEADLINE_EXCEEDED", "", ""},
		{"unauthenticated", status.Error(codes.Unauthenticated, "no credential"), 401, "UNAUTHENTICATED", "", ""},
		{"nil", nil, 500, "INTERNAL", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, tc.err)
			e := decodeError(t, w)
			if w.Code != tc.wantHTTP || e.Error.Status != tc.wantStatus {
				t.Errorf("WriteError(%v) = %d %s, want %d %s", tc.err, w.Code, e.Error.Status, tc.wantHTTP, tc.wantStatus)
			}
			if tc.wantMsg != "" && e.Error.Message != tc.wantMsg {
				t.Errorf("WriteError(%v) message = %q, want %q", tc.err, e.Error.Message, tc.wantMsg)
			}
			if strings.Contains(w.Body.String(), "10.1.2.3") {
				t.Errorf("WriteError(%v) leaks the cause: %s", tc.err, w.Body)
			}
			var gotType any
			if len(e.Error.Details) > 0 {
				gotType = e.Error.Details[0]["@type"]
			}
			if tc.wantType == "" && gotType != nil || tc.wantType != "" && gotType != tc.wantType {
				t.Errorf("WriteError(%v) details = %v, want @type %q", tc.err, e.Error.Details, tc.wantType)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

// TestErrors sends failing requests through the handler: each must be the
// error envelope with the right HTTP status and gRPC status name.
func TestErrors(t *testing.T) {
	const secret = "sqlite: database is locked at /var/lib/custos"
	tests := []struct {
		name       string
		cfg        Config
		method     string
		target     string
		body       string
		serverErr  error
		wantHTTP   int
		wantStatus string
		wantAllow  string
	}{
		{name: "unknown path", method: "GET", target: "/v1/nothing/here", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "unknown version prefix", method: "GET", target: "/v2/" + key, wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "unknown verb", method: "POST", target: "/v1/" + key + ":explode", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "empty verb", method: "POST", target: "/v1/" + key + ":", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "empty segment", method: "GET", target: "/v1/projects//locations/l", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "trailing slash", method: "GET", target: "/v1/" + key + "/", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "escaped slash in a segment", method: "GET", target: "/v1/projects/p%2Fq/locations/l", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "escaped colon is no verb", method: "POST", target: "/v1/" + key + "%3Aencrypt", wantHTTP: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "DELETE, GET, PATCH"},
		{name: "too many segments", method: "POST", target: "/v1/" + key + strings.Repeat("/x", 30) + ":encrypt", wantHTTP: 404, wantStatus: "NOT_FOUND"},
		{name: "wrong method on a verb", method: "GET", target: "/v1/" + key + ":encrypt", wantHTTP: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "POST"},
		{name: "wrong method on a collection", method: "DELETE", target: "/v1/" + keyRing + "/cryptoKeys", wantHTTP: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "GET, POST"},
		{name: "unknown query parameter", method: "GET", target: "/v1/" + key + "?bogus=1", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "query parameter with body *", method: "POST", target: "/v1/" + key + ":encrypt?plaintext=aGk=", body: "{}", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "query parameter naming a path field", method: "GET", target: "/v1/" + key + "?name=projects/x", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "query parameter inside the body field", method: "PATCH", target: "/v1/" + key + "?cryptoKey.purpose=MAC&updateMask=purpose", body: "{}", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "query parameter given twice", method: "GET", target: "/v1/" + keyRing + "/cryptoKeys?pageSize=1&pageSize=2", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad enum", method: "GET", target: "/v1/" + key + "/cryptoKeyVersions?view=EVERYTHING", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad int", method: "GET", target: "/v1/" + key + "/cryptoKeyVersions?pageSize=ten", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad bool", method: "POST", target: "/v1/" + keyRing + "/cryptoKeys?cryptoKeyId=k&skipInitialVersionCreation=yes", body: "{}", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad field mask", method: "PATCH", target: "/v1/" + key + "?updateMask=rotation-period", body: "{}", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad query escape", method: "GET", target: "/v1/" + key + "?fields=%zz", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "unsupported alt", method: "GET", target: "/v1/" + key + "?alt=proto", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "unsupported $ct", method: "GET", target: "/v1/" + key + "?%24ct=text/plain", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "password in the URL", method: "GET", target: "/v1/" + key + "?passwd=hunter2", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "unknown JSON field", method: "POST", target: "/v1/" + key + ":encrypt", body: `{"plaintext":"aGk=","plaintxt":"aGk="}`, wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad JSON", method: "POST", target: "/v1/" + key + ":encrypt", body: `{"plaintext":`, wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "JSON of the wrong type", method: "POST", target: "/v1/" + key + ":encrypt", body: `{"plaintext":12}`, wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "body too large", cfg: Config{MaxBodyBytes: 64}, method: "POST", target: "/v1/" + key + ":encrypt",
			body: `{"plaintext":"` + strings.Repeat("QUFB", 30) + `"}`, wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "invalid UTF-8 in the path", method: "GET", target: "/v1/projects/%FF/locations/l/keyRings/r", wantHTTP: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "Authenticate fails", cfg: Config{Authenticate: func(*http.Request) (context.Context, error) {
			return nil, status.Error(codes.Unauthenticated, "missing credential")
		}}, method: "GET", target: "/v1/" + key, wantHTTP: 401, wantStatus: "UNAUTHENTICATED"},
		{name: "Authenticate fails with a plain error", cfg: Config{Authenticate: func(*http.Request) (context.Context, error) {
			return nil, errors.New(secret)
		}}, method: "GET", target: "/v1/" + key, wantHTTP: 500, wantStatus: "INTERNAL"},
		{name: "server says FAILED_PRECONDITION", method: "POST", target: "/v1/" + key + ":encrypt", body: "{}",
			serverErr: status.Error(codes.FailedPrecondition, "version is disabled"), wantHTTP: 400, wantStatus: "FAILED_PRECONDITION"},
		{name: "server says PERMISSION_DENIED", method: "GET", target: "/v1/" + key,
			serverErr: kmserr.PermissionDenied("cloudkms.cryptoKeys.get"), wantHTTP: 403, wantStatus: "PERMISSION_DENIED"},
		{name: "server returns a plain error", method: "GET", target: "/v1/" + key,
			serverErr: errors.New(secret), wantHTTP: 500, wantStatus: "INTERNAL"},
		{name: "method the server does not implement", method: "GET", target: "/v1/" + keyRing, wantHTTP: 501, wantStatus: "UNIMPLEMENTED"},
		{name: "IAM not configured", method: "POST", target: "/v1/" + key + ":setIamPolicy", body: "{}", wantHTTP: 501, wantStatus: "UNIMPLEMENTED"},
		{name: "Locations not configured", method: "GET", target: "/v1/projects/p/locations", wantHTTP: 501, wantStatus: "UNIMPLEMENTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.KMS = &fakeKMS{err: tc.serverErr}
			h := newHandler(t, tc.cfg)
			w := serve(h, tc.method, tc.target, tc.body)
			e := decodeError(t, w)
			if w.Code != tc.wantHTTP || e.Error.Status != tc.wantStatus {
				t.Errorf("%s %s = %d %s (%s), want %d %s", tc.method, tc.target, w.Code, e.Error.Status, e.Error.Message, tc.wantHTTP, tc.wantStatus)
			}
			if e.Error.Message == "" {
				t.Errorf("%s %s: empty message", tc.method, tc.target)
			}
			if got := w.Header().Get("Allow"); got != tc.wantAllow {
				t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.target, got, tc.wantAllow)
			}
			if strings.Contains(w.Body.String(), "sqlite") {
				t.Errorf("%s %s leaks internal text: %s", tc.method, tc.target, w.Body)
			}
		})
	}
}

// TestSanitizeSeesCallErrors: Config.Sanitize sees the error of a method
// call, with its hidden cause, and what it returns is what is written.
func TestSanitizeSeesCallErrors(t *testing.T) {
	cause := errors.New("disk on fire")
	var seen []error
	h := newHandler(t, Config{
		KMS: &fakeKMS{err: kmserr.Unavailable(cause, "try again later")},
		Sanitize: func(err error) error {
			seen = append(seen, err)
			return status.Error(codes.Unavailable, "sanitized")
		},
	})
	w := serve(h, "GET", "/v1/"+key, "")
	if len(seen) != 1 || !errors.Is(seen[0], cause) {
		t.Fatalf("Sanitize saw %v, want the call's error with its cause", seen)
	}
	if e := decodeError(t, w); w.Code != 503 || e.Error.Message != "sanitized" || strings.Contains(w.Body.String(), "fire") {
		t.Errorf("answer %d %s, want 503 with Sanitize's message and no cause", w.Code, w.Body.String())
	}
}
