// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kmserr"
)

// TestStatusOf checks the Cloud EKM error table row by row.
func TestStatusOf(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantHTTP int
		wantCode codes.Code
	}{
		{"unauthenticated", kmserr.Unauthenticated("x"), 401, codes.Unauthenticated},
		{"not found", kmserr.NotFound("x"), 404, codes.NotFound},
		{"permission denied", kmserr.PermissionDenied("x"), 403, codes.PermissionDenied},
		{"invalid argument", kmserr.InvalidArgument("f", "x"), 400, codes.InvalidArgument},
		{"failed precondition", kmserr.FailedPrecondition("x"), 400, codes.InvalidArgument},
		{"out of range", &kmserr.Error{Code: codes.OutOfRange, Msg: "x"}, 400, codes.InvalidArgument},
		{"quota", &iam.QuotaError{Err: kmserr.ResourceExhausted("x"), Subject: "app:a", RetryDelay: time.Second}, 429, codes.ResourceExhausted},
		{"unavailable", kmserr.Unavailable(errors.New("disk"), "x"), 503, codes.Unavailable},
		{"aborted is transient", kmserr.Aborted("x"), 503, codes.Unavailable},
		{"deadline is transient", &kmserr.Error{Code: codes.DeadlineExceeded, Msg: "x"}, 503, codes.Unavailable},
		{"cancelled is transient", &kmserr.Error{Code: codes.Canceled, Msg: "x"}, 503, codes.Unavailable},
		{"unimplemented", kmserr.Unimplemented("x"), 501, codes.Unimplemented},
		{"internal", kmserr.Internal(errors.New("bug"), "x"), 500, codes.Internal},
		{"data loss", kmserr.DataLoss(nil, "x"), 500, codes.Internal},
		{"already exists is unexpected", kmserr.AlreadyExists("x"), 500, codes.Internal},
		{"a gRPC status", status.Error(codes.NotFound, "x"), 404, codes.NotFound},
		{"a plain error", errors.New("boom"), 500, codes.Internal},
		{"context cancelled, bare", context.Canceled, 500, codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotHTTP, gotCode := statusOf(tc.err)
			if gotHTTP != tc.wantHTTP || gotCode != tc.wantCode {
				t.Errorf("statusOf(%v) = %d, %v; want %d, %v", tc.err, gotHTTP, gotCode, tc.wantHTTP, tc.wantCode)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantBody   string
		wantHeader map[string]string
	}{
		{"403", kmserr.PermissionDenied("app x is disabled"),
			`{"error":{"code":403,"message":"app x is disabled","status":"PERMISSION_DENIED"}}`, nil},
		{"401", kmserr.Unauthenticated("no token"),
			`{"error":{"code":401,"message":"no token","status":"UNAUTHENTICATED"}}`, map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
		{"429", &iam.QuotaError{Err: kmserr.ResourceExhausted("over"), RetryDelay: 2500 * time.Millisecond},
			`{"error":{"code":429,"message":"over","status":"RESOURCE_EXHAUSTED"}}`, map[string]string{"Retry-After": "3"}},
		{"503 never sends the cause", kmserr.Unavailable(errors.New("secret path /var/db"), "storage unavailable"),
			`{"error":{"code":503,"message":"storage unavailable","status":"UNAVAILABLE"}}`, map[string]string{"Retry-After": "1"}},
		{"500 never sends any text", kmserr.Internal(errors.New("bug"), "the frobnicator broke"),
			`{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}`, nil},
		{"a plain error", errors.New("secret"),
			`{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, tc.err)
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			json.Unmarshal([]byte(tc.wantBody), &want)
			if !jsonEqual(got, want) {
				t.Errorf("body = %s, want %s", rec.Body, tc.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			for k, v := range tc.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if code, _ := statusOf(tc.err); rec.Code != code {
				t.Errorf("status = %d, want %d", rec.Code, code)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
