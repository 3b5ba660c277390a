// SPDX-License-Identifier: Apache-2.0

package integrity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/integrity"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

type allowAll struct{}

func (allowAll) Authorize(context.Context, string, resource.Name) error { return nil }

const ring = "projects/p/locations/global/keyRings/r"

// env is a store with what a server keeps in it: a key ring, a key with
// two versions (the second scheduled for destruction), an import job, and
// the audit entries of those calls.
type env struct {
	st  *sqlite.Store
	ks  *keystore.Keystore
	key string
	v1  string
	v2  string
	job string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, ks := sqlitetest.Open(t, 9)
	log, err := audit.Open(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	svc := kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: allowAll{}, Auditor: log})
	ctx = kms.WithCaller(ctx, &kms.Caller{Principal: "admin", Admin: true})
	if _, err := svc.CreateKeyRing(ctx, "projects/p/locations/global", "r"); err != nil {
		t.Fatal(err)
	}
	k, err := svc.CreateCryptoKey(ctx, kms.CreateKeyRequest{Parent: ring, ID: "k", Key: kms.CryptoKey{
		Purpose: alg.EncryptDecrypt, Template: kms.VersionTemplate{Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := svc.CreateCryptoKeyVersion(ctx, k.Key.Name, "GOOGLE_SYMMETRIC_ENCRYPTION")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DestroyCryptoKeyVersion(ctx, v2.Name); err != nil {
		t.Fatal(err)
	}
	job, err := svc.CreateImportJob(ctx, ring, "j", kms.ImportJob{ImportMethod: kms.RSAOAEP3072SHA256AES256, ProtectionLevel: kms.Software})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, ks: ks, key: k.Key.Name, v1: k.Primary.Name, v2: v2.Name, job: job.Name}
}

func (e *env) scan(t *testing.T) integrity.Report {
	t.Helper()
	rep, err := integrity.Scan(context.Background(), e.st, e.ks)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != (rep.ProblemCount == 0) || int64(len(rep.Problems)) != min(rep.ProblemCount, integrity.MaxProblems) {
		t.Fatalf("inconsistent report: %+v", rep)
	}
	return rep
}

// rewrite changes a stored record with fn, then writes it back; with
// resign, it is signed again, as someone holding the record MAC key (but
// not the barrier key) could.
func (e *env) rewrite(t *testing.T, name string, resign bool, fn func(r *storage.Record)) {
	t.Helper()
	ctx := context.Background()
	err := e.st.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.Get(ctx, name)
		if err != nil {
			return err
		}
		fn(&r)
		if resign {
			e.ks.Sign(&r)
		}
		return tx.Put(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// editJSON rewrites a JSON record's field.
func (e *env) editJSON(t *testing.T, name string, fn func(m map[string]any)) {
	t.Helper()
	e.rewrite(t, name, true, func(r *storage.Record) {
		var m map[string]any
		if err := json.Unmarshal(r.Data, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		r.Data = b
	})
}

func wantProblem(t *testing.T, rep integrity.Report, name, substr string) {
	t.Helper()
	if rep.OK {
		t.Fatalf("scan found nothing, want a problem with %s", name)
	}
	for _, p := range rep.Problems {
		if p.Name == name && strings.Contains(p.Problem, substr) {
			return
		}
	}
	t.Fatalf("no problem of %s saying %q in %+v", name, substr, rep.Problems)
}

func TestScanCleanStore(t *testing.T) {
	e := newEnv(t)
	rep := e.scan(t)
	if !rep.OK || len(rep.Problems) != 0 {
		t.Fatalf("clean store: %+v", rep)
	}
	// Sealed: two versions' material, the import job's private key and
	// the barrier key.
	if rep.Sealed != 4 {
		t.Errorf("sealed = %d, want 4", rep.Sealed)
	}
	// The records: at least the ring, the key, two versions, the job, the
	// barrier, the audit head and one audit record.
	if rep.Records < 8 {
		t.Errorf("records = %d, want at least 8", rep.Records)
	}
	if rep.AuditEntries < 5 {
		t.Errorf("audit entries = %d, want the 5 calls at least", rep.AuditEntries)
	}
}

func TestScanFindsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, e *env) string // returns the record to blame
		problem string
	}{
		{"a changed byte, MAC not redone", func(t *testing.T, e *env) string {
			e.rewrite(t, e.v1, false, func(r *storage.Record) { r.Data[len(r.Data)/2] ^= 1 })
			return e.v1
		}, "MAC does not verify"},
		{"material moved from another version, MAC redone", func(t *testing.T, e *env) string {
			r2, err := e.st.Get(context.Background(), e.v2)
			if err != nil {
				t.Fatal(err)
			}
			var v2 map[string]any
			if err := json.Unmarshal(r2.Data, &v2); err != nil {
				t.Fatal(err)
			}
			e.editJSON(t, e.v1, func(m map[string]any) { m["material"] = v2["material"] })
			return e.v1
		}, "sealed key material does not open"},
		{"a destroyed version that kept its material", func(t *testing.T, e *env) string {
			e.editJSON(t, e.v2, func(m map[string]any) { m["state"] = "DESTROYED" })
			return e.v2
		}, "DESTROYED but still holds key material"},
		{"an enabled version that lost its material", func(t *testing.T, e *env) string {
			e.editJSON(t, e.v1, func(m map[string]any) { delete(m, "material") })
			return e.v1
		}, "ENABLED but holds no key material"},
		{"a version record holding another version", func(t *testing.T, e *env) string {
			e.editJSON(t, e.v1, func(m map[string]any) { m["name"] = e.v2 })
			return e.v1
		}, "holds the version"},
		{"an import job's private key altered, MAC redone", func(t *testing.T, e *env) string {
			e.editJSON(t, e.job, func(m map[string]any) { m["privateKey"] = "bTEAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" })
			return e.job
		}, "sealed key material does not open"},
		{"a key record that no longer decodes, MAC redone", func(t *testing.T, e *env) string {
			e.rewrite(t, e.key, true, func(r *storage.Record) { r.Data = []byte("{") })
			return e.key
		}, "cannot be read"},
		{"the barrier key replaced, MAC redone", func(t *testing.T, e *env) string {
			e.rewrite(t, "system/barrier/1", true, func(r *storage.Record) { r.Data[len(r.Data)-1] ^= 1 })
			return "system/barrier/1"
		}, "sealed value does not open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			name := tt.tamper(t, e)
			rep := e.scan(t)
			wantProblem(t, rep, name, tt.problem)
			if rep.ProblemCount != 1 {
				t.Errorf("problems = %d, want only the tampered record: %+v", rep.ProblemCount, rep.Problems)
			}
			for _, p := range rep.Problems {
				if strings.Contains(p.Problem, "material\":") || strings.Contains(p.Problem, "m1") {
					t.Errorf("problem quotes the record: %q", p.Problem)
				}
			}
		})
	}
}

func TestScanFindsAuditTampering(t *testing.T) {
	e := newEnv(t)
	recs, err := e.st.List(context.Background(), storage.ListOptions{Kind: audit.KindEntry, Parent: audit.ParentEntry, Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit records: %v %v", recs, err)
	}
	// Rewritten with its MAC redone: only the chain, keyed by a key the
	// MAC key does not give, can tell.
	e.rewrite(t, recs[0].Name, true, func(r *storage.Record) {
		r.Data = []byte(strings.Replace(string(r.Data), `"principal":"admin"`, `"principal":"mallory"`, 1))
	})
	rep := e.scan(t)
	wantProblem(t, rep, audit.HeadName, "the audit chain is broken at entry 1")
}

// TestScanPagesAndCap fills the store past several pages with records whose
// MACs are wrong: every one is read and counted, the first MaxProblems
// listed in name order.
func TestScanPagesAndCap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const junk = 1234
	err := e.st.Update(ctx, func(tx storage.Tx) error {
		for i := range junk {
			r := storage.Record{Kind: "junk", Name: fmt.Sprintf("junk/%05d", i), Data: []byte("x"), MAC: []byte("not a mac")}
			if err := tx.Create(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clean := newEnv(t).scan(t)
	rep := e.scan(t)
	if rep.Records != clean.Records+junk {
		t.Errorf("records = %d, want %d", rep.Records, clean.Records+junk)
	}
	if rep.ProblemCount != junk || len(rep.Problems) != integrity.MaxProblems {
		t.Fatalf("problems = %d listed of %d, want %d of %d", len(rep.Problems), rep.ProblemCount, integrity.MaxProblems, junk)
	}
	if rep.Problems[0].Name != "junk/00000" || rep.Problems[99].Name != "junk/00099" || rep.Problems[0].Kind != "junk" {
		t.Errorf("problems not in name order: first %+v, last %+v", rep.Problems[0], rep.Problems[99])
	}
}

// slowSource is a store whose walks take a while and count how many run
// at once, or fail when failing is set.
type slowSource struct {
	*sqlite.Store
	running, most atomic.Int32
	failing       atomic.Bool
}

func (s *slowSource) Walk(ctx context.Context, after string, limit int) ([]storage.Record, error) {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	time.Sleep(20 * time.Millisecond)
	if s.failing.Load() {
		return nil, errors.New("disk gone")
	}
	return s.Store.Walk(ctx, after, limit)
}

func metricsText(t *testing.T, s *integrity.Scanner) string {
	t.Helper()
	var b strings.Builder
	if err := s.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestScannerOneAtATimeAndMetrics(t *testing.T) {
	e := newEnv(t)
	src := &slowSource{Store: e.st}
	s := integrity.NewScanner(src, e.ks, slog.New(slog.DiscardHandler))
	if m := metricsText(t, s); !strings.Contains(m, `custos_integrity_scans_total{result="ok"} 0`) || strings.Contains(m, "custos_integrity_problems") {
		t.Errorf("metrics before any scan:\n%s", m)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if rep, err := s.Scan(context.Background()); err != nil || !rep.OK {
				t.Errorf("Scan() = %+v, %v", rep, err)
			}
		})
	}
	wg.Wait()
	if m := src.most.Load(); m != 1 {
		t.Errorf("%d scans walked at once, want 1", m)
	}
	m := metricsText(t, s)
	for _, want := range []string{`custos_integrity_scans_total{result="ok"} 3`, "custos_integrity_problems 0\n", "custos_integrity_last_scan_timestamp_seconds "} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}

	e.rewrite(t, e.v1, false, func(r *storage.Record) { r.Data[0] ^= 1 })
	if rep, err := s.Scan(context.Background()); err != nil || rep.OK {
		t.Fatalf("Scan() of a damaged store = %+v, %v", rep, err)
	}
	src.failing.Store(true)
	if _, err := s.Scan(context.Background()); err == nil {
		t.Fatal("Scan() of a failing store: no error")
	}
	m = metricsText(t, s)
	// The failed scan leaves the last complete one's figures.
	for _, want := range []string{`custos_integrity_scans_total{result="damaged"} 1`, `custos_integrity_scans_total{result="failed"} 1`, "custos_integrity_problems 1\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

func TestScannerRun(t *testing.T) {
	e := newEnv(t)
	s := integrity.NewScanner(e.st, e.ks, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		s.Run(ctx, 5*time.Millisecond)
		close(stopped)
	}()
	deadline := time.Now().Add(30 * time.Second)
	okScans := regexp.MustCompile(`custos_integrity_scans_total\{result="ok"\} (\d+)`)
	for {
		m := okScans.FindStringSubmatch(metricsText(t, s))
		if n, _ := strconv.Atoi(m[1]); n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two scans in 30 s:\n%s", metricsText(t, s))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-stopped

	// interval 0: never scans, returns at once.
	s = integrity.NewScanner(e.st, e.ks, slog.New(slog.DiscardHandler))
	s.Run(context.Background(), 0)
	if m := metricsText(t, s); !strings.Contains(m, `custos_integrity_scans_total{result="ok"} 0`) {
		t.Errorf("interval 0 scanned:\n%s", m)
	}
}
