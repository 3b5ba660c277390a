// SPDX-License-Identifier: Apache-2.0

package kms_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

// allowAll lets every caller do everything: the core's own cost.
type allowAll struct{}

func (allowAll) Authorize(context.Context, string, resource.Name) error { return nil }

// benchEnv is a core on a temporary embedded store with one key, and what
// the server wires around it.
type benchEnv struct {
	svc   *kms.Service
	authz *iam.Authorizer
	log   *audit.Log
	key   string
}

// newBenchEnv builds the core as the server does. With withIAM the
// authorizer is IAM's, and the app "billing" holds
// roles/cloudkms.cryptoKeyEncrypterDecrypter on the key; with withAudit
// the audit log records, durably, with data-access audit set to dataAccess
// on the key.
func newBenchEnv(b *testing.B, withIAM, withAudit, dataAccess bool) *benchEnv {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "custos.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ks, err := keystore.Open(ctx, st, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{}
	quiet := slog.New(slog.DiscardHandler)
	var auditor kms.Auditor
	if withAudit {
		if e.log, err = audit.Open(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32), quiet); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(e.log.Close)
		auditor = e.log
	}
	var authz kms.Authorizer = allowAll{}
	if withIAM {
		e.authz, err = iam.New(iam.Config{Store: st, Signer: ks, Auditor: auditor, Logger: quiet,
			Exists: func(ctx context.Context, name string) error { return e.svc.Exists(ctx, name) }})
		if err != nil {
			b.Fatal(err)
		}
		authz = e.authz
	}
	e.svc = kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: authz, Auditor: auditor, Logger: quiet})
	admin := kms.WithCaller(ctx, &kms.Caller{Principal: "admin", Admin: true})
	ring, err := e.svc.CreateKeyRing(admin, "projects/p/locations/global", "r")
	if err != nil {
		b.Fatal(err)
	}
	k, err := e.svc.CreateCryptoKey(admin, kms.CreateKeyRequest{Parent: ring.Name, ID: "k", Key: kms.CryptoKey{Purpose: alg.EncryptDecrypt}})
	if err != nil {
		b.Fatal(err)
	}
	e.key = k.Key.Name
	if withIAM {
		p := iam.Policy{Bindings: []iam.Binding{{Role: "roles/cloudkms.cryptoKeyEncrypterDecrypter", Members: []string{"app:billing"}}}}
		if _, err := e.authz.SetIamPolicy(admin, e.key, p, ""); err != nil {
			b.Fatal(err)
		}
	}
	if withAudit {
		if err := e.log.SetDataAccess(admin, e.key, dataAccess); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkEncryptCacheHit is the core's Encrypt of 32 bytes with the key
// and version cached (no storage read), as an app:
//
//   - core: an authorizer that allows all, no audit: the core alone;
//   - iam: IAM's authorizer with the policies cached;
//   - iam+audit-off: and the audit log, data-access audit off for the key
//     (the decision not to record, from memory);
//   - iam+audit-on: data-access audit on: each Encrypt waits until its
//     entry is durable. 16×GOMAXPROCS concurrent callers share the group
//     commits, as concurrent requests do on a server.
//
// Run with -benchmem: allocs/op is the hot path's allocation count.
func BenchmarkEncryptCacheHit(b *testing.B) {
	plaintext := bytes.Repeat([]byte{0x42}, 32)
	app := kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:billing", App: "billing", AuthMethod: "api-key", RequestID: "bench", ClientAddress: "127.0.0.1:1"})
	cases := []struct {
		name                       string
		withIAM, withAudit, dataOn bool
		parallel                   int
	}{
		{"core", false, false, false, 0},
		{"iam", true, false, false, 0},
		{"iam+audit-off", true, true, false, 0},
		{"iam+audit-on", true, true, true, 16},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			e := newBenchEnv(b, tc.withIAM, tc.withAudit, tc.dataOn)
			if _, _, err := e.svc.Encrypt(app, e.key, plaintext, nil); err != nil {
				b.Fatalf("Encrypt = %v", err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(plaintext)))
			if tc.parallel == 0 {
				for b.Loop() {
					if _, _, err := e.svc.Encrypt(app, e.key, plaintext, nil); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(tc.parallel)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := e.svc.Encrypt(app, e.key, plaintext, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDecryptCacheHit is Decrypt of a 32-byte Encrypt, key and
// versions cached, with the core alone.
func BenchmarkDecryptCacheHit(b *testing.B) {
	e := newBenchEnv(b, false, false, false)
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:billing", App: "billing"})
	ct, _, err := e.svc.Encrypt(ctx, e.key, bytes.Repeat([]byte{0x42}, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.svc.Decrypt(ctx, e.key, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}
