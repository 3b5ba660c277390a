// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

const (
	project = "projects/p"
	loc     = "projects/p/locations/l"
	ring    = "projects/p/locations/l/keyRings/r"
	key     = ring + "/cryptoKeys/k"
	version = key + "/cryptoKeyVersions/1"
	key2    = ring + "/cryptoKeys/k2"
	ring2   = "projects/p/locations/l/keyRings/r2"
)

func adminEvent(method string) kms.Event {
	return kms.Event{Method: method, Resource: key}
}

func codeOf(err error) string { return codeName(kmserr.Code(err)) }

// recorded reports whether Record wrote an entry for ev, and returns it.
func recorded(t *testing.T, l *Log, ctx context.Context, ev kms.Event) (Entry, bool) {
	t.Helper()
	before, err := l.List(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, ev); err != nil {
		t.Fatalf("Record(%+v) = %v", ev, err)
	}
	after, err := l.List(context.Background(), Query{AfterSeq: int64(len(before))})
	if err != nil {
		t.Fatal(err)
	}
	switch len(after) {
	case 0:
		return Entry{}, false
	case 1:
		return after[0], true
	}
	t.Fatalf("Record wrote %d entries", len(after))
	return Entry{}, false
}

func TestRecordDataAccess(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]bool // applied in no particular order
		ev       kms.Event
		want     bool
	}{
		{"admin activity with nothing set", nil, kms.Event{Method: "CreateCryptoKey", Resource: ring}, true},
		{"admin activity with data access off", map[string]bool{project: false}, kms.Event{Method: "UpdateCryptoKey", Resource: key}, true},
		{"data access off by default", nil, kms.Event{Method: "Encrypt", Resource: key, DataAccess: true}, false},
		{"data access on the key", map[string]bool{key: true}, kms.Event{Method: "Encrypt", Resource: key, DataAccess: true}, true},
		{"on the project reaches a version", map[string]bool{project: true}, kms.Event{Method: "AsymmetricSign", Resource: version, DataAccess: true}, true},
		{"on the location reaches a key", map[string]bool{loc: true}, kms.Event{Method: "Decrypt", Resource: key, DataAccess: true}, true},
		{"key off overrides project on", map[string]bool{project: true, key: false}, kms.Event{Method: "Encrypt", Resource: key, DataAccess: true}, false},
		{"key off leaves its sibling on", map[string]bool{project: true, key: false}, kms.Event{Method: "Encrypt", Resource: key2, DataAccess: true}, true},
		{"key off overrides for its versions", map[string]bool{project: true, key: false}, kms.Event{Method: "MacSign", Resource: version, DataAccess: true}, false},
		{"ring on overrides project off", map[string]bool{project: false, ring: true}, kms.Event{Method: "Encrypt", Resource: key, DataAccess: true}, true},
		{"ring on does not reach another ring", map[string]bool{ring: true}, kms.Event{Method: "Encrypt", Resource: ring2 + "/cryptoKeys/k", DataAccess: true}, false},
		{"location data access off", nil, kms.Event{Method: "GenerateRandomBytes", Resource: loc, DataAccess: true}, false},
		{"Wrap always recorded", map[string]bool{project: false}, kms.Event{Method: "Wrap", Resource: key, DataAccess: true}, true},
		{"Unwrap always recorded", nil, kms.Event{Method: "Unwrap", Resource: key, DataAccess: true}, true},
		{"details always=true recorded", map[string]bool{key: false}, kms.Event{Method: "Encrypt", Resource: key, DataAccess: true, Details: map[string]string{"always": "true"}}, true},
		{"unparsable resource recorded", nil, kms.Event{Method: "Encrypt", Resource: "not/a/name", DataAccess: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", AuthMethod: "admin-token", Admin: true})
			for res, on := range tc.settings {
				if err := f.log.SetDataAccess(ctx, res, on); err != nil {
					t.Fatalf("SetDataAccess(%s, %v) = %v", res, on, err)
				}
			}
			if _, got := recorded(t, f.log, ctx, tc.ev); got != tc.want {
				t.Errorf("Record(%s on %s) recorded %v, want %v", tc.ev.Method, tc.ev.Resource, got, tc.want)
			}
		})
	}
}

