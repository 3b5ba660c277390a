// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Shorter names for the enums the tables use.
type (
	purpose   = kmspb.CryptoKey_CryptoKeyPurpose
	algorithm = kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
	state     = kmspb.CryptoKeyVersion_CryptoKeyVersionState
)

const (
	encryptDecrypt    = kmspb.CryptoKey_ENCRYPT_DECRYPT
	rawEncryptDecrypt = kmspb.CryptoKey_RAW_ENCRYPT_DECRYPT
	asymmetricSign    = kmspb.CryptoKey_ASYMMETRIC_SIGN
	asymmetricDecrypt = kmspb.CryptoKey_ASYMMETRIC_DECRYPT
	macPurpose        = kmspb.CryptoKey_MAC

	enabled          = kmspb.CryptoKeyVersion_ENABLED
	disabled         = kmspb.CryptoKeyVersion_DISABLED
	destroyScheduled = kmspb.CryptoKeyVersion_DESTROY_SCHEDULED
	destroyed        = kmspb.CryptoKeyVersion_DESTROYED
)

// keySpec is one kind of key the API tests create and use.
type keySpec struct {
	id      string // crypto key id
	purpose purpose
	alg     algorithm // 0: no version template, the purpose's default
	want    algorithm // the algorithm the key must get
}

// keySpecs covers every purpose and the common algorithms. Both clients
// create all of them; the slow RSA sizes are in slowKeySpecs, made once.
var keySpecs = []keySpec{
	{"symmetric_default", encryptDecrypt, 0, kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION},
	{"aes_128_gcm", rawEncryptDecrypt, kmspb.CryptoKeyVersion_AES_128_GCM, kmspb.CryptoKeyVersion_AES_128_GCM},
	{"aes_256_gcm", rawEncryptDecrypt, kmspb.CryptoKeyVersion_AES_256_GCM, kmspb.CryptoKeyVersion_AES_256_GCM},
	{"ec_p256", asymmetricSign, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256},
	{"ec_p384", asymmetricSign, kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384, kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384},
	{"ed25519", asymmetricSign, kmspb.CryptoKeyVersion_EC_SIGN_ED25519, kmspb.CryptoKeyVersion_EC_SIGN_ED25519},
	{"rsa_pss_2048", asymmetricSign, kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256, kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256},
	{"rsa_pkcs1_2048", asymmetricSign, kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256, kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256},
	{"rsa_oaep_2048_sha256", asymmetricDecrypt, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA256, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA256},
	{"rsa_oaep_2048_sha1", asymmetricDecrypt, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA1, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_2048_SHA1},
	{"hmac_sha256", macPurpose, kmspb.CryptoKeyVersion_HMAC_SHA256, kmspb.CryptoKeyVersion_HMAC_SHA256},
}

// slowKeySpecs are generated once (by the gRPC client): RSA-3072 and 4096
// key generation takes seconds on a small machine.
var slowKeySpecs = []keySpec{
	{"rsa_pss_3072", asymmetricSign, kmspb.CryptoKeyVersion_RSA_SIGN_PSS_3072_SHA256, kmspb.CryptoKeyVersion_RSA_SIGN_PSS_3072_SHA256},
	{"rsa_oaep_4096", asymmetricDecrypt, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_4096_SHA256, kmspb.CryptoKeyVersion_RSA_DECRYPT_OAEP_4096_SHA256},
}

// apiEnv is what the API subtests of one client share.
type apiEnv struct {
	c       *kms.KeyManagementClient
	client  string // "grpc" or "rest"
	project string // "projects/api-grpc"
	loc     string // project + "/locations/global"
	ring    string // the key ring of the keys below
	keys    map[string]*kmspb.CryptoKey
}

// key returns the key of keySpecs (or slowKeySpecs) with this id, made by
// the CreateCryptoKey subtests, or makes it now when -run left them out.
// An id ending in "_empty" is the key created without a version, which has
// one version since.
func (e *apiEnv) key(t *testing.T, id string) *kmspb.CryptoKey {
	t.Helper()
	if k, ok := e.keys[id]; ok {
		return k
	}
	base, empty := strings.CutSuffix(id, "_empty")
	all := append(slices.Clone(keySpecs), slowKeySpecs...)
	i := slices.IndexFunc(all, func(ks keySpec) bool { return ks.id == base })
	if i < 0 {
		t.Fatalf("no key spec %q", id)
	}
	ks := all[i]
	ctx := testContext(t)
	ck := &kmspb.CryptoKey{Purpose: ks.purpose}
	if ks.alg != 0 {
		ck.VersionTemplate = &kmspb.CryptoKeyVersionTemplate{Algorithm: ks.alg}
	}
	k := e.createKey(t, ctx, id, ck, empty)
	if empty {
		if _, err := e.c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: k.GetName()}); err != nil {
			t.Fatalf("CreateCryptoKeyVersion(%s) = %v", k.GetName(), err)
		}
	}
	e.keys[id] = k
	return k
}

// createKey creates a crypto key in e.ring and fails the test if it cannot.
func (e *apiEnv) createKey(t *testing.T, ctx context.Context, id string, ck *kmspb.CryptoKey, skip bool) *kmspb.CryptoKey {
	t.Helper()
	got, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
		Parent: e.ring, CryptoKeyId: id, CryptoKey: ck, SkipInitialVersionCreation: skip,
	})
	if err != nil {
		t.Fatalf("CreateCryptoKey(%s/cryptoKeys/%s) = %v, want success", e.ring, id, err)
	}
	return got
}

