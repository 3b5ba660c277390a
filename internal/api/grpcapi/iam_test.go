// SPDX-License-Identifier: Apache-2.0

package grpcapi_test

import (
	"context"
	"net"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/custos-kms/custos/internal/api/grpcapi"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

const (
	iamTestRing = "projects/p/locations/global/keyRings/r"
	iamTestKey  = iamTestRing + "/cryptoKeys/k"
)

// iamTestClient serves an IAMServer over a real iam.Authorizer on an
// in-memory gRPC connection. The "caller" metadata picks the caller:
// "admin", or an app name.
func iamTestClient(t *testing.T, admin bool) iampb.IAMPolicyClient {
	t.Helper()
	st, ks := sqlitetest.Open(t, 1)
	a, err := iam.New(iam.Config{Store: st, Signer: ks, Exists: func(ctx context.Context, name string) error {
		if name == iamTestRing || name == iamTestKey {
			return nil
		}
		return kmserr.NotFound("%s not found", name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		c := &kms.Caller{Principal: "admin", Admin: true}
		if v := md.Get("caller"); len(v) > 0 && v[0] != "admin" {
			c = &kms.Caller{Principal: "app:" + v[0], App: v[0]}
		}
		return h(kms.WithCaller(ctx, c), req)
	}))
	if admin {
		iampb.RegisterIAMPolicyServer(srv, grpcapi.NewAdminIAMServer(a))
	} else {
		iampb.RegisterIAMPolicyServer(srv, grpcapi.NewIAMServer(a))
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return iampb.NewIAMPolicyClient(conn)
}

func as(caller string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "caller", caller)
}

func wantStatus(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s = %v, want %v", what, err, want)
	}
}

func TestIAMServerReadModifyWrite(t *testing.T) {
	c := iamTestClient(t, false)
	ctx := as("admin")
	p0, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: iamTestKey, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
	if err != nil {
		t.Fatalf("GetIamPolicy = %v", err)
	}
	if p0.GetVersion() != 1 || len(p0.GetEtag()) == 0 || len(p0.GetBindings()) != 0 {
		t.Errorf("GetIamPolicy = %v, want version 1, an etag, no bindings", p0)
	}
	want := []*iampb.Binding{{Role: "roles/cloudkms.cryptoKeyEncrypterDecrypter", Members: []string{"app:billing"}}}
	p1, err := c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{
		Resource:   iamTestKey,
		Policy:     &iampb.Policy{Version: 3, Bindings: want, Etag: p0.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bindings", "etag"}},
	})
	if err != nil {
		t.Fatalf("SetIamPolicy = %v", err)
	}
	if diff := cmp.Diff(want, p1.GetBindings(), protocmp.Transform()); diff != "" {
		t.Errorf("SetIamPolicy bindings (-want +got):\n%s", diff)
	}
	// The same etag again loses.
	_, err = c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: iamTestKey, Policy: &iampb.Policy{Etag: p0.GetEtag()}})
	wantStatus(t, "SetIamPolicy with a stale etag", err, codes.Aborted)

	got, err := c.TestIamPermissions(as("billing"), &iampb.TestIamPermissionsRequest{
		Resource:    iamTestKey,
		Permissions: []string{kms.PermUseToDecrypt, kms.PermCryptoKeysGet, kms.PermUseToEncrypt},
	})
	if err != nil {
		t.Fatalf("TestIamPermissions = %v", err)
	}
	if diff := cmp.Diff([]string{kms.PermUseToDecrypt, kms.PermUseToEncrypt}, got.GetPermissions()); diff != "" {
		t.Errorf("TestIamPermissions (-want +got):\n%s", diff)
	}
	_, err = c.GetIamPolicy(as("billing"), &iampb.GetIamPolicyRequest{Resource: iamTestKey})
	wantStatus(t, "GetIamPolicy as an encrypter", err, codes.PermissionDenied)
}

