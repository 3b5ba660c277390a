// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
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
