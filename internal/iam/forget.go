// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"slices"
	"strings"

	"github.com/custos-kms/custos/internal/storage"
)

// ForgetApp takes the app named app (without "app:") out of every IAM
// policy and group, inside tx. Deleting an app runs it in the deletion's
// own transaction, so that an app created later under the same name does
// not inherit what the deleted one was granted: in Google Cloud too, a new
// service account does not receive the roles of a deleted one of the same
// email. A binding left without members is dropped; a changed policy gets
// a new etag. It returns the names of the records it changed. Call
// [Authorizer.Forgot] once the transaction has ended, whatever its
// outcome. Quotas are left alone: they limit, they do not grant.
func (a *Authorizer) ForgetApp(ctx context.Context, tx storage.Tx, app string) ([]string, error) {
	member := appPrefix + app
	var changed []string
	err := eachRecord(ctx, tx, kindPolicy, policyParent, func(rec storage.Record) error {
		p := new(Policy)
		if err := a.rs.decode(rec, kindPolicy, p); err != nil {
			return err
		}
		kept := p.Bindings[:0]
		found := false
		for _, b := range p.Bindings {
			n := len(b.Members)
			b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return m == member })
			found = found || len(b.Members) != n
			if len(b.Members) > 0 {
				kept = append(kept, b)
			}
		}
		if !found {
			return nil
		}
		p.Bindings = kept
		p.Etag = etagOf(strings.TrimPrefix(rec.Name, policyRecordName("")), rec.Rev+1, p.Bindings)
		return a.rewrite(ctx, tx, rec, kindPolicy, policyParent, p, &changed)
	})
	if err != nil {
		return nil, err
	}
	err = eachRecord(ctx, tx, kindGroup, groupParent, func(rec storage.Record) error {
		var g Group
		if err := a.rs.decode(rec, kindGroup, &g); err != nil {
			return err
		}
		i, found := slices.BinarySearch(g.Apps, app) // sorted when set
		if !found {
			return nil
		}
		g.Apps = slices.Delete(g.Apps, i, i+1)
		return a.rewrite(ctx, tx, rec, kindGroup, groupParent, &g, &changed)
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// Forgot drops the cached policies and groups after ForgetApp's
// transaction has ended.
func (a *Authorizer) Forgot() {
	a.cache.invalidateAll()
	a.invalidateGroups()
}

// rewrite stores v in place of rec, at rec's revision, and adds its name
// to changed.
func (a *Authorizer) rewrite(ctx context.Context, tx storage.Tx, rec storage.Record, kind storage.Kind, parent string, v any, changed *[]string) error {
	nrec, err := a.rs.encode(kind, rec.Name, parent, v)
	if err != nil {
		return err
	}
	nrec.Rev = rec.Rev
	if err := tx.Put(ctx, nrec); err != nil {
		return storeErr(err)
	}
	*changed = append(*changed, rec.Name)
	return nil
}

// eachRecord calls fn for each record of kind under parent, a page at a
// time.
func eachRecord(ctx context.Context, r storage.Reader, kind storage.Kind, parent string, fn func(storage.Record) error) error {
	after := ""
	for {
		recs, err := r.List(ctx, storage.ListOptions{Kind: kind, Parent: parent, After: after, Limit: 1000})
		if err != nil {
			return storeErr(err)
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(recs) < 1000 {
			return nil
		}
		after = recs[len(recs)-1].Name
	}
}
