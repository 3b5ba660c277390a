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
	"sync"
	"testing"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
	"google.golang.org/grpc/codes"
)

// asAdmin returns the context of a call authenticated with tok.
func asAdmin(t *testing.T, authn *auth.Authenticator, tok string) context.Context {
	t.Helper()
	c, err := authn.Authenticate(context.Background(), auth.Request{Token: tok})
	if err != nil || !c.Admin {
		t.Fatalf("authenticate the admin token: %v", err)
	}
	return kms.WithCaller(context.Background(), c)
}

type okAuditor struct {
	mu     sync.Mutex
	events []kms.Event
}

func (a *okAuditor) Record(_ context.Context, e kms.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

// TestRotateForAClientGoneChangesNothing: a rotation whose client has gone
// away before it started (it waited for another rotation, say, past the
// CLI's time limit) must change nothing: nobody would ever receive the new
// token, and the old one would be refused, a lockout.
func TestRotateForAClientGoneChangesNothing(t *testing.T) {
	ctx, st, ks, first := prodStore(t)
	var out bytes.Buffer
	authn := auth.New(first)
	au := &okAuditor{}
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: au, log: slog.New(slog.DiscardHandler)}
	gone, cancel := context.WithCancel(asAdmin(t, authn, first))
	cancel()
	tok, err := a.rotate(gone, first)
	if err == nil || tok != "" {
		t.Errorf("rotate for a client that has gone = %q, %v; want an error and no change", tok, err)
	}
	if c := kmserr.Code(err); c != codes.Canceled {
		t.Errorf("rotate for a client that has gone: code %v, want CANCELED", c)
	}
	if _, err := authn.Authenticate(ctx, auth.Request{Token: first}); err != nil {
		t.Errorf("the old token after a rotation nobody received: %v", err)
	}
	if h, err := firstAdmin(ctx, st, ks, &out); err != nil || h != sha256.Sum256([]byte(first)) {
		t.Errorf("the stored admin changed for a client that has gone (%v)", err)
	}
	for _, e := range au.events {
		if e.Err == nil {
			t.Errorf("a change that did not happen was recorded: %+v", e)
		}
	}
}

// TestRotateDevTokenFileUnwritable: when the dev token file cannot be
// rewritten, the old file (holding a token refused from now on) does not
// stay for scripts to read; the store keeps the new token for the next
// start.
func TestRotateDevTokenFileUnwritable(t *testing.T) {
	ctx, st, ks, old := devStore(t)
	path := filepath.Join(t.TempDir(), adminTokenFile)
	if err := writeFileAtomic(path, []byte(old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeTokenFile = func(string, []byte, os.FileMode) error { return errors.New("no space left on device") }
	t.Cleanup(func() { writeTokenFile = writeFileAtomic })
	authn := auth.New(old)
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: &okAuditor{}, log: slog.New(slog.DiscardHandler), tokenPath: path}
	tok, err := a.rotate(asAdmin(t, authn, old), old)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err == nil {
		t.Errorf("the dev token file still holds %q, a token refused from now on", b)
	}
	if got, err := devAdminToken(ctx, st, ks); err != nil || got != tok {
		t.Errorf("the stored dev token is not the new one (%v)", err)
	}
}

// TestInitNewAdminTokenCreatesNothing: init --new-admin-token with a
// mistyped root key file or data folder fails without creating a root key
// file, a folder or a store; with the right ones it replaces the token and
// the old one is refused.
func TestInitNewAdminTokenCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data, rootKey := filepath.Join(dir, "data"), filepath.Join(dir, "root-key")
	var out bytes.Buffer
	if err := Init(ctx, InitOptions{DataDir: data, RootKeyFile: rootKey, Out: &out}); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "root-kye")
	if err := Init(ctx, InitOptions{DataDir: data, RootKeyFile: typo, Out: &out, NewAdminToken: true}); err == nil {
		t.Error("init --new-admin-token with a missing root key file succeeded")
	}
	if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("init --new-admin-token created the root key file %s (%v)", typo, err)
	}
	other := filepath.Join(dir, "dtaa")
	if err := Init(ctx, InitOptions{DataDir: other, RootKeyFile: rootKey, Out: &out, NewAdminToken: true}); err == nil {
		t.Error("init --new-admin-token on a missing data folder succeeded")
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("init --new-admin-token created the data folder %s (%v)", other, err)
	}
	out.Reset()
	if err := Init(ctx, InitOptions{DataDir: data, RootKeyFile: rootKey, Out: &out, NewAdminToken: true}); err != nil {
		t.Fatalf("init --new-admin-token: %v", err)
	}
	if !strings.Contains(out.String(), "custos_admin_") {
		t.Errorf("init --new-admin-token printed %q", out.String())
	}
}

// entryGate holds back the next Update before it starts, until released.
type entryGate struct {
	storage.Store
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (g *entryGate) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.entered)
		<-g.release
	}
	return g.Store.Update(ctx, fn)
}