func symmetricKey() *kmspb.CryptoKey { return &kmspb.CryptoKey{Purpose: encryptDecrypt} }

func versionName(key string, n int) string { return fmt.Sprintf("%s/cryptoKeyVersions/%d", key, n) }

// versionNumber is the number at the end of a version name, 0 if none.
func versionNumber(name string) int {
	_, id, _ := strings.Cut(name, "/cryptoKeyVersions/")
	n, _ := strconv.Atoi(id)
	return n
}

func fieldMask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestAPI runs the Cloud KMS scenarios through both official clients
// against one server, each client on its own project and key rings.
func TestAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	clients := s.clients(t)
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			project := "projects/api-" + cl.name
			e := &apiEnv{c: cl.kms, client: cl.name, project: project, loc: project + "/locations/global", keys: map[string]*kmspb.CryptoKey{}}
			t.Run("KeyRings", e.testKeyRings)
			ring, err := e.c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: e.loc, KeyRingId: "keys-" + cl.name})
			if err != nil {
				t.Fatalf("CreateKeyRing(keys-%s) = %v", cl.name, err)
			}
			e.ring = ring.GetName()
			specs := keySpecs
			if cl.name == "grpc" {
				specs = append(slices.Clone(keySpecs), slowKeySpecs...)
			}
			t.Run("CreateCryptoKey", func(t *testing.T) { e.testCreateCryptoKeys(t, specs) })
			t.Run("GetCryptoKey", e.testGetCryptoKey)
			t.Run("ListCryptoKeys", func(t *testing.T) { e.testListCryptoKeys(t, specs) })
			t.Run("UpdateCryptoKey", e.testUpdateCryptoKey)
			t.Run("Versions", e.testVersions)
			t.Run("UpdateCryptoKeyPrimaryVersion", e.testPrimaryVersion)
			t.Run("GetPublicKey", func(t *testing.T) { e.testGetPublicKey(t, specs) })
			t.Run("GenerateRandomBytes", e.testGenerateRandomBytes)
			t.Run("EncryptDecrypt", e.testEncryptDecrypt)
			t.Run("DisabledVersion", e.testDisabledVersion)
			t.Run("RawEncryptDecrypt", e.testRawEncryptDecrypt)
			t.Run("AsymmetricSign", func(t *testing.T) { e.testAsymmetricSign(t, specs) })
			t.Run("AsymmetricDecrypt", func(t *testing.T) { e.testAsymmetricDecrypt(t, specs) })
			t.Run("Mac", e.testMac)
			t.Run("Errors", e.testErrors)
		})
	}
}

func (e *apiEnv) testKeyRings(t *testing.T) {
	ctx := testContext(t)
	// Its own location, so that the listing sees exactly these rings.
	loc := e.project + "/locations/us-east1"
	ids := []string{"ring-" + e.client + "-a", "ring-" + e.client + "-b", "ring-" + e.client + "-c"}
	var want []string
	for _, id := range ids {
		before := time.Now().Add(-time.Minute)
		r, err := e.c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: loc, KeyRingId: id})
		if err != nil {
			t.Fatalf("CreateKeyRing(%s, %s) = %v, want success", loc, id, err)
		}
		name := loc + "/keyRings/" + id
		want = append(want, name)
		if r.GetName() != name {
			t.Errorf("CreateKeyRing(%s).Name = %q, want %q", id, r.GetName(), name)
		}
		if ct := r.GetCreateTime().AsTime(); ct.Before(before) || ct.After(time.Now().Add(time.Minute)) {
			t.Errorf("CreateKeyRing(%s).CreateTime = %v, want about now", id, ct)
		}
		got, err := e.c.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: name})
		if err != nil {
			t.Fatalf("GetKeyRing(%s) = %v, want success", name, err)
		}
		if got.GetName() != name || !got.GetCreateTime().AsTime().Equal(r.GetCreateTime().AsTime()) {
			t.Errorf("GetKeyRing(%s) = %v, want %v", name, got, r)
		}
	}

	t.Run("iterator with page size 1 returns every ring", func(t *testing.T) {
		it := e.c.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: loc, PageSize: 1})
		var got []string
		for {
			r, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatalf("ListKeyRings(%s).Next() = %v", loc, err)
			}
			got = append(got, r.GetName())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListKeyRings(%s) names (-want +got):\n%s", loc, diff)
		}
	})

	t.Run("pages of one ring each", func(t *testing.T) {
		it := e.c.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: loc})
		pager := iterator.NewPager(it, 1, "")
		var pages [][]string
		for range 10 {
			var rings []*kmspb.KeyRing
			next, err := pager.NextPage(&rings)
			if err != nil {
				t.Fatalf("ListKeyRings(%s) page %d = %v", loc, len(pages)+1, err)
			}
			var names []string
			for _, r := range rings {
				names = append(names, r.GetName())
			}
			pages = append(pages, names)
			if next == "" {
				break
			}
		}
		wantPages := [][]string{{want[0]}, {want[1]}, {want[2]}}
		if diff := cmp.Diff(wantPages, pages); diff != "" {
			t.Errorf("ListKeyRings(%s, page size 1) pages (-want +got):\n%s", loc, diff)
		}
	})

	// Cloud KMS also fills total_size on a partial page; Custos fills it
	// when it read every match, so this asks for everything in one page.
	t.Run("total size counts every ring", func(t *testing.T) {
		it := e.c.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: loc})
		if _, err := it.Next(); err != nil {
			t.Fatalf("ListKeyRings(%s).Next() = %v", loc, err)
		}
		resp, ok := it.Response.(*kmspb.ListKeyRingsResponse)
		if !ok {
			t.Fatalf("ListKeyRings response is %T", it.Response)
		}
		if resp.GetTotalSize() != 3 {
			t.Errorf("ListKeyRings(%s).TotalSize = %d, want 3", loc, resp.GetTotalSize())
		}
	})

	t.Run("duplicate ring is AlreadyExists", func(t *testing.T) {
		_, err := e.c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: loc, KeyRingId: ids[0]})
		wantCode(t, "CreateKeyRing(duplicate "+ids[0]+")", err, codes.AlreadyExists)
	})
}

