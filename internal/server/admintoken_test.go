// SPDX-License-Identifier: Apache-2.0

package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
	"google.golang.org/grpc/codes"
)

type failingAuditor struct{ calls int }

func (f *failingAuditor) Record(context.Context, kms.Event) error {
	f.calls++
	return kmserr.Unavailable(errors.New("disk full"), "the call could not be recorded in the audit log")
}

// TestRotateUnrecordedIsUndone: a change of the admin token that cannot be
// recorded is undone, in the store and in memory: the old token stays the
// admin's, also after a restart.
func TestRotateUnrecordedIsUndone(t *testing.T) {
	ctx := context.Background()
	st, ks := sqlitetest.Open(t, 3)
	var out bytes.Buffer
	if _, err := firstAdmin(ctx, st, ks, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	first := lines[len(lines)-1]
	authn := auth.New(first)
	au := &failingAuditor{}
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: au, log: slog.New(slog.DiscardHandler)}
	admin := kms.WithCaller(ctx, &kms.Caller{Principal: auth.AdminPrincipal, Admin: true})
	if _, err := a.rotate(admin); kmserr.Code(err) != codes.Unavailable || au.calls == 0 {
		t.Fatalf("rotate with a failing audit log = %v (%d records), want UNAVAILABLE", err, au.calls)
	}
	if _, err := authn.Authenticate(ctx, auth.Request{Token: first}); err != nil {
		t.Errorf("the old token after an undone change: %v", err)
	}
	h, err := firstAdmin(ctx, st, ks, &out)
	if err != nil || h != sha256.Sum256([]byte(first)) {
		t.Errorf("the stored admin after an undone change is not the old one (%v)", err)
	}
	if _, err := a.rotate(kms.WithCaller(ctx, &kms.Caller{Principal: "app:x", App: "x"})); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("rotate as an app = %v, want PERMISSION_DENIED", err)
	}
}
