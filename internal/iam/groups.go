// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// Group is a named set of apps. A policy member "group:NAME" grants its role
// to every app of the group. Groups are Custos's stand-in for Google groups;
// only the built-in admin manages them.
type Group struct {
	Name string `json:"name"`
	// Apps are app names (without "app:"), sorted and distinct.
	Apps []string `json:"apps"`
}

// Storage of groups.
const (
	kindGroup   storage.Kind = "iamgroup"
	groupParent              = "iamgroup"
)

func groupRecordName(name string) string { return "iamgroup/" + name }

// groupIndex maps each app to the groups it is in, for Authorize.
type groupIndex struct {
	byApp map[string][]string
	exp   int64 // Unix nanoseconds
}

// groupIndex returns the current index, reading every group from storage
// when the cached one is missing or expired.
func (a *Authorizer) groupIndex(ctx context.Context, now int64) (*groupIndex, error) {
	if gi := a.groups.Load(); gi != nil && now < gi.exp {
		return gi, nil
	}
	a.groupsMu.Lock()
	defer a.groupsMu.Unlock()
	if gi := a.groups.Load(); gi != nil && now < gi.exp {
		return gi, nil // another caller reloaded it while we waited
	}
	groups, err := a.readGroups(ctx)
	if err != nil {
		return nil, err
	}
	gi := &groupIndex{byApp: map[string][]string{}, exp: a.expiry(now)}
	for _, g := range groups {
		for _, app := range g.Apps {
			gi.byApp[app] = append(gi.byApp[app], g.Name)
		}
	}
	if testHookGroupsLoaded != nil {
		testHookGroupsLoaded()
	}
	a.groups.Store(gi)
	return gi, nil
}

// testHookGroupsLoaded, if set, runs after a reload of the group index has
// read storage and before it stores the index (tests only).
var testHookGroupsLoaded func()

// invalidateGroups drops the group index after a group changed.
func (a *Authorizer) invalidateGroups() {
	a.groupsMu.Lock()
	a.groups.Store(nil)
	a.groupsMu.Unlock()
}

// readGroups reads every group.
func (a *Authorizer) readGroups(ctx context.Context) ([]Group, error) {
	var out []Group
	err := eachRecord(ctx, a.rs.store, kindGroup, groupParent, func(r storage.Record) error {
		var g Group
		if err := a.rs.decode(r, kindGroup, &g); err != nil {
			a.log.Error("IAM group failed its integrity check", "record", r.Name, "err", err)
			return kmserr.Internal(err, "cannot read the groups of apps")
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

// requireAdmin lets only the built-in admin through.
func requireAdmin(ctx context.Context, what string) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("the request has no valid credential")
	}
	if !c.Admin {
		return kmserr.PermissionDenied("only the admin may %s", what)
	}
	return nil
}

// SetGroup creates or replaces group name with apps (app names, with or
// without the "app:" prefix). Only the admin may call it. It returns
// INVALID_ARGUMENT for a bad name, and records a "SetGroup" admin event
// whatever the outcome.
// The change applies to authorization at once on this server.
func (a *Authorizer) SetGroup(ctx context.Context, name string, apps []string) (*Group, error) {
	g, err := a.setGroup(ctx, name, apps)
	if err := a.recordChange(ctx, "SetGroup", "groups/"+name, err); err != nil {
		return nil, err
	}
	return g, nil
}

func (a *Authorizer) setGroup(ctx context.Context, name string, apps []string) (*Group, error) {
	if err := requireAdmin(ctx, "manage groups of apps"); err != nil {
		return nil, err
	}
	if !validName(name) {
		return nil, kmserr.InvalidArgument("name", "%q is not a valid group name: 1 to %d letters, digits, '.', '_', '-' or '@'", name, maxNameLen)
	}
	g := &Group{Name: name, Apps: make([]string, 0, len(apps))}
	for _, app := range apps {
		app = strings.TrimPrefix(app, appPrefix)
		if !validName(app) {
			return nil, kmserr.InvalidArgument("apps", "%q is not a valid app name", app)
		}
		g.Apps = append(g.Apps, app)
	}
	sort.Strings(g.Apps)
	g.Apps = slices.Compact(g.Apps)
	if len(g.Apps) > MaxMembers {
		return nil, kmserr.InvalidArgument("apps", "a group holds at most %d apps", MaxMembers)
	}
	rec, err := a.rs.encode(kindGroup, groupRecordName(name), groupParent, g)
	if err != nil {
		return nil, err
	}
	err = a.rs.store.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, rec) })
	a.invalidateGroups() // even on error: dropping the index is always safe
	if err != nil {
		return nil, storeErr(err)
	}
	return g, nil
}

// GetGroup returns group name, or NOT_FOUND. Only the admin may call it.
func (a *Authorizer) GetGroup(ctx context.Context, name string) (*Group, error) {
	if err := requireAdmin(ctx, "read groups of apps"); err != nil {
		return nil, err
	}
	if !validName(name) {
		return nil, kmserr.InvalidArgument("name", "%q is not a valid group name", name)
	}
	rec, err := a.rs.store.Get(ctx, groupRecordName(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, kmserr.NotFound("group %s not found", name)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	g := new(Group)
	if err := a.rs.decode(rec, kindGroup, g); err != nil {
		return nil, err
	}
	return g, nil
}

// ListGroups returns every group, by name. Only the admin may call it.
func (a *Authorizer) ListGroups(ctx context.Context) ([]Group, error) {
	if err := requireAdmin(ctx, "read groups of apps"); err != nil {
		return nil, err
	}
	return a.readGroups(ctx)
}

// DeleteGroup deletes group name, or returns NOT_FOUND. Only the admin may
// call it. Policies that name the group keep the member "group:NAME",
// which grants nothing until a group of that name exists again. It records
// a "DeleteGroup" admin event whatever the outcome.
func (a *Authorizer) DeleteGroup(ctx context.Context, name string) error {
	return a.recordChange(ctx, "DeleteGroup", "groups/"+name, a.deleteGroup(ctx, name))
}

func (a *Authorizer) deleteGroup(ctx context.Context, name string) error {
	if err := requireAdmin(ctx, "manage groups of apps"); err != nil {
		return err
	}
	if !validName(name) {
		return kmserr.InvalidArgument("name", "%q is not a valid group name", name)
	}
	err := a.rs.store.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, groupRecordName(name)); err != nil {
			return err
		}
		return tx.Delete(ctx, groupRecordName(name))
	})
	a.invalidateGroups()
	if errors.Is(err, storage.ErrNotFound) {
		return kmserr.NotFound("group %s not found", name)
	}
	return storeErr(err)
}

// recordChange records an admin event for a change and returns the error
// the call must return: the change's own, or else the auditor's (fail
// closed: nothing happens unrecorded, though the change is already made).
func (a *Authorizer) recordChange(ctx context.Context, method, res string, err error) error {
	return recordEvent(ctx, a.audit, kms.Event{Method: method, Resource: res, Err: err}, err)
}

func recordEvent(ctx context.Context, au kms.Auditor, e kms.Event, err error) error {
	if au == nil {
		return err
	}
	if aerr := au.Record(ctx, e); aerr != nil && err == nil {
		return aerr
	}
	return err
}