func (e *apiEnv) testCreateCryptoKeys(t *testing.T, specs []keySpec) {
	for _, ks := range specs {
		for _, skip := range []bool{false, true} {
			name := fmt.Sprintf("%s %s", ks.purpose, ks.want)
			id := ks.id
			if skip {
				name += " without initial version"
				id += "_empty"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testContext(t)
				ck := &kmspb.CryptoKey{Purpose: ks.purpose}
				if ks.alg != 0 {
					ck.VersionTemplate = &kmspb.CryptoKeyVersionTemplate{Algorithm: ks.alg}
				}
				got := e.createKey(t, ctx, id, ck, skip)
				keyName := e.ring + "/cryptoKeys/" + id
				if got.GetName() != keyName {
					t.Errorf("CreateCryptoKey(%s).Name = %q, want %q", id, got.GetName(), keyName)
				}
				if got.GetPurpose() != ks.purpose {
					t.Errorf("CreateCryptoKey(%s).Purpose = %v, want %v", id, got.GetPurpose(), ks.purpose)
				}
				if a := got.GetVersionTemplate().GetAlgorithm(); a != ks.want {
					t.Errorf("CreateCryptoKey(%s).VersionTemplate.Algorithm = %v, want %v", id, a, ks.want)
				}
				if pl := got.GetVersionTemplate().GetProtectionLevel(); pl != kmspb.ProtectionLevel_SOFTWARE {
					t.Errorf("CreateCryptoKey(%s).VersionTemplate.ProtectionLevel = %v, want SOFTWARE", id, pl)
				}
				wantPrimary := ks.purpose == encryptDecrypt && !skip
				if (got.GetPrimary() != nil) != wantPrimary {
					t.Errorf("CreateCryptoKey(%s).Primary = %v, want present: %v", id, got.GetPrimary(), wantPrimary)
				}
				if wantPrimary && got.GetPrimary().GetName() != versionName(keyName, 1) {
					t.Errorf("CreateCryptoKey(%s).Primary.Name = %q, want %q", id, got.GetPrimary().GetName(), versionName(keyName, 1))
				}
				var versions []string
				it := e.c.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: keyName})
				for {
					v, err := it.Next()
					if err == iterator.Done {
						break
					}
					if err != nil {
						t.Fatalf("ListCryptoKeyVersions(%s) = %v", keyName, err)
					}
					versions = append(versions, v.GetName())
					if v.GetState() != enabled || v.GetAlgorithm() != ks.want {
						t.Errorf("version %s: state %v algorithm %v, want ENABLED %v", v.GetName(), v.GetState(), v.GetAlgorithm(), ks.want)
					}
				}
				var wantVersions []string
				if !skip {
					wantVersions = []string{versionName(keyName, 1)}
				}
				if diff := cmp.Diff(wantVersions, versions); diff != "" {
					t.Errorf("ListCryptoKeyVersions(%s) (-want +got):\n%s", keyName, diff)
				}
				e.keys[id] = got
				if !skip {
					return
				}
				// A key created without a version gets one on request.
				v, err := e.c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: keyName})
				if err != nil {
					t.Fatalf("CreateCryptoKeyVersion(%s) = %v, want success", keyName, err)
				}
				if v.GetName() != versionName(keyName, 1) || v.GetState() != enabled || v.GetAlgorithm() != ks.want {
					t.Errorf("CreateCryptoKeyVersion(%s) = %v, want version 1 ENABLED %v", keyName, v, ks.want)
				}
			})
		}
	}
}

func (e *apiEnv) testGetCryptoKey(t *testing.T) {
	ctx := testContext(t)
	for _, id := range []string{"symmetric_default", "ec_p256", "hmac_sha256"} {
		t.Run(id, func(t *testing.T) {
			want := e.key(t, id)
			got, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: want.GetName()})
			if err != nil {
				t.Fatalf("GetCryptoKey(%s) = %v, want success", want.GetName(), err)
			}
			if got.GetName() != want.GetName() || got.GetPurpose() != want.GetPurpose() ||
				got.GetVersionTemplate().GetAlgorithm() != want.GetVersionTemplate().GetAlgorithm() ||
				!got.GetCreateTime().AsTime().Equal(want.GetCreateTime().AsTime()) {
				t.Errorf("GetCryptoKey(%s) = %v, want %v", want.GetName(), got, want)
			}
			if want.GetPurpose() == encryptDecrypt {
				p := got.GetPrimary()
				if p.GetName() != versionName(want.GetName(), 1) || p.GetState() != enabled ||
					p.GetAlgorithm() != kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION {
					t.Errorf("GetCryptoKey(%s).Primary = %v, want version 1, ENABLED, GOOGLE_SYMMETRIC_ENCRYPTION", want.GetName(), p)
				}
			} else if got.GetPrimary() != nil {
				t.Errorf("GetCryptoKey(%s).Primary = %v, want none for purpose %v", want.GetName(), got.GetPrimary(), want.GetPurpose())
			}
			if d := got.GetDestroyScheduledDuration(); d == nil || d.AsDuration() <= 0 {
				t.Errorf("GetCryptoKey(%s).DestroyScheduledDuration = %v, want a positive duration", want.GetName(), d)
			}
		})
	}
}

