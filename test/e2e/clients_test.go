// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"testing"

	kms "cloud.google.com/go/kms/apiv1"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// bearer sends the admin token as `authorization: Bearer T` metadata on
// every gRPC call.
//
// RequireTransportSecurity returns false because the test server listens on
// plain-text loopback (custos refuses a non-loopback address without TLS).
// grpc-go refuses to send credentials that require transport security over
// an insecure connection, so a per-RPC credential that said true would make
// every call fail before it leaves the client. Never do this off loopback.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return false }

// grpcClient returns the official Go client over gRPC, pointed at s.
func (s *server) grpcClient(t *testing.T) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementClient(t.Context(),
		option.WithEndpoint(s.grpcAddr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{s.token})),
	)
	if err != nil {
		t.Fatalf("kms.NewKeyManagementClient(%s) = %v", s.grpcAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// restClient returns the official Go client over REST, pointed at s.
func (s *server) restClient(t *testing.T) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementRESTClient(t.Context(),
		option.WithEndpoint("http://"+s.restAddr),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.token})),
	)
	if err != nil {
		t.Fatalf("kms.NewKeyManagementRESTClient(%s) = %v", s.restAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// client is one of the two official clients.
type client struct {
	name string // "grpc" or "rest"
	kms  *kms.KeyManagementClient
}

func (s *server) clients(t *testing.T) []client {
	return []client{{"grpc", s.grpcClient(t)}, {"rest", s.restClient(t)}}
}

// forEachClient runs f once per client, in parallel subtests named "grpc" and
// "rest", each with its own project so that their key rings never meet.
func forEachClient(t *testing.T, s *server, prefix string, f func(t *testing.T, c client, loc string)) {
	t.Helper()
	for _, c := range s.clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f(t, c, "projects/"+prefix+"-"+c.name+"/locations/global")
		})
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// codeOf returns the gRPC code of an error from either official client.
//
// Over gRPC that is status.Code(err). Over REST, status.Code(err) works too
// (the REST client returns an *apierror.APIError) but gax derives its code
// from the HTTP status alone, and HTTP 400 is both INVALID_ARGUMENT and
// FAILED_PRECONDITION (409 both ALREADY_EXISTS and ABORTED, 500 both
// INTERNAL and DATA_LOSS). The exact code is the "status" field of the
// JSON error envelope, which the wrapped *googleapi.Error keeps in Body;
// codeOf reads it and checks that the HTTP status agrees with it.
func codeOf(t *testing.T, err error) codes.Code {
	t.Helper()
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		return status.Code(err)
	}
	var env struct {
		Error struct {
			Code   int    `json:"code"`
			Status string `json:"status"`
		} `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(gerr.Body), &env); jerr != nil {
		t.Errorf("REST error body is not the JSON error envelope (%v): %q", jerr, gerr.Body)
		return status.Code(err)
	}
	c, ok := codeByName[env.Error.Status]
	if !ok {
		t.Errorf("REST error envelope has status %q, not a google.rpc.Code name: %s", env.Error.Status, gerr.Body)
		return status.Code(err)
	}
	if want := httpStatus(c); gerr.Code != want || env.Error.Code != want {
		t.Errorf("REST error %s: HTTP status %d, envelope code %d, want %d for %v", env.Error.Status, gerr.Code, env.Error.Code, want, c)
	}
	return c
}

// codeByName maps the UPPER_SNAKE names of google.rpc.Code to codes.
var codeByName = map[string]codes.Code{
	"OK": codes.OK, "CANCELLED": codes.Canceled, "UNKNOWN": codes.Unknown,
	"INVALID_ARGUMENT": codes.InvalidArgument, "DEADLINE_EXCEEDED": codes.DeadlineExceeded,
	"NOT_FOUND": codes.NotFound, "ALREADY_EXISTS": codes.AlreadyExists,
	"PERMISSION_DENIED": codes.PermissionDenied, "RESOURCE_EXHAUSTED": codes.ResourceExhausted,
	"FAILED_PRECONDITION": codes.FailedPrecondition, "ABORTED": codes.Aborted,
	"OUT_OF_RANGE": codes.OutOfRange, "UNIMPLEMENTED": codes.Unimplemented,
	"INTERNAL": codes.Internal, "UNAVAILABLE": codes.Unavailable, "DATA_LOSS": codes.DataLoss,
	"UNAUTHENTICATED": codes.Unauthenticated,
}

// httpStatus is the HTTP status that google/rpc/code.proto gives each code.
func httpStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// wantCode fails the test unless err carries code want.
func wantCode(t *testing.T, call string, err error, want codes.Code) {
	t.Helper()
	if got := codeOf(t, err); got != want {
		t.Errorf("%s = %v (code %v), want code %v", call, err, got, want)
	}
}
