// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"testing"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// TestCallsWithoutTheTokenAreRefused points the official clients at the
// server without a token and with a wrong one.
func TestCallsWithoutTheTokenAreRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	grpcWith := func(t *testing.T, extra ...option.ClientOption) *kms.KeyManagementClient {
		opts := append([]option.ClientOption{
			option.WithEndpoint(s.grpcAddr),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}, extra...)
		c, err := kms.NewKeyManagementClient(t.Context(), opts...)
		if err != nil {
			t.Fatalf("kms.NewKeyManagementClient = %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	restWith := func(t *testing.T, opt option.ClientOption) *kms.KeyManagementClient {
		c, err := kms.NewKeyManagementRESTClient(t.Context(), option.WithEndpoint("http://"+s.restAddr), opt)
		if err != nil {
			t.Fatalf("kms.NewKeyManagementRESTClient = %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	cases := []struct {
		name   string
		client func(t *testing.T) *kms.KeyManagementClient
	}{
		{"gRPC without a token", func(t *testing.T) *kms.KeyManagementClient { return grpcWith(t) }},
		{"gRPC with a wrong token", func(t *testing.T) *kms.KeyManagementClient {
			return grpcWith(t, option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{"custos_admin_wrong"})))
		}},
		{"gRPC with the token's prefix only", func(t *testing.T) *kms.KeyManagementClient {
			return grpcWith(t, option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{s.token[:len(s.token)-1]})))
		}},
		{"REST without a token", func(t *testing.T) *kms.KeyManagementClient { return restWith(t, option.WithoutAuthentication()) }},
		{"REST with a wrong token", func(t *testing.T) *kms.KeyManagementClient {
			return restWith(t, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "custos_admin_wrong"})))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is Unauthenticated", func(t *testing.T) {
			c := tc.client(t)
			ctx := testContext(t)
			_, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/auth/locations/global", KeyRingId: "r"})
			wantCode(t, "CreateKeyRing", err, codes.Unauthenticated)
			_, err = c.GenerateRandomBytes(ctx, &kmspb.GenerateRandomBytesRequest{Location: "projects/auth/locations/global", LengthBytes: 8})
			wantCode(t, "GenerateRandomBytes", err, codes.Unauthenticated)
		})
	}
	t.Run("nothing was created", func(t *testing.T) {
		_, err := s.grpcClient(t).GetKeyRing(testContext(t), &kmspb.GetKeyRingRequest{Name: "projects/auth/locations/global/keyRings/r"})
		wantCode(t, "GetKeyRing(projects/auth/locations/global/keyRings/r)", err, codes.NotFound)
	})
}
