// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// The IAM methods, on the model of google.iam.v1.IAMPolicy as Cloud KMS
// serves it (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings/getIamPolicy
// and its siblings on cryptoKeys and importJobs), and of Resource Manager's
// for projects.

// target parses the resource of an IAM call. It accepts projects, key rings,
// crypto keys and import jobs. The EKM names that Cloud KMS's IAM routes
// also take (ekmConfig, ekmConnections) are NOT_FOUND: Custos serves no EKM
// connections. Anything else is INVALID_ARGUMENT.
func target(s string) (resource.Name, error) {
	n, err := resource.Parse(s)
	if err != nil {
		if isEKMName(s) {
			return resource.Name{}, kmserr.NotFound("%s not found: Custos serves no EKM connections", s)
		}
		return resource.Name{}, kmserr.InvalidArgument("resource", "%q is not a resource name", s)
	}
	if _, ok := policyKey(n); !ok {
		return resource.Name{}, kmserr.InvalidArgument("resource", "a %s has no IAM policy: set it on its key, key ring or project", n.Kind)
	}
	return n, nil
}

// isEKMName reports whether s looks like projects/*/locations/*/ekmConfig
// or projects/*/locations/*/ekmConnections/*.
func isEKMName(s string) bool {
	parts := strings.Split(s, "/")
	if len(parts) < 5 || parts[0] != "projects" || parts[2] != "locations" {
		return false
	}
	return len(parts) == 5 && parts[4] == "ekmConfig" || len(parts) == 6 && parts[4] == "ekmConnections"
}

// iamPerms returns the permissions that getIamPolicy and setIamPolicy check
// on a resource of kind k.
func iamPerms(k resource.Kind) (get, set string) {
	switch k {
	case resource.KindProject:
		return PermProjectsGetIamPolicy, PermProjectsSetIamPolicy
	case resource.KindKeyRing:
		return PermKeyRingsGetIamPolicy, PermKeyRingsSetIamPolicy
	case resource.KindCryptoKey:
		return PermCryptoKeysGetIamPolicy, PermCryptoKeysSetIamPolicy
	case resource.KindImportJob:
		return PermImportJobsGetIamPolicy, PermImportJobsSetIamPolicy
	}
	// Unreachable: target accepts only the kinds above.
	panic("iam: internal error: no IAM permissions for a " + k.String())
}

// checkExists returns nil if n exists (projects always do).
func (a *Authorizer) checkExists(ctx context.Context, n resource.Name) error {
	if n.Kind == resource.KindProject {
		return nil
	}
	return a.exists(ctx, n.String())
}

// GetIamPolicy returns the policy of a project, key ring, crypto key or
// import job: an empty one (version 1, no bindings, with an etag) if none
// was set. It authorizes first (cloudkms.keyRings.getIamPolicy and its
// siblings, resourcemanager.projects.getIamPolicy for a project), then
// returns NOT_FOUND for a missing resource.
func (a *Authorizer) GetIamPolicy(ctx context.Context, res string) (*Policy, error) {
	n, err := target(res)
	if err != nil {
		return nil, err
	}
	get, _ := iamPerms(n.Kind)
	if err := a.Authorize(ctx, get, n); err != nil {
		return nil, err
	}
	if err := a.checkExists(ctx, n); err != nil {
		return nil, err
	}
	p, _, _, err := a.rs.readPolicy(ctx, a.rs.store, n.String())
	return p, err
}

// SetIamPolicy replaces the policy of a project, key ring, crypto key or
// import job with p's bindings (p.Etag is ignored) and returns the new
// policy with its new etag.
//
// It authorizes first (the setIamPolicy permission of the resource's kind),
// then validates: known roles only, members "app:NAME" or "group:NAME", at
// most [MaxMembers] members, version 0, 1 or 3 (all INVALID_ARGUMENT),
// then returns NOT_FOUND for a missing resource. If etag is not empty and
// is not the current policy's etag, nothing changes and it returns ABORTED;
// an empty etag overwrites whatever policy is there, as in Google Cloud.
// Every outcome after the resource is parsed is recorded as a
// "SetIamPolicy" admin event.
func (a *Authorizer) SetIamPolicy(ctx context.Context, res string, p Policy, etag string) (*Policy, error) {
	n, err := target(res)
	if err != nil {
		return nil, err
	}
	name := n.String()
	out, err := a.setIamPolicy(ctx, n, name, p, etag)
	e := kms.Event{Method: "SetIamPolicy", Resource: name, Err: err}
	if err == nil {
		b, _ := json.Marshal(out.Bindings) // strings only: cannot fail
		e.Details = map[string]string{"bindings": string(b), "etag": out.Etag}
	}
	if err := recordEvent(ctx, a.audit, e, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (a *Authorizer) setIamPolicy(ctx context.Context, n resource.Name, name string, p Policy, etag string) (*Policy, error) {
	_, set := iamPerms(n.Kind)
	if err := a.Authorize(ctx, set, n); err != nil {
		return nil, err
	}
	np, err := normalize(p)
	if err != nil {
		return nil, err
	}
	if err := a.checkExists(ctx, n); err != nil {
		return nil, err
	}
	key, _ := policyKey(n)
	err = a.rs.store.Update(ctx, func(tx storage.Tx) error {
		cur, rec, found, err := a.rs.readPolicy(ctx, tx, name)
		if err != nil {
			return err
		}
		if etag != "" && etag != cur.Etag {
			return errConcurrent()
		}
		np.Etag = etagOf(name, rec.Rev+1, np.Bindings)
		nrec, err := a.rs.encode(kindPolicy, policyRecordName(name), policyParent, &np)
		if err != nil {
			return err
		}
		if !found {
			return tx.Create(ctx, nrec)
		}
		nrec.Rev = rec.Rev
		return tx.Put(ctx, nrec)
	})
	// Invalidate even on error: a failed commit may have left nothing, and
	// dropping a cache entry is always safe.
	a.cache.invalidate(key)
	if err != nil {
		return nil, storeErr(err)
	}
	return &np, nil
}

// TestIamPermissions returns the permissions of perms that the caller holds
// on a project, key ring, crypto key or import job, in the order asked,
// without duplicates. It needs no permission itself, only a caller
// (UNAUTHENTICATED otherwise). The built-in admin holds every permission
// Custos knows ([KnownPermission]); an unknown one is held by nobody.
// Wildcards are INVALID_ARGUMENT. On a missing resource (or an EKM name) it
// returns an empty list and no error.
func (a *Authorizer) TestIamPermissions(ctx context.Context, res string, perms []string) ([]string, error) {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return nil, kmserr.Unauthenticated("the request has no valid credential")
	}
	for _, p := range perms {
		if strings.Contains(p, "*") {
			return nil, kmserr.InvalidArgument("permissions", "permissions with wildcards (such as %q) are not allowed", p)
		}
	}
	n, err := target(res)
	if kmserr.Code(err) == codes.NotFound {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := a.checkExists(ctx, n); err != nil {
		var ke *kmserr.Error
		if errors.As(err, &ke) && ke.Code == codes.NotFound {
			return []string{}, nil
		}
		return nil, err
	}
	out := []string{}
	seen := map[string]bool{}
	for _, p := range perms {
		if seen[p] {
			continue
		}
		seen[p] = true
		ok := c.Admin && KnownPermission(p)
		if !c.Admin {
			if ok, err = a.holds(ctx, c.App, p, n); err != nil {
				return nil, err
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}