func (e *apiEnv) testListCryptoKeys(t *testing.T, specs []keySpec) {
	ctx := testContext(t)
	var want []string
	for _, ks := range specs {
		want = append(want, e.ring+"/cryptoKeys/"+ks.id, e.ring+"/cryptoKeys/"+ks.id+"_empty")
	}
	slices.Sort(want)
	it := e.c.ListCryptoKeys(ctx, &kmspb.ListCryptoKeysRequest{Parent: e.ring, PageSize: 5})
	var got []string
	for {
		k, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListCryptoKeys(%s) = %v", e.ring, err)
		}
		got = append(got, k.GetName())
		if id := strings.TrimPrefix(k.GetName(), e.ring+"/cryptoKeys/"); id == "symmetric_default" && k.GetPrimary().GetState() != enabled {
			t.Errorf("ListCryptoKeys: %s has primary %v, want an ENABLED primary", k.GetName(), k.GetPrimary())
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListCryptoKeys(%s) names (-want +got):\n%s", e.ring, diff)
	}

	t.Run("filter purpose=ASYMMETRIC_SIGN", func(t *testing.T) {
		var wantSign []string
		for _, ks := range specs {
			if ks.purpose == asymmetricSign {
				wantSign = append(wantSign, e.ring+"/cryptoKeys/"+ks.id, e.ring+"/cryptoKeys/"+ks.id+"_empty")
			}
		}
		slices.Sort(wantSign)
		got := listKeys(t, ctx, e.c, &kmspb.ListCryptoKeysRequest{Parent: e.ring, Filter: "purpose=ASYMMETRIC_SIGN"})
		slices.Sort(got)
		if diff := cmp.Diff(wantSign, got); diff != "" {
			t.Errorf("ListCryptoKeys(%s, purpose=ASYMMETRIC_SIGN) (-want +got):\n%s", e.ring, diff)
		}
	})

	t.Run("order by name desc", func(t *testing.T) {
		got := listKeys(t, ctx, e.c, &kmspb.ListCryptoKeysRequest{Parent: e.ring, OrderBy: "name desc"})
		wantDesc := slices.Clone(want)
		slices.Reverse(wantDesc)
		// Keys made by later subtests may be listed too; compare these.
		got = slices.DeleteFunc(got, func(n string) bool { return !slices.Contains(want, n) })
		if diff := cmp.Diff(wantDesc, got); diff != "" {
			t.Errorf("ListCryptoKeys(%s, name desc) (-want +got):\n%s", e.ring, diff)
		}
	})

	bad := []struct {
		name string
		req  *kmspb.ListCryptoKeysRequest
	}{
		{"filter on an unknown field", &kmspb.ListCryptoKeysRequest{Parent: e.ring, Filter: "no_such_field=1"}},
		{"order by an unknown field", &kmspb.ListCryptoKeysRequest{Parent: e.ring, OrderBy: "no_such_field"}},
		{"page token that no list call made", &kmspb.ListCryptoKeysRequest{Parent: e.ring, PageToken: "bm90IGEgdG9rZW4"}},
	}
	for _, tc := range bad {
		t.Run(tc.name+" is InvalidArgument", func(t *testing.T) {
			_, err := e.c.ListCryptoKeys(ctx, tc.req).Next()
			wantCode(t, fmt.Sprintf("ListCryptoKeys(%v)", tc.req), emptyListIsNoError(err), codes.InvalidArgument)
		})
	}
}

// listKeys returns the names of the keys that req lists, page by page.
func listKeys(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, req *kmspb.ListCryptoKeysRequest) []string {
	t.Helper()
	it := c.ListCryptoKeys(ctx, req)
	var names []string
	for {
		k, err := it.Next()
		if err == iterator.Done {
			return names
		}
		if err != nil {
			t.Fatalf("ListCryptoKeys(%v) = %v", req, err)
		}
		names = append(names, k.GetName())
	}
}

