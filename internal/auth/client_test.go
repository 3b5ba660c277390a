// SPDX-License-Identifier: Apache-2.0

package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/api/grpcapi"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

// keyRings is a stand-in KMS service: it answers GetKeyRing and notes who
// called, as the real interceptor authenticated them.
type keyRings struct {
	kmspb.UnimplementedKeyManagementServiceServer
	mu      sync.Mutex
	methods []string
}

func (k *keyRings) GetKeyRing(ctx context.Context, req *kmspb.GetKeyRingRequest) (*kmspb.KeyRing, error) {
	c := kmsCallerFrom(ctx)
	k.mu.Lock()
	k.methods = append(k.methods, c)
	k.mu.Unlock()
	return &kmspb.KeyRing{Name: req.GetName()}, nil
}

// TestOfficialKMSGRPCClient: the official Cloud KMS gRPC client, given only
// the key file and the endpoint, signs its own JWT (no token_uri call), and
// the production gRPC interceptor accepts it; revoking the key refuses the
// same (cached) JWT at once.
func TestOfficialKMSGRPCClient(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := keystore.Open(ctx, st, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const admin = "custos_admin_grpc-test"
	apps, err := auth.NewApps(auth.AppsConfig{Store: st, Keystore: ks, Authorizer: adminOnly{}, PublicURL: "https://custos.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewWithApps(admin, apps)
	caller, _ := authn.Authenticate(ctx, auth.Request{Token: admin})
	adminCtx := withCaller(ctx, caller)
	if _, err := apps.CreateApp(adminCtx, auth.CreateAppRequest{Name: "billing", Project: "acme"}); err != nil {
		t.Fatal(err)
	}
	nk, err := apps.CreateKey(adminCtx, auth.CreateKeyRequest{App: "billing", Format: auth.FormatGoogleJSON})
	if err != nil {
		t.Fatal(err)
	}

	// Per-call credentials need a secure transport: serve TLS on loopback.
	serverTLS, roots := loopbackTLS(t)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)), grpc.UnaryInterceptor(grpcapi.UnaryInterceptor(authn, slog.Default())))
	svc := &keyRings{}
	kmspb.RegisterKeyManagementServiceServer(srv, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()

	client, err := kms.NewKeyManagementClient(ctx,
		option.WithEndpoint(ln.Addr().String()),
		option.WithAuthCredentialsJSON(option.ServiceAccount, nk.Secret),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots}))))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const ring = "projects/acme/locations/global/keyRings/ring"
	for i := range 2 {
		if _, err := client.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: ring}); err != nil {
			t.Fatalf("GetKeyRing #%d = %v", i+1, err)
		}
	}
	svc.mu.Lock()
	methods := svc.methods
	svc.mu.Unlock()
	if len(methods) != 2 || methods[0] != "app:billing service-account-jwt" {
		t.Errorf("callers = %q, want app:billing by service-account-jwt", methods)
	}

	if _, err := apps.RevokeKey(adminCtx, "billing", nk.Key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: ring})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetKeyRing after revocation = %v, want UNAUTHENTICATED", err)
	}
}

// loopbackTLS returns a server TLS config for 127.0.0.1 and the pool that
// trusts it.
func loopbackTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}}}, pool
}
