// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// eventLog is an Auditor that keeps the events, and fails on demand.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	fail   error
}

func (l *eventLog) Record(_ context.Context, e Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return l.fail
}

func (l *eventLog) exports() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Method == "ExportCryptoKeyVersion" {
			out = append(out, e)
		}
	}
	return out
}

// exporterOnly lets the admin do anything and "app:exporter" export only.
type exporterOnly struct{}

func (exporterOnly) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := CallerFrom(ctx)
	if c != nil && (c.Admin || (c.Principal == "app:exporter" && perm == PermExport && res.Kind == resource.KindCryptoKey)) {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

func newExportEnv(t *testing.T) (*env, *eventLog) {
	t.Helper()
	st, ks := sqlitetest.Open(t, 5)
	log := &eventLog{}
	svc := New(Config{Store: st, Keystore: ks, Authorizer: exporterOnly{}, Auditor: log})
	ctx := WithCaller(context.Background(), &Caller{Principal: "admin", Admin: true})
	return &env{svc: svc, store: st, ctx: ctx}, log
}

func TestExportMaterialRefusals(t *testing.T) {
	e, log := newExportEnv(t)
	ring := e.ring(t, "r")
	plain := e.key(t, ring, "plain", CryptoKey{Purpose: alg.EncryptDecrypt})
	exp := e.key(t, ring, "exp", CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})
	raw := e.key(t, ring, "raw", CryptoKey{Purpose: alg.RawEncryptDecrypt, Template: VersionTemplate{Algorithm: "AES_256_GCM"}, Exportable: true})
	if _, err := e.svc.CreateCryptoKeyVersion(e.ctx, raw.Key.Name, ""); err != nil {
		t.Fatal(err)
	}
	empty := e.key(t, ring, "empty", CryptoKey{Purpose: alg.MAC, Template: VersionTemplate{Algorithm: "HMAC_SHA256"}, Exportable: true})
	if _, err := e.svc.UpdateCryptoKeyVersion(e.ctx, empty.Key.Name+"/cryptoKeyVersions/1", Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	stranger := WithCaller(context.Background(), &Caller{Principal: "app:stranger"})

	tests := []struct {
		name    string
		ctx     context.Context
		res     string
		target  string
		code    codes.Code
		msgHead string
	}{
		{"stranger is denied", stranger, exp.Key.Name, "aws", codes.PermissionDenied, "export not allowed: "},
		{"stranger is denied a missing key alike", stranger, ring + "/cryptoKeys/nokey", "aws", codes.PermissionDenied, "export not allowed: "},
		{"key not exportable", e.ctx, plain.Key.Name, "aws", codes.FailedPrecondition, "export not allowed: the key is not exportable"},
		{"plaintext refused", e.ctx, exp.Key.Name, ExportPlaintext, codes.FailedPrecondition, "export not allowed: plaintext export"},
		{"no target is plaintext", e.ctx, exp.Key.Name, "", codes.FailedPrecondition, "export not allowed: plaintext export"},
		{"two enabled versions and no primary", e.ctx, raw.Key.Name, "azure", codes.InvalidArgument, "version: "},
		{"no enabled version", e.ctx, empty.Key.Name, "azure", codes.FailedPrecondition, ""},
		{"disabled version", e.ctx, empty.Key.Name + "/cryptoKeyVersions/1", "azure", codes.FailedPrecondition, ""},
		{"missing key", e.ctx, ring + "/cryptoKeys/nokey", "aws", codes.NotFound, ""},
		{"missing version", e.ctx, exp.Key.Name + "/cryptoKeyVersions/9", "aws", codes.NotFound, ""},
		{"bad name", e.ctx, "projects/p", "aws", codes.InvalidArgument, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(log.exports())
			m, v, _, err := e.svc.ExportMaterial(tc.ctx, tc.res, ExportOptions{Target: tc.target})
			wantCode(t, "ExportMaterial", err, tc.code)
			if m != nil || (v != "" && tc.code == codes.PermissionDenied) {
				t.Errorf("ExportMaterial(%q) returned material %d bytes, version %q with an error", tc.res, len(m), v)
			}
			var ke *kmserr.Error
			if !errors.As(err, &ke) || !strings.HasPrefix(ke.Msg, tc.msgHead) {
				t.Errorf("ExportMaterial(%q) = %v, want a message starting %q", tc.res, err, tc.msgHead)
			}
			got := log.exports()
			if tc.name == "bad name" {
				if len(got) != before {
					t.Errorf("a name that does not parse was audited")
				}
				return
			}
			if len(got) != before+1 {
				t.Fatalf("ExportMaterial(%q) left %d audit entries, want 1", tc.res, len(got)-before)
			}
			ev := got[len(got)-1]
			if ev.Details["always"] != "true" || ev.Details["target"] != tc.target || !ev.DataAccess || kmserr.Code(ev.Err) != tc.code {
				t.Errorf("audit event = %+v, want always, target %q, code %v", ev, tc.target, tc.code)
			}
		})
	}
}

