// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"testing"

	"github.com/custos-kms/custos/internal/kms"
)

// BenchmarkAuthorizeCacheHit is the authorization of an encrypt by an app
// whose grant is on the key ring, with every policy on the way cached: the
// version and location are skipped, the key's (absent) policy and the
// ring's are read from the cache. Run with -benchmem: it should not
// allocate.
func BenchmarkAuthorizeCacheHit(b *testing.B) {
	e := newEnv(b)
	e.bind(b, ring, encrypter, "app:billing")
	if _, err := e.a.SetGroup(adminCtx, "ops", []string{"other"}); err != nil {
		b.Fatal(err)
	}
	ctx := appCtx("billing")
	res := mustParse(b, keyA+"/cryptoKeyVersions/1")
	if err := e.a.Authorize(ctx, kms.PermUseToEncrypt, res); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.a.Authorize(ctx, kms.PermUseToEncrypt, res); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeWithQuotas adds a quota check (app and project
// buckets) to BenchmarkAuthorizeCacheHit.
func BenchmarkAuthorizeWithQuotas(b *testing.B) {
	e := newEnv(b)
	e.bind(b, project, encrypter, "app:billing")
	q := newQuotas(b, e)
	if err := q.Set(adminCtx, "app:billing", MaxRPM); err != nil {
		b.Fatal(err)
	}
	if err := q.Set(adminCtx, "projects/p", MaxRPM); err != nil {
		b.Fatal(err)
	}
	az := WithQuotas(e.a, q)
	ctx := appCtx("billing")
	res := mustParse(b, keyA+"/cryptoKeyVersions/1")
	if err := az.Authorize(ctx, kms.PermUseToEncrypt, res); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := az.Authorize(ctx, kms.PermUseToEncrypt, res); err != nil {
			b.Fatal(err)
		}
	}
}
