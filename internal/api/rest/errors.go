// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// HTTPStatus returns the HTTP status code that Google APIs answer for the gRPC
// code c, as google/rpc/code.proto documents it for each code
// (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto).
// A code outside that list is 500, like UNKNOWN.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // "Client Closed Request": no constant in net/http
	case codes.Unknown:
		return http.StatusInternalServerError
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.Aborted:
		return http.StatusConflict
	case codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Internal:
		return http.StatusInternalServerError
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DataLoss:
		return http.StatusInternalServerError
	default:
		return http.StatusInternalServerError
	}
}

// WriteError writes err as Google's JSON error envelope with the HTTP status
// of its gRPC code ([HTTPStatus]). The code and message come from the gRPC
// status that err carries (status.Error, or any error in its chain with a
// GRPCStatus method, such as *kmserr.Error); the message of such a status is
// sent as is, since the status is by contract safe for the caller. Any other
// error becomes INTERNAL with a generic message, so that internal text never
// reaches the caller; context.Canceled and context.DeadlineExceeded become
// CANCELLED and DEADLINE_EXCEEDED. A nil err is treated as an unknown internal
// failure.
//
// WriteError is for other endpoints of the server (admin, EKM) that want the
// same error body; it is safe for concurrent use.
func WriteError(w http.ResponseWriter, err error) {
	st := statusOf(err)
	writeStatus(w, HTTPStatus(st.Code()), st)
}

// statusOf returns the gRPC status that err carries, without ever using
// err.Error() as the message: status.FromError does that for a wrapped
// status, which would send the wrapping text (perhaps a cause) to the caller.
func statusOf(err error) *status.Status {
	var gs interface{ GRPCStatus() *status.Status }
	if err != nil && errors.As(err, &gs) {
		if st := gs.GRPCStatus(); st != nil && st.Code() != codes.OK {
			return st
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "the request was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "the request deadline was exceeded")
	}
	return status.New(codes.Internal, "internal error")
}

// errorEnvelope is the JSON error body of Google APIs
// (https://cloud.google.com/apis/design/errors#http_mapping).
type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// writeStatus writes st as the error envelope with HTTP status httpCode, which
// is HTTPStatus(st.Code()) except for 405, which has no gRPC code of its own.
func writeStatus(w http.ResponseWriter, httpCode int, st *status.Status) {
	env := errorEnvelope{Error: errorBody{
		Code:    httpCode,
		Message: st.Message(),
		// The UPPER_SNAKE name of code.proto, as Google writes it.
		Status: code.Code(st.Code()).String(),
	}}
	h := w.Header()
	for _, d := range st.Proto().GetDetails() {
		// A RetryInfo detail (quota) also becomes Retry-After, in whole
		// seconds rounded up, as HTTP clients expect.
		var ri errdetails.RetryInfo
		if d.MessageIs(&ri) && d.UnmarshalTo(&ri) == nil && ri.GetRetryDelay() != nil {
			secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
			h.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
		// An Any whose type is not linked in cannot be written as JSON
		// (protojson needs the type to expand it); leave it out rather
		// than fail the whole answer.
		b, err := protojson.Marshal(d)
		if err == nil {
			env.Error.Details = append(env.Error.Details, b)
		}
	}
	body, err := json.Marshal(env)
	if err != nil {
		// Unreachable: every field is a string, an int or valid JSON from
		// protojson. Write a fixed body rather than none.
		body = fmt.Appendf(nil, `{"error":{"code":%d,"message":"internal error","status":"INTERNAL"}}`, httpCode)
	}
	h["Content-Type"] = contentTypeJSON
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(httpCode)
	_, _ = w.Write(body) // the client has gone if this fails; nothing to do
}

// Shared header values: assigning a shared slice instead of calling
// Header().Set saves an allocation per response. net/http only reads them.
var (
	contentTypeJSON = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
)
