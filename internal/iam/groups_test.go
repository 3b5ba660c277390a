// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
)

func TestGroups(t *testing.T) {
	e := newEnv(t)
	g, err := e.a.SetGroup(adminCtx, "ops", []string{"b", "a", "app:b"})
	if err != nil {
		t.Fatalf("SetGroup = %v", err)
	}
	want := &Group{Name: "ops", Apps: []string{"a", "b"}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("SetGroup (-want +got):\n%s", diff)
	}
	if _, err := e.a.SetGroup(adminCtx, "dev", nil); err != nil {
		t.Fatalf("SetGroup(empty) = %v", err)
	}
	got, err := e.a.GetGroup(adminCtx, "ops")
	if err != nil || !cmp.Equal(want, got) {
		t.Errorf("GetGroup = %+v, %v; want %+v", got, err, want)
	}
	all, err := e.a.ListGroups(adminCtx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Group{{Name: "dev", Apps: []string{}}, *want}, all); diff != "" {
		t.Errorf("ListGroups (-want +got):\n%s", diff)
	}
	if err := e.a.DeleteGroup(adminCtx, "ops"); err != nil {
		t.Errorf("DeleteGroup = %v", err)
	}
	_, err = e.a.GetGroup(adminCtx, "ops")
	wantCode(t, "GetGroup after delete", err, codes.NotFound)
	wantCode(t, "DeleteGroup twice", e.a.DeleteGroup(adminCtx, "ops"), codes.NotFound)

	_, err = e.a.SetGroup(adminCtx, "bad name", nil)
	wantCode(t, "SetGroup(bad name)", err, codes.InvalidArgument)
	_, err = e.a.SetGroup(adminCtx, "ok", []string{"group:x"})
	wantCode(t, "SetGroup(group member)", err, codes.InvalidArgument)

	_, err = e.a.SetGroup(appCtx("a"), "ops", []string{"a"})
	wantCode(t, "SetGroup as an app", err, codes.PermissionDenied)
	_, err = e.a.ListGroups(appCtx("a"))
	wantCode(t, "ListGroups as an app", err, codes.PermissionDenied)
	_, err = e.a.GetGroup(context.Background(), "dev")
	wantCode(t, "GetGroup without caller", err, codes.Unauthenticated)
	wantCode(t, "DeleteGroup as an app", e.a.DeleteGroup(appCtx("a"), "dev"), codes.PermissionDenied)

	var methods []string
	for _, ev := range e.audit.all() {
		methods = append(methods, ev.Method)
	}
	if diff := cmp.Diff([]string{"SetGroup", "SetGroup", "DeleteGroup", "DeleteGroup", "SetGroup", "SetGroup", "SetGroup", "DeleteGroup"}, methods); diff != "" {
		t.Errorf("audited methods (-want +got):\n%s", diff)
	}
}

// TestGroupChangeDuringReload: a group change that commits while another
// request is reloading the group index is not undone by that reload: once
// SetGroup has returned, the app it removed is refused.
func TestGroupChangeDuringReload(t *testing.T) {
	e := newEnv(t)
	if _, err := e.a.SetGroup(adminCtx, "payments", []string{"billing"}); err != nil {
		t.Fatal(err)
	}
	e.bind(t, ring, encrypter, "group:payments")
	res := mustParse(t, keyA)

	// The next reload reads the group with billing in it; while it holds
	// what it read, the admin removes billing from the group.
	done := make(chan error, 1)
	var once sync.Once
	testHookGroupsLoaded = func() {
		once.Do(func() {
			go func() {
				_, err := e.a.SetGroup(adminCtx, "payments", nil)
				done <- err
			}()
			// Let the change finish if it can; a correct reload makes it
			// wait for the reload instead.
			select {
			case err := <-done:
				done <- err
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
	t.Cleanup(func() { testHookGroupsLoaded = nil })

	// Concurrent with the change: either answer is right.
	_ = e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, res)
	if err := <-done; err != nil {
		t.Fatalf("SetGroup = %v", err)
	}
	testHookGroupsLoaded = nil
	wantCode(t, "Authorize after SetGroup removed the app", e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, res), codes.PermissionDenied)
}