func (e *apiEnv) testUpdateCryptoKey(t *testing.T) {
	ctx := testContext(t)
	sym := e.createKey(t, ctx, "update_me", symmetricKey(), false)
	next := time.Now().Add(36 * time.Hour).Truncate(time.Second)

	t.Run("labels", func(t *testing.T) {
		labels := map[string]string{"env": "test", "team": "e2e"}
		got, err := e.c.UpdateCryptoKey(ctx, &kmspb.UpdateCryptoKeyRequest{
			CryptoKey:  &kmspb.CryptoKey{Name: sym.GetName(), Labels: labels},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
		})
		if err != nil {
			t.Fatalf("UpdateCryptoKey(labels) = %v, want success", err)
		}
		if diff := cmp.Diff(labels, got.GetLabels()); diff != "" {
			t.Errorf("UpdateCryptoKey(labels).Labels (-want +got):\n%s", diff)
		}
		again, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: sym.GetName()})
		if err != nil {
			t.Fatalf("GetCryptoKey(%s) = %v", sym.GetName(), err)
		}
		if diff := cmp.Diff(labels, again.GetLabels()); diff != "" {
			t.Errorf("GetCryptoKey after UpdateCryptoKey(labels).Labels (-want +got):\n%s", diff)
		}
		got2 := listKeys(t, ctx, e.c, &kmspb.ListCryptoKeysRequest{Parent: e.ring, Filter: "labels.env=test"})
		if diff := cmp.Diff([]string{sym.GetName()}, got2); diff != "" {
			t.Errorf("ListCryptoKeys(labels.env=test) (-want +got):\n%s", diff)
		}
	})

	t.Run("rotation_period and next_rotation_time", func(t *testing.T) {
		got, err := e.c.UpdateCryptoKey(ctx, &kmspb.UpdateCryptoKeyRequest{
			CryptoKey: &kmspb.CryptoKey{
				Name:             sym.GetName(),
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(48 * time.Hour)},
				NextRotationTime: timestamppb.New(next),
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rotation_period", "next_rotation_time"}},
		})
		if err != nil {
			t.Fatalf("UpdateCryptoKey(rotation) = %v, want success", err)
		}
		if p := got.GetRotationPeriod().AsDuration(); p != 48*time.Hour {
			t.Errorf("UpdateCryptoKey(rotation).RotationPeriod = %v, want 48h", p)
		}
		if n := got.GetNextRotationTime().AsTime(); !n.Equal(next) {
			t.Errorf("UpdateCryptoKey(rotation).NextRotationTime = %v, want %v", n, next)
		}
		if len(got.GetLabels()) != 2 {
			t.Errorf("UpdateCryptoKey(rotation) changed the labels to %v; the mask did not name them", got.GetLabels())
		}
	})

	cases := []struct {
		name string
		key  *kmspb.CryptoKey
		mask []string
	}{
		{
			name: "unknown mask path is InvalidArgument",
			key:  &kmspb.CryptoKey{Name: sym.GetName(), Labels: map[string]string{"a": "b"}},
			mask: []string{"no_such_field"},
		},
		{
			name: "empty mask is InvalidArgument",
			key:  &kmspb.CryptoKey{Name: sym.GetName(), Labels: map[string]string{"a": "b"}},
			mask: nil,
		},
		{
			name: "immutable purpose is InvalidArgument",
			key:  &kmspb.CryptoKey{Name: sym.GetName(), Purpose: asymmetricSign},
			mask: []string{"purpose"},
		},
		{
			name: "rotation on an asymmetric key is InvalidArgument",
			key: &kmspb.CryptoKey{
				Name:             e.key(t, "ec_p256").GetName(),
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(48 * time.Hour)},
				NextRotationTime: timestamppb.New(next),
			},
			mask: []string{"rotation_period", "next_rotation_time"},
		},
		{
			name: "rotation period under 24h without the dev flag is InvalidArgument",
			key: &kmspb.CryptoKey{
				Name:             sym.GetName(),
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(time.Hour)},
				NextRotationTime: timestamppb.New(next),
			},
			mask: []string{"rotation_period", "next_rotation_time"},
		},
		{
			name: "invalid label key is InvalidArgument",
			key:  &kmspb.CryptoKey{Name: sym.GetName(), Labels: map[string]string{"Upper": "x"}},
			mask: []string{"labels"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.UpdateCryptoKey(ctx, &kmspb.UpdateCryptoKeyRequest{CryptoKey: tc.key, UpdateMask: &fieldmaskpb.FieldMask{Paths: tc.mask}})
			wantCode(t, fmt.Sprintf("UpdateCryptoKey(%s, mask %v)", tc.key.GetName(), tc.mask), err, codes.InvalidArgument)
		})
	}

	t.Run("refused updates changed nothing", func(t *testing.T) {
		got, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: sym.GetName()})
		if err != nil {
			t.Fatalf("GetCryptoKey(%s) = %v", sym.GetName(), err)
		}
		if p := got.GetRotationPeriod().AsDuration(); p != 48*time.Hour {
			t.Errorf("GetCryptoKey(%s).RotationPeriod = %v, want 48h", sym.GetName(), p)
		}
		if got.GetPurpose() != encryptDecrypt {
			t.Errorf("GetCryptoKey(%s).Purpose = %v, want ENCRYPT_DECRYPT", sym.GetName(), got.GetPurpose())
		}
		if diff := cmp.Diff(map[string]string{"env": "test", "team": "e2e"}, got.GetLabels()); diff != "" {
			t.Errorf("GetCryptoKey(%s).Labels (-want +got):\n%s", sym.GetName(), diff)
		}
	})

	t.Run("clearing rotation_period and next_rotation_time", func(t *testing.T) {
		got, err := e.c.UpdateCryptoKey(ctx, &kmspb.UpdateCryptoKeyRequest{
			CryptoKey:  &kmspb.CryptoKey{Name: sym.GetName()},
			UpdateMask: fieldMask("rotation_period", "next_rotation_time"),
		})
		if err != nil {
			t.Fatalf("UpdateCryptoKey(clear rotation) = %v, want success", err)
		}
		if got.GetRotationPeriod() != nil || got.GetNextRotationTime() != nil {
			t.Errorf("UpdateCryptoKey(clear rotation) = period %v next %v, want neither", got.GetRotationPeriod(), got.GetNextRotationTime())
		}
	})

	t.Run("create with a rotation period under 24h without the dev flag is InvalidArgument", func(t *testing.T) {
		_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
			Parent: e.ring, CryptoKeyId: "short_rotation",
			CryptoKey: &kmspb.CryptoKey{
				Purpose:          encryptDecrypt,
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(time.Second)},
				NextRotationTime: timestamppb.New(time.Now().Add(time.Second)),
			},
		})
		wantCode(t, "CreateCryptoKey(rotation_period 1s)", err, codes.InvalidArgument)
	})

	t.Run("create with a destroy duration of 1s without the dev flag is InvalidArgument", func(t *testing.T) {
		_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
			Parent: e.ring, CryptoKeyId: "short_destroy",
			CryptoKey: &kmspb.CryptoKey{Purpose: encryptDecrypt, DestroyScheduledDuration: durationpb.New(time.Second)},
		})
		wantCode(t, "CreateCryptoKey(destroy_scheduled_duration 1s)", err, codes.InvalidArgument)
	})
}

