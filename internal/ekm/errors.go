// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kmserr"
)

// statusOf is the Cloud EKM error table: the HTTP status that Cloud KMS
// sees for an error, and the google.rpc.Code named in the body. It differs
// from Google's own HTTP mapping (rest.HTTPStatus) where Cloud EKM needs it
// to: every transient fault is 503, so that Cloud KMS retries and never
// takes it for a decision about the key (a 403 disables the key version;
// a 409, 499 or 504 would have no documented meaning to it), and every
// unexpected code is 500.
func statusOf(err error) (int, codes.Code) {
	c := kmserr.Code(err)
	if c == codes.Unknown {
		// Not a Custos error at all: an internal fault.
		c = codes.Internal
	}
	switch c {
	case codes.Unauthenticated:
		return http.StatusUnauthorized, c
	case codes.NotFound:
		return http.StatusNotFound, c
	case codes.PermissionDenied:
		return http.StatusForbidden, c
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest, codes.InvalidArgument
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests, c
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled:
		return http.StatusServiceUnavailable, codes.Unavailable
	case codes.Unimplemented:
		return http.StatusNotImplemented, c
	default: // Internal, DataLoss, AlreadyExists, OK (a nil error here is a bug)
		return http.StatusInternalServerError, codes.Internal
	}
}

// message is the text sent for err: the safe message of a *kmserr.Error,
// never a cause; a fixed text for anything else.
func message(err error) string {
	var ke *kmserr.Error
	if errors.As(err, &ke) && ke.Msg != "" {
		return ke.Msg
	}
	return "internal error"
}

// writeError writes err as Google's JSON error envelope
// {"error":{"code","message","status"}} with the status of [statusOf]. A
// 429 gets Retry-After from the quota, a 503 Retry-After: 1 and a 401
// WWW-Authenticate: Bearer.
func writeError(w http.ResponseWriter, err error) int {
	httpCode, c := statusOf(err)
	h := w.Header()
	switch httpCode {
	case http.StatusTooManyRequests:
		secs := int64(1)
		if d, ok := iam.RetryAfter(err); ok {
			secs = max(int64(math.Ceil(d.Seconds())), 1)
		}
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	msg := message(err)
	if httpCode == http.StatusInternalServerError {
		msg = "internal error"
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    httpCode,
		"message": msg,
		"status":  code.Code(c).String(),
	}})
	writeJSON(w, httpCode, body)
	return httpCode
}

// The headers of every answer, shared: net/http only reads them.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
)

// writeJSON writes a JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"], h["X-Content-Type-Options"], h["Cache-Control"] = jsonContentType, noSniff, noStore
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
