// SPDX-License-Identifier: Apache-2.0

package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage/sqlite"
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
	ctx, st, ks, first := prodStore(t)
	var out bytes.Buffer
	authn := auth.New(first)
	au := &failingAuditor{}
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: au, log: slog.New(slog.DiscardHandler)}
	admin := kms.WithCaller(ctx, &kms.Caller{Principal: auth.AdminPrincipal, Admin: true})
	if _, err := a.rotate(admin, first); kmserr.Code(err) != codes.Unavailable || au.calls == 0 {
		t.Fatalf("rotate with a failing audit log = %v (%d records), want UNAVAILABLE", err, au.calls)
	}
	if _, err := authn.Authenticate(ctx, auth.Request{Token: first}); err != nil {
		t.Errorf("the old token after an undone change: %v", err)
	}
	h, err := firstAdmin(ctx, st, ks, &out)
	if err != nil || h != sha256.Sum256([]byte(first)) {
		t.Errorf("the stored admin after an undone change is not the old one (%v)", err)
	}
	if _, err := a.rotate(kms.WithCaller(ctx, &kms.Caller{Principal: "app:x", App: "x"}), "custos_api_x"); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("rotate as an app = %v, want PERMISSION_DENIED", err)
	}
}

// TestDevTokenFileFollowsRotationsAndStop: the file the start publishes
// holds the token in force, even one a rotation made before it; once the
// server stops, a rotation still under way neither changes the token nor
// writes the file back.
func TestDevTokenFileFollowsRotationsAndStop(t *testing.T) {
	_, st, ks, old := devStore(t)
	path := filepath.Join(t.TempDir(), adminTokenFile)
	authn := auth.New(old)
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: &okAuditor{}, log: slog.New(slog.DiscardHandler), tokenPath: path, devToken: old}
	tok, err := a.rotate(asAdmin(t, authn, old), old)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.publish(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != tok+"\n" {
		t.Fatalf("the published file holds %q (%v), want the token in force", b, err)
	}
	a.close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file after close: %v, want it gone", err)
	}
	if _, err := a.rotate(asAdmin(t, authn, tok), tok); kmserr.Code(err) != codes.Unavailable {
		t.Errorf("rotate after close = %v, want UNAVAILABLE", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || !authn.IsAdminToken(tok) {
		t.Errorf("a rotation after close wrote the file (%v) or changed the token", err)
	}
}

// devStore returns a new store with a dev server's admin token, and the
// token.
func devStore(t *testing.T) (context.Context, *sqlite.Store, *keystore.Keystore, string) {
	t.Helper()
	ctx := context.Background()
	st, ks := sqlitetest.Open(t, 3)
	old, err := devAdminToken(ctx, st, ks)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, st, ks, old
}

// prodStore returns a new store with a production server's first admin,
// and its token.
func prodStore(t *testing.T) (context.Context, *sqlite.Store, *keystore.Keystore, string) {
	t.Helper()
	ctx := context.Background()
	st, ks := sqlitetest.Open(t, 3)
	var out bytes.Buffer
	if _, err := firstAdmin(ctx, st, ks, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return ctx, st, ks, lines[len(lines)-1]
}
