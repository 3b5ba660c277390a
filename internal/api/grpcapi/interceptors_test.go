// SPDX-License-Identifier: Apache-2.0

package grpcapi

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
)

type anyone struct{}

func (anyone) Authenticate(context.Context, auth.Request) (*kms.Caller, error) {
	return &kms.Caller{Principal: "app:test"}, nil
}

// TestInterceptorRecoversPanic: a handler that panics answers INTERNAL,
// without the panic's text, and the server goes on; the panic is logged.
func TestInterceptorRecoversPanic(t *testing.T) {
	var logged bytes.Buffer
	ic := UnaryInterceptor(anyone{}, slog.New(slog.NewTextHandler(&logged, nil)))
	info := &grpc.UnaryServerInfo{FullMethod: "/google.cloud.kms.v1.KeyManagementService/Encrypt"}
	_, err := ic(context.Background(), nil, info, func(context.Context, any) (any, error) {
		panic("secret detail")
	})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "secret") {
		t.Errorf("a panicking handler answered %v, want INTERNAL without the panic's text", err)
	}
	if !strings.Contains(logged.String(), "panic in a gRPC call") || !strings.Contains(logged.String(), "Encrypt") {
		t.Errorf("the panic was not logged with its method: %q", logged.String())
	}
	// The next call is served as usual.
	resp, err := ic(context.Background(), nil, info, func(context.Context, any) (any, error) { return "ok", nil })
	if err != nil || resp != "ok" {
		t.Errorf("the call after a panic = %v, %v", resp, err)
	}
}

// TestExportableHeader: the gRPC header takes what the REST parameter
// takes (an empty value is no value), and anything else is
// INVALID_ARGUMENT before the call.
func TestExportableHeader(t *testing.T) {
	ic := UnaryInterceptor(anyone{}, slog.New(slog.DiscardHandler))
	info := &grpc.UnaryServerInfo{FullMethod: "/google.cloud.kms.v1.KeyManagementService/CreateCryptoKey"}
	for v, want := range map[string]codes.Code{"true": codes.OK, "TRUE": codes.OK, "1": codes.OK, "false": codes.OK, "0": codes.OK, "yes": codes.InvalidArgument, "": codes.OK} {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(exportableHeader, v))
		var got bool
		_, err := ic(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
			got = exportableFrom(ctx)
			return nil, nil
		})
		if status.Code(err) != want {
			t.Errorf("%s: %q = %v, want %v", exportableHeader, v, err, want)
		}
		if wantOn := v == "true" || v == "TRUE" || v == "1"; err == nil && got != wantOn {
			t.Errorf("%s: %q made exportable %v", exportableHeader, v, got)
		}
	}
}
