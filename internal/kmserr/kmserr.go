// SPDX-License-Identifier: Apache-2.0

// Package kmserr is the error type of Custos: an error that carries its gRPC
// status code, a message that is safe to show the caller, the request field it
// is about, and a cause that is only logged.
//
// Every layer above storage returns *Error; adapters map its code to their
// protocol (gRPC status, HTTP status, the Cloud EKM table) and never look at
// the cause.
package kmserr

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is an error with a gRPC code. Msg is sent to the caller; Err is not.
type Error struct {
	Code  codes.Code
	Msg   string
	Field string
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus lets grpc-go and status.FromError read the code and message.
// The cause is never included: it may hold internal details.
func (e *Error) GRPCStatus() *status.Status {
	return status.New(e.Code, e.Msg)
}

// Code returns the gRPC code of err: its own if it is (or wraps) an *Error or
// carries a gRPC status, Unknown otherwise, OK for nil.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}

func newf(c codes.Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// InvalidArgument names the field that is wrong and why.
func InvalidArgument(field, format string, args ...any) *Error {
	e := newf(codes.InvalidArgument, format, args...)
	e.Field = field
	if field != "" {
		e.Msg = field + ": " + e.Msg
	}
	return e
}

// NotFound says a resource does not exist.
func NotFound(format string, args ...any) *Error { return newf(codes.NotFound, format, args...) }

// AlreadyExists says a resource with that name exists.
func AlreadyExists(format string, args ...any) *Error {
	return newf(codes.AlreadyExists, format, args...)
}

// FailedPrecondition says the resource is not in a state that allows the call.
func FailedPrecondition(format string, args ...any) *Error {
	return newf(codes.FailedPrecondition, format, args...)
}

// PermissionDenied says the caller lacks a permission. It must be returned
// before any lookup so that it never reveals whether the resource exists.
func PermissionDenied(format string, args ...any) *Error {
	return newf(codes.PermissionDenied, format, args...)
}

// Unauthenticated says the request carries no valid credential.
func Unauthenticated(format string, args ...any) *Error {
	return newf(codes.Unauthenticated, format, args...)
}

// ResourceExhausted says a quota or limit was reached.
func ResourceExhausted(format string, args ...any) *Error {
	return newf(codes.ResourceExhausted, format, args...)
}

// Aborted says a concurrent change won; the caller may retry.
func Aborted(format string, args ...any) *Error { return newf(codes.Aborted, format, args...) }

// Unimplemented says the method or option is not supported.
func Unimplemented(format string, args ...any) *Error {
	return newf(codes.Unimplemented, format, args...)
}

// Unavailable wraps a transient fault; the cause is logged, not sent.
func Unavailable(cause error, format string, args ...any) *Error {
	e := newf(codes.Unavailable, format, args...)
	e.Err = cause
	return e
}

// Internal wraps a true internal fault; the cause is logged, not sent.
func Internal(cause error, format string, args ...any) *Error {
	e := newf(codes.Internal, format, args...)
	e.Err = cause
	return e
}

// DataLoss says stored data failed its integrity check and was refused.
func DataLoss(cause error, format string, args ...any) *Error {
	e := newf(codes.DataLoss, format, args...)
	e.Err = cause
	return e
}