func TestRecordEntry(t *testing.T) {
	f := newFixture(t)
	caller := &kms.Caller{Principal: "app:billing", AuthMethod: "api-key", App: "billing", RequestID: "req-7", ClientAddress: "198.51.100.4:443"}
	tests := []struct {
		name string
		ctx  context.Context
		ev   kms.Event
		want Entry
	}{
		{
			name: "caller and success",
			ctx:  kms.WithCaller(context.Background(), caller),
			ev:   kms.Event{Method: "CreateCryptoKey", Resource: ring},
			want: Entry{Principal: "app:billing", AuthMethod: "api-key", Method: "CreateCryptoKey", Resource: ring, Status: "OK", RequestID: "req-7", ClientAddress: "198.51.100.4:443"},
		},
		{
			name: "no caller is anonymous",
			ctx:  context.Background(),
			ev:   kms.Event{Method: "GetKeyRing", Resource: ring, Err: kmserr.Unauthenticated("no")},
			want: Entry{Principal: "anonymous", Method: "GetKeyRing", Resource: ring, Status: "UNAUTHENTICATED"},
		},
		{
			name: "denied",
			ctx:  kms.WithCaller(context.Background(), caller),
			ev:   kms.Event{Method: "UpdateCryptoKey", Resource: key, Err: kmserr.PermissionDenied("no")},
			want: Entry{Principal: "app:billing", AuthMethod: "api-key", Method: "UpdateCryptoKey", Resource: key, Status: "PERMISSION_DENIED", RequestID: "req-7", ClientAddress: "198.51.100.4:443"},
		},
		{
			name: "EKM unwrap with justification and details",
			ctx:  kms.WithCaller(context.Background(), caller),
			ev: kms.Event{Method: "Unwrap", Resource: key, DataAccess: true, Err: fmt.Errorf("wrapped: %w", kmserr.FailedPrecondition("disabled")),
				Justification: "CUSTOMER_INITIATED_ACCESS", Details: map[string]string{"googleResource": "//bigquery/x"}},
			want: Entry{Principal: "app:billing", AuthMethod: "api-key", Method: "Unwrap", Resource: key, Status: "FAILED_PRECONDITION", RequestID: "req-7", ClientAddress: "198.51.100.4:443",
				Justification: "CUSTOMER_INITIATED_ACCESS", Details: map[string]string{"googleResource": "//bigquery/x"}},
		},
		{
			name: "cancelled",
			ctx:  kms.WithCaller(context.Background(), caller),
			ev:   kms.Event{Method: "DestroyCryptoKeyVersion", Resource: version, Err: context.Canceled},
			want: Entry{Principal: "app:billing", AuthMethod: "api-key", Method: "DestroyCryptoKeyVersion", Resource: version, Status: "CANCELLED", RequestID: "req-7", ClientAddress: "198.51.100.4:443"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := recorded(t, f.log, tc.ctx, tc.ev)
			if !ok {
				t.Fatal("not recorded")
			}
			tc.want.Seq, tc.want.Time, tc.want.Hash = got.Seq, got.Time, got.Hash
			if got.Time.IsZero() {
				t.Error("entry has no time")
			}
			if got.Principal != tc.want.Principal || got.AuthMethod != tc.want.AuthMethod || got.Method != tc.want.Method ||
				got.Resource != tc.want.Resource || got.Status != tc.want.Status || got.RequestID != tc.want.RequestID ||
				got.ClientAddress != tc.want.ClientAddress || got.Justification != tc.want.Justification || len(got.Details) != len(tc.want.Details) {
				t.Errorf("entry = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCodeName(t *testing.T) {
	tests := []struct {
		c    codes.Code
		want string
	}{
		{codes.OK, "OK"}, {codes.Canceled, "CANCELLED"}, {codes.NotFound, "NOT_FOUND"},
		{codes.PermissionDenied, "PERMISSION_DENIED"}, {codes.Unauthenticated, "UNAUTHENTICATED"},
		{codes.DataLoss, "DATA_LOSS"}, {codes.Code(99), "CODE(99)"},
	}
	for _, tc := range tests {
		if got := codeName(tc.c); got != tc.want {
			t.Errorf("codeName(%d) = %q, want %q", tc.c, got, tc.want)
		}
	}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if codeName(c) == "" {
			t.Errorf("codeName(%d) is empty", c)
		}
	}
}

func TestSetDataAccess(t *testing.T) {
	f := newFixture(t)
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	t.Run("invalid names", func(t *testing.T) {
		for _, res := range []string{"", "projects", "projects/P", version, ring + "/importJobs/j", "projects/p/locations/l/keyRings/r/"} {
			if err := f.log.SetDataAccess(ctx, res, true); kmserr.Code(err) != codes.InvalidArgument {
				t.Errorf("SetDataAccess(%q) = %v, want INVALID_ARGUMENT", res, err)
			}
			if _, err := f.log.DataAccess(ctx, res); kmserr.Code(err) != codes.InvalidArgument {
				t.Errorf("DataAccess(%q) = %v, want INVALID_ARGUMENT", res, err)
			}
		}
	})
	t.Run("inheritance", func(t *testing.T) {
		steps := []struct {
			set  string
			on   bool
			res  string
			want bool
		}{
			{"", false, key, false},
			{project, true, key, true},
			{key, false, key, false},
			{key, false, key2, true},
			{ring, false, key2, false},
			{ring, false, project, true},
			{key, true, key, true},
		}
		for _, s := range steps {
			if s.set != "" {
				if err := f.log.SetDataAccess(ctx, s.set, s.on); err != nil {
					t.Fatalf("SetDataAccess(%s, %v) = %v", s.set, s.on, err)
				}
			}
			if got, err := f.log.DataAccess(ctx, s.res); err != nil || got != s.want {
				t.Errorf("after setting %s to %v: DataAccess(%s) = %v, %v; want %v", s.set, s.on, s.res, got, err, s.want)
			}
			if got := f.log.cfg.effective(ctx, f.log, s.res); got != s.want {
				t.Errorf("after setting %s to %v: cached setting of %s = %v, want %v", s.set, s.on, s.res, got, s.want)
			}
		}
	})
	t.Run("recorded as admin activity", func(t *testing.T) {
		got, err := f.log.List(ctx, Query{Method: "SetAuditConfig", Resource: key})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Details["dataAccess"] != "false" || got[2].Details["dataAccess"] != "true" || got[0].Principal != "admin" {
			t.Errorf("SetAuditConfig entries on %s = %+v", key, got)
		}
	})
	t.Run("another node reads the settings", func(t *testing.T) {
		l2 := f.open(t)
		if !l2.cfg.effective(ctx, l2, key) || l2.cfg.effective(ctx, l2, key2) {
			t.Error("a new Log does not load the stored settings")
		}
	})
	t.Run("altered setting records more", func(t *testing.T) {
		mutate(t, f, ConfigPrefix+ring, func(r *storage.Record) { r.Data = []byte(`{"resource":"` + ring + `","dataAccess":false} `) })
		l2 := f.open(t)
		if !l2.cfg.effective(ctx, l2, key2) {
			t.Error("an altered setting off is obeyed, want data access recorded")
		}
		if _, err := l2.DataAccess(ctx, key2); kmserr.Code(err) != codes.DataLoss {
			t.Errorf("DataAccess on an altered setting = %v, want DATA_LOSS", err)
		}
	})
	t.Run("write failure is recorded and fails", func(t *testing.T) {
		g := newFixture(t)
		g.store.Close()
		err := g.log.SetDataAccess(ctx, key, true)
		if kmserr.Code(err) != codes.Unavailable {
			t.Errorf("SetDataAccess on a closed store = %v, want UNAVAILABLE", err)
		}
	})
}