// listVersions returns the names of the versions that req lists, page by page.
func listVersions(t *testing.T, ctx context.Context, c *kms.KeyManagementClient, req *kmspb.ListCryptoKeyVersionsRequest) []string {
	t.Helper()
	it := c.ListCryptoKeyVersions(ctx, req)
	var names []string
	for {
		v, err := it.Next()
		if err == iterator.Done {
			return names
		}
		if err != nil {
			t.Fatalf("ListCryptoKeyVersions(%v) = %v", req, err)
		}
		names = append(names, v.GetName())
	}
}

func (e *apiEnv) testVersions(t *testing.T) {
	ctx := testContext(t)
	key := e.createKey(t, ctx, "versions", symmetricKey(), false).GetName()
	for n := 2; n <= 3; n++ {
		v, err := e.c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: key, CryptoKeyVersion: &kmspb.CryptoKeyVersion{}})
		if err != nil {
			t.Fatalf("CreateCryptoKeyVersion(%s) = %v, want success", key, err)
		}
		if v.GetName() != versionName(key, n) || v.GetState() != enabled {
			t.Errorf("CreateCryptoKeyVersion(%s) = %v, want %s ENABLED", key, v, versionName(key, n))
		}
	}
	v1, v2, v3 := versionName(key, 1), versionName(key, 2), versionName(key, 3)

	t.Run("GetCryptoKeyVersion", func(t *testing.T) {
		v, err := e.c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v2})
		if err != nil {
			t.Fatalf("GetCryptoKeyVersion(%s) = %v, want success", v2, err)
		}
		if v.GetName() != v2 || v.GetState() != enabled || v.GetAlgorithm() != kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION ||
			v.GetProtectionLevel() != kmspb.ProtectionLevel_SOFTWARE || v.GetCreateTime() == nil || v.GetGenerateTime() == nil {
			t.Errorf("GetCryptoKeyVersion(%s) = %v, want ENABLED GOOGLE_SYMMETRIC_ENCRYPTION SOFTWARE with create and generate times", v2, v)
		}
	})

	t.Run("creating a version keeps the primary", func(t *testing.T) {
		k, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
		if err != nil {
			t.Fatalf("GetCryptoKey(%s) = %v", key, err)
		}
		if k.GetPrimary().GetName() != v1 {
			t.Errorf("GetCryptoKey(%s).Primary = %q, want %q", key, k.GetPrimary().GetName(), v1)
		}
	})

	t.Run("list with view FULL", func(t *testing.T) {
		got := listVersions(t, ctx, e.c, &kmspb.ListCryptoKeyVersionsRequest{Parent: key, View: kmspb.CryptoKeyVersion_FULL})
		if diff := cmp.Diff([]string{v1, v2, v3}, got); diff != "" {
			t.Errorf("ListCryptoKeyVersions(%s, FULL) (-want +got):\n%s", key, diff)
		}
	})

	t.Run("pages of one version", func(t *testing.T) {
		pager := iterator.NewPager(e.c.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: key}), 1, "")
		var pages [][]string
		for range 10 {
			var vs []*kmspb.CryptoKeyVersion
			next, err := pager.NextPage(&vs)
			if err != nil {
				t.Fatalf("ListCryptoKeyVersions(%s) page %d = %v", key, len(pages)+1, err)
			}
			var names []string
			for _, v := range vs {
				names = append(names, v.GetName())
			}
			pages = append(pages, names)
			if next == "" {
				break
			}
		}
		if diff := cmp.Diff([][]string{{v1}, {v2}, {v3}}, pages); diff != "" {
			t.Errorf("ListCryptoKeyVersions(%s, page size 1) pages (-want +got):\n%s", key, diff)
		}
	})

	t.Run("order by name desc", func(t *testing.T) {
		got := listVersions(t, ctx, e.c, &kmspb.ListCryptoKeyVersionsRequest{Parent: key, OrderBy: "name desc"})
		if diff := cmp.Diff([]string{v3, v2, v1}, got); diff != "" {
			t.Errorf("ListCryptoKeyVersions(%s, name desc) (-want +got):\n%s", key, diff)
		}
	})

	update := func(t *testing.T, name string, st state) *kmspb.CryptoKeyVersion {
		t.Helper()
		v, err := e.c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
			CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: name, State: st},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
		})
		if err != nil {
			t.Fatalf("UpdateCryptoKeyVersion(%s, %v) = %v, want success", name, st, err)
		}
		if v.GetState() != st {
			t.Errorf("UpdateCryptoKeyVersion(%s, %v).State = %v", name, st, v.GetState())
		}
		return v
	}

	t.Run("disable then filter state=ENABLED", func(t *testing.T) {
		update(t, v2, disabled)
		got := listVersions(t, ctx, e.c, &kmspb.ListCryptoKeyVersionsRequest{Parent: key, Filter: "state=ENABLED"})
		if diff := cmp.Diff([]string{v1, v3}, got); diff != "" {
			t.Errorf("ListCryptoKeyVersions(%s, state=ENABLED) (-want +got):\n%s", key, diff)
		}
		got = listVersions(t, ctx, e.c, &kmspb.ListCryptoKeyVersionsRequest{Parent: key, Filter: "state=DISABLED"})
		if diff := cmp.Diff([]string{v2}, got); diff != "" {
			t.Errorf("ListCryptoKeyVersions(%s, state=DISABLED) (-want +got):\n%s", key, diff)
		}
	})

	t.Run("enable again", func(t *testing.T) {
		update(t, v2, enabled)
		v, err := e.c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v2})
		if err != nil || v.GetState() != enabled {
			t.Errorf("GetCryptoKeyVersion(%s) = %v, %v, want ENABLED", v2, v, err)
		}
	})

	t.Run("update of a field other than state is InvalidArgument", func(t *testing.T) {
		_, err := e.c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
			CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: v2, Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"algorithm"}},
		})
		wantCode(t, "UpdateCryptoKeyVersion(mask algorithm)", err, codes.InvalidArgument)
	})

	t.Run("destroy schedules destruction in 24h", func(t *testing.T) {
		before := time.Now()
		v, err := e.c.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: v3})
		if err != nil {
			t.Fatalf("DestroyCryptoKeyVersion(%s) = %v, want success", v3, err)
		}
		if v.GetState() != destroyScheduled {
			t.Errorf("DestroyCryptoKeyVersion(%s).State = %v, want DESTROY_SCHEDULED", v3, v.GetState())
		}
		dt := v.GetDestroyTime().AsTime()
		if lo, hi := before.Add(24*time.Hour-time.Minute), time.Now().Add(24*time.Hour+time.Minute); dt.Before(lo) || dt.After(hi) {
			t.Errorf("DestroyCryptoKeyVersion(%s).DestroyTime = %v, want about now+24h (%v)", v3, dt, before.Add(24*time.Hour))
		}
		if v.GetDestroyEventTime() != nil {
			t.Errorf("DestroyCryptoKeyVersion(%s).DestroyEventTime = %v, want unset", v3, v.GetDestroyEventTime())
		}
		got, err := e.c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: v3})
		if err != nil || got.GetState() != destroyScheduled {
			t.Errorf("GetCryptoKeyVersion(%s) = %v, %v, want DESTROY_SCHEDULED", v3, got, err)
		}
	})

	t.Run("enable of a destroy-scheduled version is FailedPrecondition", func(t *testing.T) {
		_, err := e.c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
			CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: v3, State: enabled},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
		})
		wantCode(t, "UpdateCryptoKeyVersion(DESTROY_SCHEDULED -> ENABLED)", err, codes.FailedPrecondition)
	})

	t.Run("restore makes it DISABLED", func(t *testing.T) {
		v, err := e.c.RestoreCryptoKeyVersion(ctx, &kmspb.RestoreCryptoKeyVersionRequest{Name: v3})
		if err != nil {
			t.Fatalf("RestoreCryptoKeyVersion(%s) = %v, want success", v3, err)
		}
		if v.GetState() != disabled || v.GetDestroyTime() != nil {
			t.Errorf("RestoreCryptoKeyVersion(%s) = state %v destroy time %v, want DISABLED without destroy time", v3, v.GetState(), v.GetDestroyTime())
		}
	})

	t.Run("restore of a version not scheduled for destruction is FailedPrecondition", func(t *testing.T) {
		_, err := e.c.RestoreCryptoKeyVersion(ctx, &kmspb.RestoreCryptoKeyVersionRequest{Name: v1})
		wantCode(t, "RestoreCryptoKeyVersion("+v1+")", err, codes.FailedPrecondition)
	})
}

