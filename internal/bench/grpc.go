// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcTarget is where gRPC requests go: a few ClientConns (HTTP/2
// connections) shared by the workers, worker i using conn i mod len.
type grpcTarget struct {
	conns   []*grpc.ClientConn
	clients []kmspb.KeyManagementServiceClient
}

// dialGRPC opens n ClientConns to addr (plaintext, loopback) and connects
// them before returning, so that no run measures a handshake.
func dialGRPC(ctx context.Context, addr string, n int) (*grpcTarget, error) {
	t := &grpcTarget{}
	for range max(n, 1) {
		cc, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)))
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("gRPC %s: %w", addr, err)
		}
		cc.Connect()
		t.conns = append(t.conns, cc)
		t.clients = append(t.clients, kmspb.NewKeyManagementServiceClient(cc))
	}
	return t, nil
}

// client returns the stub of worker w.
func (t *grpcTarget) client(w int) kmspb.KeyManagementServiceClient {
	return t.clients[w%len(t.clients)]
}

// Close closes every connection.
func (t *grpcTarget) Close() {
	for _, c := range t.conns {
		c.Close()
	}
}

// bearer sends a bearer token with each call, the way the official
// clients send their access token.
type bearer struct{ md map[string]string }

func newBearer(token string) grpc.CallOption {
	return grpc.PerRPCCredentials(bearer{md: map[string]string{"authorization": "Bearer " + token}})
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return b.md, nil
}

// RequireTransportSecurity is false: the bench talks to loopback only.
func (bearer) RequireTransportSecurity() bool { return false }