func TestIAMServerRefusals(t *testing.T) {
	c := iamTestClient(t, false)
	ctx := as("admin")
	binding := func(b *iampb.Binding) *iampb.SetIamPolicyRequest {
		return &iampb.SetIamPolicyRequest{Resource: iamTestKey, Policy: &iampb.Policy{Bindings: []*iampb.Binding{b}}}
	}
	tests := []struct {
		name string
		req  *iampb.SetIamPolicyRequest
		want codes.Code
	}{
		{"no policy", &iampb.SetIamPolicyRequest{Resource: iamTestKey}, codes.InvalidArgument},
		{"condition", binding(&iampb.Binding{Role: "roles/cloudkms.viewer", Members: []string{"app:a"}, Condition: &expr.Expr{Expression: "true"}}), codes.InvalidArgument},
		{"audit configs", &iampb.SetIamPolicyRequest{Resource: iamTestKey, Policy: &iampb.Policy{AuditConfigs: []*iampb.AuditConfig{{Service: "allServices"}}}}, codes.InvalidArgument},
		{"unknown role", binding(&iampb.Binding{Role: "roles/owner", Members: []string{"app:a"}}), codes.InvalidArgument},
		{"user member", binding(&iampb.Binding{Role: "roles/cloudkms.viewer", Members: []string{"user:a@example.com"}}), codes.InvalidArgument},
		{"version 2", &iampb.SetIamPolicyRequest{Resource: iamTestKey, Policy: &iampb.Policy{Version: 2}}, codes.InvalidArgument},
		{"mask without bindings", &iampb.SetIamPolicyRequest{Resource: iamTestKey, Policy: &iampb.Policy{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"etag"}}}, codes.InvalidArgument},
		{"mask with audit configs", &iampb.SetIamPolicyRequest{Resource: iamTestKey, Policy: &iampb.Policy{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bindings", "auditConfigs"}}}, codes.InvalidArgument},
		{"project on the KMS surface", &iampb.SetIamPolicyRequest{Resource: "projects/p", Policy: &iampb.Policy{}}, codes.InvalidArgument},
		{"missing key", &iampb.SetIamPolicyRequest{Resource: iamTestRing + "/cryptoKeys/nope", Policy: &iampb.Policy{}}, codes.NotFound},
		{"EKM connection", &iampb.SetIamPolicyRequest{Resource: "projects/p/locations/global/ekmConnections/c", Policy: &iampb.Policy{}}, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetIamPolicy(ctx, tc.req)
			wantStatus(t, "SetIamPolicy", err, tc.want)
		})
	}
	_, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: iamTestKey, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 2}})
	wantStatus(t, "GetIamPolicy(version 2)", err, codes.InvalidArgument)
	_, err = c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "projects/p"})
	wantStatus(t, "GetIamPolicy(project) on the KMS surface", err, codes.InvalidArgument)
	// A missing resource: denied for an app (before any lookup), NOT_FOUND for the admin.
	_, err = c.GetIamPolicy(as("billing"), &iampb.GetIamPolicyRequest{Resource: iamTestRing + "/cryptoKeys/nope"})
	wantStatus(t, "GetIamPolicy(missing) as an app", err, codes.PermissionDenied)
	_, err = c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: iamTestRing + "/cryptoKeys/nope"})
	wantStatus(t, "GetIamPolicy(missing) as the admin", err, codes.NotFound)
	resp, err := c.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: iamTestRing + "/cryptoKeys/nope", Permissions: []string{kms.PermCryptoKeysGet}})
	if err != nil || len(resp.GetPermissions()) != 0 {
		t.Errorf("TestIamPermissions(missing) = %v, %v; want an empty answer", resp, err)
	}
}

func TestAdminIAMServerProjects(t *testing.T) {
	c := iamTestClient(t, true)
	ctx := as("admin")
	p, err := c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: "projects/p", Policy: &iampb.Policy{
		Bindings: []*iampb.Binding{{Role: "roles/cloudkms.viewer", Members: []string{"group:ops"}}},
	}})
	if err != nil {
		t.Fatalf("SetIamPolicy(project) = %v", err)
	}
	got, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "projects/p"})
	if err != nil {
		t.Fatalf("GetIamPolicy(project) = %v", err)
	}
	if diff := cmp.Diff(p, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetIamPolicy after Set (-set +get):\n%s", diff)
	}
	_, err = c.GetIamPolicy(as("billing"), &iampb.GetIamPolicyRequest{Resource: "projects/p"})
	wantStatus(t, "GetIamPolicy(project) as an app", err, codes.PermissionDenied)
}