func (e *apiEnv) testPrimaryVersion(t *testing.T) {
	ctx := testContext(t)
	key := e.createKey(t, ctx, "primary", symmetricKey(), false).GetName()
	if _, err := e.c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: key}); err != nil {
		t.Fatalf("CreateCryptoKeyVersion(%s) = %v", key, err)
	}
	k, err := e.c.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: key, CryptoKeyVersionId: "2"})
	if err != nil {
		t.Fatalf("UpdateCryptoKeyPrimaryVersion(%s, 2) = %v, want success", key, err)
	}
	if k.GetPrimary().GetName() != versionName(key, 2) {
		t.Errorf("UpdateCryptoKeyPrimaryVersion(%s, 2).Primary = %q, want %q", key, k.GetPrimary().GetName(), versionName(key, 2))
	}
	got, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
	if err != nil || got.GetPrimary().GetName() != versionName(key, 2) {
		t.Errorf("GetCryptoKey(%s) = %v, %v, want primary version 2", key, got.GetPrimary(), err)
	}

	cases := []struct {
		name string
		key  string
		id   string
		want codes.Code
	}{
		{"missing version is NotFound", key, "9", codes.NotFound},
		{"version id that is not a number is InvalidArgument", key, "two", codes.InvalidArgument},
		{"asymmetric key has no primary: FailedPrecondition", e.key(t, "ec_p256").GetName(), "1", codes.FailedPrecondition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: tc.key, CryptoKeyVersionId: tc.id})
			wantCode(t, fmt.Sprintf("UpdateCryptoKeyPrimaryVersion(%s, %q)", tc.key, tc.id), err, tc.want)
		})
	}

	t.Run("disabled version cannot become primary", func(t *testing.T) {
		v3, err := e.c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: key})
		if err != nil {
			t.Fatalf("CreateCryptoKeyVersion(%s) = %v", key, err)
		}
		if _, err := e.c.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
			CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: v3.GetName(), State: disabled},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
		}); err != nil {
			t.Fatalf("UpdateCryptoKeyVersion(%s, DISABLED) = %v", v3.GetName(), err)
		}
		_, err = e.c.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: key, CryptoKeyVersionId: "3"})
		wantCode(t, "UpdateCryptoKeyPrimaryVersion(disabled version 3)", err, codes.FailedPrecondition)
	})
}

