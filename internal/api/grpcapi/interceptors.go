// SPDX-License-Identifier: Apache-2.0

package grpcapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// Authenticator turns what a request offers (bearer token, client
// certificate) into a caller. It returns an UNAUTHENTICATED error for a
// missing or bad credential.
type Authenticator interface {
	Authenticate(ctx context.Context, req auth.Request) (*kms.Caller, error)
}

// UnaryInterceptor authenticates every call from its `authorization:
// Bearer <token>` metadata and makes sure no internal error text leaves the
// server.
func UnaryInterceptor(a Authenticator, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		var token string
		if v := md.Get("authorization"); len(v) > 0 {
			token = BearerToken(v[0])
		}
		areq := auth.Request{Token: token, RequestID: NewRequestID()}
		if p, ok := peer.FromContext(ctx); ok {
			if p.Addr != nil {
				areq.ClientAddr = p.Addr.String()
			}
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
				areq.ClientCert = ti.State.PeerCertificates[0]
			}
		}
		grpc.SetHeader(ctx, metadata.Pairs("x-request-id", areq.RequestID))
		c, err := a.Authenticate(ctx, areq)
		if err != nil {
			return nil, Sanitize(err, log)
		}
		if v := md.Get(exportableHeader); len(v) > 0 && v[0] != "" {
			on, err := ParseExportable(exportableHeader, v[0])
			if err != nil {
				return nil, err
			}
			ctx = WithExportable(ctx, on)
		}
		resp, err := invoke(kms.WithCaller(ctx, c), req, info.FullMethod, handler, log)
		return resp, Sanitize(err, log)
	}
}

// invoke runs handler, turning a panic into INTERNAL: grpc-go does not
// recover handlers, so a bug reached by one call would stop the server
// (net/http recovers the REST handlers the same way).
func invoke(ctx context.Context, req any, method string, handler grpc.UnaryHandler, log *slog.Logger) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in a gRPC call", "method", method, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(ctx, req)
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// value, or "" if it has another form.
func BearerToken(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Sanitize returns an error fit to send: a *kmserr.Error keeps its code and
// message (INTERNAL and UNAVAILABLE causes are logged, never sent); any
// other error becomes a generic INTERNAL and is logged.
func Sanitize(err error, log *slog.Logger) error {
	if err == nil {
		return nil
	}
	// An error with its own gRPC status (a quota refusal with RetryInfo)
	// keeps it whole.
	var rich interface{ GRPCStatus() *status.Status }
	if errors.As(err, &rich) {
		if _, plain := rich.(*kmserr.Error); !plain {
			return err
		}
	}
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		if ke.Err != nil && log != nil {
			log.Error("call failed", "code", ke.Code.String(), "err", ke.Err)
		}
		return ke
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, "request cancelled")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if log != nil {
		log.Error("internal error", "err", err)
	}
	return status.Error(codes.Internal, "internal error")
}

// exportableHeader is the gRPC metadata form of the REST extension query
// parameter exportable=true on CreateCryptoKey.
const exportableHeader = "x-custos-exportable"

type exportableKey struct{}

// ParseExportable reads the value of the exportable extension, the REST
// query parameter or the gRPC header named name: true or 1, false or 0, in
// any case; anything else is INVALID_ARGUMENT.
func ParseExportable(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, kmserr.InvalidArgument(name, "must be true or false, not %q", v)
}

// WithExportable marks a CreateCryptoKey call as asking for an exportable
// key (a Custos extension that official clients never send).
func WithExportable(ctx context.Context, v bool) context.Context {
	return context.WithValue(ctx, exportableKey{}, v)
}

func exportableFrom(ctx context.Context) bool {
	v, _ := ctx.Value(exportableKey{}).(bool)
	return v
}

// NewRequestID returns a random request id (96 bits, base64url).
func NewRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