func TestExportMaterialVersions(t *testing.T) {
	e, log := newExportEnv(t)
	ring := e.ring(t, "r")
	raw := e.key(t, ring, "raw", CryptoKey{Purpose: alg.RawEncryptDecrypt, Template: VersionTemplate{Algorithm: "AES_256_GCM"}, Exportable: true})
	exporter := WithCaller(context.Background(), &Caller{Principal: "app:exporter"})

	// One version: the key name resolves to it, and the material is the
	// AES key that RawEncrypt used (decrypted here with crypto/cipher).
	ct, iv, _, err := e.svc.RawEncrypt(e.ctx, raw.Key.Name+"/cryptoKeyVersions/1", []byte("hello"), []byte("aad"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, v, a, err := e.svc.ExportMaterial(exporter, raw.Key.Name, ExportOptions{Target: "aws"})
	if err != nil {
		t.Fatalf("ExportMaterial by an exporter = %v", err)
	}
	if v != raw.Key.Name+"/cryptoKeyVersions/1" || a != "AES_256_GCM" || len(m) != 32 {
		t.Fatalf("ExportMaterial = %d bytes, %q, %q; want 32 bytes of version 1, AES_256_GCM", len(m), v, a)
	}
	block, _ := aes.NewCipher(m)
	gcm, _ := cipher.NewGCM(block)
	if pt, err := gcm.Open(nil, iv, ct, []byte("aad")); err != nil || string(pt) != "hello" {
		t.Fatalf("the exported key does not open RawEncrypt's ciphertext: %q, %v", pt, err)
	}
	evs := log.exports()
	if ev := evs[len(evs)-1]; ev.Err != nil || ev.Resource != v || ev.Details["target"] != "aws" {
		t.Errorf("audit event of a successful export = %+v", ev)
	}

	// Two ENABLED versions: only an explicit version works; once one is
	// disabled the key name resolves to the other.
	if _, err := e.svc.CreateCryptoKeyVersion(e.ctx, raw.Key.Name, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.svc.ExportMaterial(e.ctx, raw.Key.Name, ExportOptions{Target: "aws"}); kmserr.Code(err) != codes.InvalidArgument {
		t.Fatalf("ExportMaterial of an ambiguous key = %v, want INVALID_ARGUMENT", err)
	}
	m2, v2, _, err := e.svc.ExportMaterial(e.ctx, raw.Key.Name+"/cryptoKeyVersions/2", ExportOptions{Target: "gcp"})
	if err != nil || bytes.Equal(m2, m) || !strings.HasSuffix(v2, "/2") {
		t.Fatalf("ExportMaterial(version 2) = %q, %v (same material as version 1: %v)", v2, err, bytes.Equal(m2, m))
	}
	if _, err := e.svc.UpdateCryptoKeyVersion(e.ctx, raw.Key.Name+"/cryptoKeyVersions/1", Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	if _, v, _, err := e.svc.ExportMaterial(e.ctx, raw.Key.Name, ExportOptions{Target: "gcp"}); err != nil || v != v2 {
		t.Fatalf("ExportMaterial after disabling version 1 = %q, %v; want %q", v, err, v2)
	}

	// A symmetric key resolves to its primary.
	sym := e.key(t, ring, "sym", CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})
	if _, err := e.svc.CreateCryptoKeyVersion(e.ctx, sym.Key.Name, ""); err != nil {
		t.Fatal(err)
	}
	if _, v, a, err := e.svc.ExportMaterial(e.ctx, sym.Key.Name, ExportOptions{Target: "azure"}); err != nil || !strings.HasSuffix(v, "/1") || a != "GOOGLE_SYMMETRIC_ENCRYPTION" {
		t.Fatalf("ExportMaterial(symmetric key) = %q, %q, %v; want its primary, version 1", v, a, err)
	}

	// An asymmetric key exports PKCS#8 whose public half is GetPublicKey's.
	e.key(t, ring, "ec", CryptoKey{Purpose: alg.AsymmetricSign, Template: VersionTemplate{Algorithm: "EC_SIGN_P256_SHA256"}, Exportable: true})
	m, v, _, err = e.svc.ExportMaterial(e.ctx, ring+"/cryptoKeys/ec", ExportOptions{Target: "azure"})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(m)
	if err != nil {
		t.Fatalf("exported EC material is not PKCS#8: %v", err)
	}
	pk, err := e.svc.GetPublicKey(e.ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	block2, _ := pem.Decode([]byte(pk.PEM))
	der, _ := x509.MarshalPKIXPublicKey(priv.(crypto.Signer).Public())
	if block2 == nil || !bytes.Equal(block2.Bytes, der) {
		t.Fatalf("the public key of the exported material is not GetPublicKey's")
	}
}

func TestExportMaterialAcceptAndAudit(t *testing.T) {
	e, log := newExportEnv(t)
	ring := e.ring(t, "r")
	k := e.key(t, ring, "k", CryptoKey{Purpose: alg.EncryptDecrypt, Exportable: true})

	refusal := kmserr.FailedPrecondition("wrong key type")
	var seen alg.Algorithm
	m, v, _, err := e.svc.ExportMaterial(e.ctx, k.Key.Name, ExportOptions{Target: "gcp-csek", Accept: func(a alg.Algorithm) error { seen = a; return refusal }})
	if err != refusal || m != nil || seen != "GOOGLE_SYMMETRIC_ENCRYPTION" {
		t.Fatalf("ExportMaterial with a refusing Accept = %d bytes, %v (saw %q)", len(m), err, seen)
	}
	evs := log.exports()
	if ev := evs[len(evs)-1]; ev.Err != refusal || ev.Resource != v {
		t.Errorf("audit event of a refused export = %+v", ev)
	}

	// Fail closed: no audit entry, no material.
	log.fail = errors.New("audit log down")
	m, _, _, err = e.svc.ExportMaterial(e.ctx, k.Key.Name, ExportOptions{Target: "aws"})
	if err == nil || m != nil {
		t.Fatalf("ExportMaterial with a failing audit log = %d bytes, %v; want an error and nothing", len(m), err)
	}
}