// errEmptyList stands for a list call that answered an empty list.
var errEmptyList = errors.New("an empty list and no error")

func emptyListIsNoError(err error) error {
	if err == iterator.Done {
		return errEmptyList
	}
	return err
}

func (e *apiEnv) testErrors(t *testing.T) {
	ctx := testContext(t)
	sym := e.key(t, "symmetric_default").GetName()
	missingRing := e.loc + "/keyRings/no-such-ring"
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"GetKeyRing of a missing ring is NotFound", func() error {
			_, err := e.c.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: missingRing})
			return err
		}, codes.NotFound},
		{"GetCryptoKey of a missing key is NotFound", func() error {
			_, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: e.ring + "/cryptoKeys/no-such-key"})
			return err
		}, codes.NotFound},
		{"GetCryptoKey in a missing ring is NotFound", func() error {
			_, err := e.c.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: missingRing + "/cryptoKeys/k"})
			return err
		}, codes.NotFound},
		{"GetCryptoKeyVersion of a missing version is NotFound", func() error {
			_, err := e.c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: versionName(sym, 99)})
			return err
		}, codes.NotFound},
		{"Encrypt with a missing key is NotFound", func() error {
			_, err := e.c.Encrypt(ctx, &kmspb.EncryptRequest{Name: e.ring + "/cryptoKeys/no-such-key", Plaintext: []byte("x")})
			return err
		}, codes.NotFound},
		{"DestroyCryptoKeyVersion of a missing version is NotFound", func() error {
			_, err := e.c.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: versionName(sym, 99)})
			return err
		}, codes.NotFound},
		{"CreateCryptoKey in a missing ring is NotFound", func() error {
			_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: missingRing, CryptoKeyId: "k", CryptoKey: symmetricKey()})
			return err
		}, codes.NotFound},
		{"ListCryptoKeyVersions of a missing key is NotFound", func() error {
			_, err := e.c.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: e.ring + "/cryptoKeys/no-such-key"}).Next()
			return emptyListIsNoError(err)
		}, codes.NotFound},
		{"ListCryptoKeys of a missing ring is NotFound", func() error {
			_, err := e.c.ListCryptoKeys(ctx, &kmspb.ListCryptoKeysRequest{Parent: missingRing}).Next()
			return emptyListIsNoError(err)
		}, codes.NotFound},
		// Over REST no route matches: the decrypt rule binds a key name
		// (cryptoKeys/*), so the answer is NOT_FOUND, as from Google.
		{"Decrypt with a version name is InvalidArgument (REST: NotFound)", func() error {
			_, err := e.c.Decrypt(ctx, &kmspb.DecryptRequest{Name: versionName(sym, 1), Ciphertext: []byte("x")})
			return err
		}, map[string]codes.Code{"grpc": codes.InvalidArgument, "rest": codes.NotFound}[e.client]},
		{"duplicate crypto key is AlreadyExists", func() error {
			_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: e.ring, CryptoKeyId: "symmetric_default", CryptoKey: symmetricKey()})
			return err
		}, codes.AlreadyExists},
		{"duplicate key ring is AlreadyExists", func() error {
			_, err := e.c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: e.loc, KeyRingId: "keys-" + e.client})
			return err
		}, codes.AlreadyExists},
		{"key ring id with a dot is InvalidArgument", func() error {
			_, err := e.c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: e.loc, KeyRingId: "bad.id"})
			return err
		}, codes.InvalidArgument},
		{"empty crypto key id is InvalidArgument", func() error {
			_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: e.ring, CryptoKeyId: "", CryptoKey: symmetricKey()})
			return err
		}, codes.InvalidArgument},
		{"crypto key id of 64 characters is InvalidArgument", func() error {
			_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: e.ring, CryptoKeyId: strings.Repeat("k", 64), CryptoKey: symmetricKey()})
			return err
		}, codes.InvalidArgument},
		{"upper-case project in a name is InvalidArgument", func() error {
			_, err := e.c.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: "projects/UPPER/locations/global/keyRings/r"})
			return err
		}, codes.InvalidArgument},
		{"version id that is not a number is InvalidArgument", func() error {
			_, err := e.c.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: sym + "/cryptoKeyVersions/one"})
			return err
		}, codes.InvalidArgument},
		{"create without a purpose is InvalidArgument", func() error {
			_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: e.ring, CryptoKeyId: "no_purpose", CryptoKey: &kmspb.CryptoKey{}})
			return err
		}, codes.InvalidArgument},
		{"algorithm of another purpose is InvalidArgument", func() error {
			_, err := e.c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: e.ring, CryptoKeyId: "mismatch", CryptoKey: &kmspb.CryptoKey{
				Purpose: encryptDecrypt, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256},
			}})
			return err
		}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, tc.call(), tc.want)
		})
	}
}
