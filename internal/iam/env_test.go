// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// Names used across the tests.
const (
	project = "projects/p"
	loc     = project + "/locations/global"
	ring    = loc + "/keyRings/r"
	keyA    = ring + "/cryptoKeys/a"
	keyB    = ring + "/cryptoKeys/b"
	ring2   = loc + "/keyRings/r2"
	keyC    = ring2 + "/cryptoKeys/c"
	job     = ring + "/importJobs/j"
	other   = "projects/q/locations/global/keyRings/r/cryptoKeys/a"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// auditLog records events; fail makes Record fail.
type auditLog struct {
	mu     sync.Mutex
	events []kms.Event
	fail   bool
}

func (l *auditLog) Record(ctx context.Context, e kms.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return kmserr.Unavailable(errors.New("audit sink down"), "audit log unavailable")
	}
	l.events = append(l.events, e)
	return nil
}

func (l *auditLog) all() []kms.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]kms.Event(nil), l.events...)
}

type env struct {
	a      *Authorizer
	store  storage.Store
	ks     *keystore.Keystore
	clk    *clock
	audit  *auditLog
	exists map[string]bool
	// existsCalls counts calls of Config.Exists.
	existsCalls atomic.Int32
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, ks := sqlitetest.Open(t, 7)
	e := &env{
		store: st, ks: ks, audit: &auditLog{},
		clk:    &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		exists: map[string]bool{ring: true, keyA: true, keyB: true, ring2: true, keyC: true, job: true},
	}
	e.a = e.newAuthorizer(t)
	return e
}

// newAuthorizer returns another Authorizer on the same storage (another
// server).
func (e *env) newAuthorizer(t testing.TB) *Authorizer {
	t.Helper()
	a, err := New(Config{
		Store: e.store, Signer: e.ks, Auditor: e.audit, Now: e.clk.now,
		Exists: func(ctx context.Context, name string) error {
			e.existsCalls.Add(1)
			if e.exists[name] {
				return nil
			}
			return kmserr.NotFound("%s not found", name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var adminCtx = kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})

func appCtx(app string) context.Context {
	return kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:" + app, App: app})
}

// bind adds role for members to the policy of res, as the admin.
func (e *env) bind(t testing.TB, res, role string, members ...string) {
	t.Helper()
	p, err := e.a.GetIamPolicy(adminCtx, res)
	if err != nil {
		t.Fatalf("GetIamPolicy(%s) = %v", res, err)
	}
	p.Bindings = append(p.Bindings, Binding{Role: role, Members: members})
	if _, err := e.a.SetIamPolicy(adminCtx, res, *p, p.Etag); err != nil {
		t.Fatalf("SetIamPolicy(%s) = %v", res, err)
	}
}

func mustParse(t testing.TB, s string) resource.Name {
	t.Helper()
	n, err := resource.Parse(s)
	if err != nil {
		t.Fatalf("resource.Parse(%q) = %v", s, err)
	}
	return n
}

// wantCode fails unless err has code want.
func wantCode(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if got := kmserr.Code(err); got != want {
		t.Errorf("%s = %v, want code %v", what, err, want)
	}
}