// TestRotateDevTokenDuringBarrierRotation: a dev admin token changed while
// the barrier key rotates is not left sealed under the old barrier key
// (the token was sealed before the rotation, written after the reseal).
func TestRotateDevTokenDuringBarrierRotation(t *testing.T) {
	ctx, st, ks, old := devStore(t)
	au := &okAuditor{}
	gate := &entryGate{Store: st, armed: true, entered: make(chan struct{}), release: make(chan struct{})}
	authn := auth.New(old)
	a := &adminTokens{store: gate, ks: ks, authn: authn, audit: au, log: slog.New(slog.DiscardHandler), tokenPath: filepath.Join(t.TempDir(), adminTokenFile)}
	b := &barrierKeys{store: st, ks: ks, svc: kms.New(kms.Config{Store: st, Keystore: ks, Auditor: au}), audit: au}
	admin := asAdmin(t, authn, old)
	type result struct {
		tok string
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := a.rotate(admin, old)
		done <- result{tok, err}
	}()
	<-gate.entered
	if _, err := b.rotate(admin); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	rec, err := st.Get(ctx, keystore.DevAdminTokenName)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keystore.SealedWith(rec.Data); id != ks.Barrier() {
		t.Errorf("the dev admin token is sealed under barrier key %d, want %d", id, ks.Barrier())
	}
	if got, err := devAdminToken(ctx, st, ks); err != nil || got != r.tok {
		t.Errorf("the stored dev token is not the new one (%v)", err)
	}
}

// hookAuditor runs onRotate when a change of the admin token is recorded,
// and fails that record.
type hookAuditor struct {
	okAuditor
	onRotate func()
}

func (h *hookAuditor) Record(ctx context.Context, e kms.Event) error {
	if e.Method == rotateAdminTokenMethod && h.onRotate != nil {
		f := h.onRotate
		h.onRotate = nil
		f()
		return kmserr.Unavailable(errors.New("disk full"), "the call could not be recorded in the audit log")
	}
	return h.okAuditor.Record(ctx, e)
}

// TestRotateDevTokenUndoneAfterBarrierRotation: a change of the dev admin
// token undone (it could not be recorded) after the barrier key rotated
// puts the old token back sealed under the current barrier key.
func TestRotateDevTokenUndoneAfterBarrierRotation(t *testing.T) {
	ctx, st, ks, old := devStore(t)
	au := &hookAuditor{}
	b := &barrierKeys{store: st, ks: ks, svc: kms.New(kms.Config{Store: st, Keystore: ks, Auditor: au}), audit: au}
	authn := auth.New(old)
	admin := asAdmin(t, authn, old)
	au.onRotate = func() {
		if _, err := b.rotate(admin); err != nil {
			t.Error(err)
		}
	}
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: au, log: slog.New(slog.DiscardHandler), tokenPath: filepath.Join(t.TempDir(), adminTokenFile)}
	if _, err := a.rotate(admin, old); kmserr.Code(err) != codes.Unavailable {
		t.Fatalf("rotate with a failing audit log = %v, want UNAVAILABLE", err)
	}
	rec, err := st.Get(ctx, keystore.DevAdminTokenName)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keystore.SealedWith(rec.Data); id != ks.Barrier() || id != 2 {
		t.Errorf("the dev admin token put back is sealed under barrier key %d, want %d", id, ks.Barrier())
	}
	if got, err := devAdminToken(ctx, st, ks); err != nil || got != old {
		t.Errorf("the stored dev token is not the old one after the undo (%v)", err)
	}
}

// TestRotateByACallOfTheOldToken: a rotation asked with the old token,
// authenticated before another rotation changed it (it waited for the
// lock), is refused: the old token is refused at once, also by the calls
// already under way. Otherwise whoever holds a leaked token and keeps
// asking wins back the admin from the rotation meant to shut them out.
func TestRotateByACallOfTheOldToken(t *testing.T) {
	ctx, st, ks, first := prodStore(t)
	var out bytes.Buffer
	authn := auth.New(first)
	a := &adminTokens{store: st, ks: ks, authn: authn, audit: &okAuditor{}, log: slog.New(slog.DiscardHandler)}
	asFirst := func() context.Context {
		c, err := authn.Authenticate(ctx, auth.Request{Token: first})
		if err != nil {
			t.Fatal(err)
		}
		return kms.WithCaller(ctx, c)
	}
	admin, intruder := asFirst(), asFirst() // both hold the first token
	second, err := a.rotate(admin, first)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.rotate(intruder, first) // authenticated before the change above
	if err == nil {
		t.Errorf("a rotation authenticated with the old token succeeded after the change (got %q)", tok)
	}
	if c := kmserr.Code(err); c != codes.Unauthenticated {
		t.Errorf("a rotation authenticated with the old token: code %v, want UNAUTHENTICATED", c)
	}
	if _, err := authn.Authenticate(ctx, auth.Request{Token: second}); err != nil {
		t.Errorf("the admin's new token after the old one tried to rotate: %v", err)
	}
	if h, err := firstAdmin(ctx, st, ks, &out); err != nil || h != sha256.Sum256([]byte(second)) {
		t.Errorf("the stored admin is not the admin's new token (%v)", err)
	}
}
