// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

var _ kms.Auditor = (*Log)(nil)

// Record implements [kms.Auditor]: it turns the event and the caller in ctx
// into an entry and appends it, if it is to be recorded. Admin activity
// always is; data access (ev.DataAccess) is only where enabled on the
// resource or its nearest ancestor with a setting, except Cloud EKM calls
// (method "Wrap" or "Unwrap", or details "always"="true"), which always are;
// so is data access on a resource name that does not parse. The settings
// come from memory (see [Log.SetDataAccess]); a call never waits for
// storage to decide, except the one that refreshes them every 30 seconds.
//
// Record returns nil once the entry is durable, or when it is not to be
// recorded. Otherwise it returns an UNAVAILABLE *kmserr.Error wrapping the
// cause, and the call must fail.
func (l *Log) Record(ctx context.Context, ev kms.Event) error {
	always := ev.Method == "Wrap" || ev.Method == "Unwrap" || ev.Details["always"] == "true"
	if ev.DataAccess && !always && !l.cfg.effective(ctx, l, ev.Resource) {
		return nil
	}
	e := Entry{
		Time:          l.now(),
		Principal:     "anonymous",
		Method:        ev.Method,
		Resource:      ev.Resource,
		Status:        codeName(statusCode(ev.Err)),
		Justification: ev.Justification,
		Details:       ev.Details,
	}
	if c := kms.CallerFrom(ctx); c != nil {
		e.Principal, e.AuthMethod = c.Principal, c.AuthMethod
		e.RequestID, e.ClientAddress = c.RequestID, c.ClientAddress
	}
	if err := l.Append(ctx, e); err != nil {
		return kmserr.Unavailable(err, "the call could not be recorded in the audit log")
	}
	return nil
}

// statusCode is the gRPC code of a call's outcome.
func statusCode(err error) codes.Code {
	c := kmserr.Code(err)
	if c == codes.Unknown {
		switch {
		case errors.Is(err, context.Canceled):
			return codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			return codes.DeadlineExceeded
		}
	}
	return c
}

// codeNames are the names of the gRPC codes as google/rpc/code.proto spells
// them (codes.Code.String gives "NotFound"; the log uses "NOT_FOUND").
var codeNames = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// codeName returns the upper-case name of c, or "CODE(n)" for a code
// outside the table.
func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "CODE(" + strconv.FormatUint(uint64(c), 10) + ")"
}
