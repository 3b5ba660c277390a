// SPDX-License-Identifier: Apache-2.0

package integrity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/auth"
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
	log *audit.Log
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
	return &env{st: st, ks: ks, log: log, key: k.Key.Name, v1: k.Primary.Name, v2: v2.Name, job: job.Name}
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
		{"an impossible count of encryptions", func(t *testing.T, e *env) string {
			ctx := context.Background()
			r := storage.Record{Kind: "usage", Name: "usage/" + e.v1, Data: []byte(`{"reserved":-5}`)}
			e.ks.Sign(&r)
			if err := e.st.Update(ctx, func(tx storage.Tx) error { return tx.Create(ctx, r) }); err != nil {
				t.Fatal(err)
			}
			return r.Name
		}, "impossible count of encryptions"},
		{"a record whose field holds another type, MAC redone", func(t *testing.T, e *env) string {
			e.editJSON(t, e.v1, func(m map[string]any) { m["createTime"] = "secret-looking-value" })
			return e.v1
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
				if strings.Contains(p.Problem, "material\":") || strings.Contains(p.Problem, "m1") || strings.Contains(p.Problem, "secret-looking") {
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
	// A broken audit chain is listed even past the cap.
	recs, err := e.st.List(ctx, storage.ListOptions{Kind: audit.KindEntry, Parent: audit.ParentEntry, Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit records: %v %v", recs, err)
	}
	e.rewrite(t, recs[0].Name, true, func(r *storage.Record) { r.Data[len(r.Data)/2] ^= 1 })
	broken, err := integrity.Scan(ctx, e.st, e.ks)
	if err != nil {
		t.Fatal(err)
	}
	if last := broken.Problems[len(broken.Problems)-1]; broken.ProblemCount != junk+1 || last.Name != audit.HeadName {
		t.Errorf("with %d problems and a broken chain: %d counted, the last listed %+v", junk, broken.ProblemCount, last)
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

// TestScanLegitimateStates: every state a key version or an import job
// reaches in normal use passes the scan: DISABLED, DESTROY_SCHEDULED,
// DESTROYED (generated, and imported then eligible for re-import),
// IMPORT_FAILED, re-imported, and an EXPIRED import job.
func TestScanLegitimateStates(t *testing.T) {
	ctx := context.Background()
	st, ks := sqlitetest.Open(t, 7)
	alog, err := audit.Open(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alog.Close)
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	svc := kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: allowAll{}, Auditor: alog, Now: clock, Logger: slog.New(slog.DiscardHandler)})
	ctx = kms.WithCaller(ctx, &kms.Caller{Principal: "admin", Admin: true})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.CreateKeyRing(ctx, "projects/p/locations/global", "r"))
	sym := kms.CryptoKey{Purpose: alg.EncryptDecrypt, Template: kms.VersionTemplate{Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION"}}
	gen, err := svc.CreateCryptoKey(ctx, kms.CreateKeyRequest{Parent: ring, ID: "gen", Key: sym})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := svc.CreateCryptoKeyVersion(ctx, gen.Key.Name, "GOOGLE_SYMMETRIC_ENCRYPTION")
	if err != nil {
		t.Fatal(err)
	}
	v3, err := svc.CreateCryptoKeyVersion(ctx, gen.Key.Name, "GOOGLE_SYMMETRIC_ENCRYPTION")
	if err != nil {
		t.Fatal(err)
	}
	must(svc.UpdateCryptoKeyVersion(ctx, gen.Primary.Name, kms.Disabled, []string{"state"}))
	must(svc.DestroyCryptoKeyVersion(ctx, v2.Name))
	imp := sym
	imp.ImportOnly = true
	ik, err := svc.CreateCryptoKey(ctx, kms.CreateKeyRequest{Parent: ring, ID: "imp", Key: imp, SkipInitialVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	job, err := svc.CreateImportJob(ctx, ring, "j", kms.ImportJob{ImportMethod: kms.RSAOAEP3072SHA256, ProtectionLevel: kms.Software})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(job.PublicKeyPEM))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kms.ImportRequest{Parent: ik.Key.Name, Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", ImportJob: job.Name, WrappedKey: wrapped}
	iv1, err := svc.ImportCryptoKeyVersion(ctx, req) // ENABLED
	if err != nil {
		t.Fatal(err)
	}
	bad := req
	bad.WrappedKey = bytes.Repeat([]byte{1}, len(wrapped))
	failed, err := svc.ImportCryptoKeyVersion(ctx, bad) // IMPORT_FAILED
	if err != nil || failed.State != kms.ImportFailed {
		t.Fatalf("failed import = %+v, %v", failed, err)
	}
	iv3, err := svc.ImportCryptoKeyVersion(ctx, req) // destroyed below, then re-imported
	if err != nil {
		t.Fatal(err)
	}
	iv4, err := svc.ImportCryptoKeyVersion(ctx, req) // destroyed below, stays so
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{v3.Name, iv3.Name, iv4.Name} {
		must(svc.DestroyCryptoKeyVersion(ctx, v))
	}
	must(svc.RestoreCryptoKeyVersion(ctx, v3.Name))
	must(svc.DestroyCryptoKeyVersion(ctx, v3.Name))
	advance(25 * time.Hour)
	svc.SchedulerPass(ctx) // v2, v3, iv3 and iv4 DESTROYED
	reimport := req
	reimport.CryptoKeyVersion = iv3.Name
	if v, err := svc.ImportCryptoKeyVersion(ctx, reimport); err != nil || v.State != kms.Enabled {
		t.Fatalf("re-import = %+v, %v", v, err)
	}
	advance(kms.ImportJobLifetime)
	svc.SchedulerPass(ctx) // the job EXPIRED
	if j, err := svc.GetImportJob(ctx, job.Name); err != nil || j.State != kms.ImportJobExpired {
		t.Fatalf("job = %+v, %v", j, err)
	}
	states := map[kms.State]int{}
	for _, name := range []string{gen.Primary.Name, v2.Name, v3.Name, iv1.Name, failed.Name, iv3.Name, iv4.Name} {
		v, err := svc.GetCryptoKeyVersion(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		states[v.State]++
	}
	if states[kms.Destroyed] != 3 || states[kms.ImportFailed] != 1 || states[kms.Disabled] != 1 || states[kms.Enabled] != 2 {
		t.Fatalf("states = %v", states)
	}

	rep, err := integrity.Scan(context.Background(), st, ks)
	if err != nil || !rep.OK {
		t.Fatalf("Scan of an honest store = %+v, %v", rep, err)
	}
	// The material of gen/1 (disabled), imp/1 and imp/3 (re-imported),
	// and the barrier key; the expired job's private key is gone.
	if rep.Sealed != 4 {
		t.Errorf("sealed = %d, want 4", rep.Sealed)
	}
}

// TestScanEndsOnAStoreOutOfOrder: a database altered outside Custos so that
// its records no longer come in name order (here: the records table's
// STRICT dropped through writable_schema, and rows named by BLOBs, which
// SQLite sorts after every TEXT) must not keep the scan walking forever,
// holding the one-scan-at-a-time slot and never reporting: the scan ends,
// with an error, at once.
func TestScanEndsOnAStoreOutOfOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	root := bytes.Repeat([]byte{5}, 32)
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(ctx, st, root)
	if err != nil {
		t.Fatal(err)
	}
	// Enough records that the walk takes more than one page.
	err = st.Update(ctx, func(tx storage.Tx) error {
		for i := range 700 {
			r := storage.Record{Kind: "junk", Name: fmt.Sprintf("junk/%05d", i), Data: []byte("x")}
			ks.Sign(&r)
			if err := tx.Create(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"PRAGMA writable_schema=ON",
		"UPDATE sqlite_schema SET sql = replace(sql, ') STRICT', ')') WHERE name = 'records'",
		"PRAGMA writable_schema=OFF",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		_, err := db.Exec("INSERT INTO records (name, kind, parent, due, rev, data, mac) VALUES (?, 'junk', '', 0, 1, x'00', x'00')",
			[]byte(fmt.Sprintf("blob/%05d", i)))
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if ks, err = keystore.Open(ctx, st, root); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := integrity.Scan(sctx, st, ks)
	if err == nil || sctx.Err() != nil {
		t.Fatalf("Scan of a store out of order = %+v (%d records read), %v after %v; want an error at once, not a walk to the deadline",
			rep.ProblemCount, rep.Records, err, time.Since(start).Round(time.Millisecond))
	}
	if !strings.Contains(err.Error(), "order") {
		t.Errorf("Scan error %q: want one that says the records are out of order", err)
	}
}

// TestScannerCancelledIsNoFailure: a scan cut short by its caller (an admin
// whose client gave up, --timeout, a server stopping) says nothing about
// the store: it is not counted as a scan that failed, which is what an
// operator alerts on, nor logged as an error.
func TestScannerCancelledIsNoFailure(t *testing.T) {
	e := newEnv(t)
	src := &slowSource{Store: e.st}
	var logged strings.Builder
	s := integrity.NewScanner(src, e.ks, slog.New(slog.NewTextHandler(&logged, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := s.Scan(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Scan() cut short = %v, want the context's error", err)
	}
	m := metricsText(t, s)
	if !strings.Contains(m, `custos_integrity_scans_total{result="failed"} 0`) {
		t.Errorf("a cancelled scan counted as failed:\n%s", m)
	}
	if strings.Contains(logged.String(), "level=ERROR") {
		t.Errorf("a cancelled scan logged as an error: %s", logged.String())
	}
	// A store that fails is still a failure.
	src.failing.Store(true)
	if _, err := s.Scan(context.Background()); err == nil {
		t.Fatal("Scan() of a failing store: no error")
	}
	if m := metricsText(t, s); !strings.Contains(m, `custos_integrity_scans_total{result="failed"} 1`) {
		t.Errorf("a failed scan not counted:\n%s", m)
	}
}

// TestScanFindsARemovedVersion: key versions are never deleted, so a
// version record missing below its key's last version number was removed
// behind Custos's back, and its key material with it: every ciphertext made
// under it is lost, and a call meets NOT_FOUND, as if it never existed. The
// scan names the key.
func TestScanFindsARemovedVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc := kms.New(kms.Config{Store: e.st, Keystore: e.ks, Authorizer: allowAll{}, Logger: slog.New(slog.DiscardHandler)})
	actx := kms.WithCaller(ctx, &kms.Caller{Principal: "admin", Admin: true})
	// k-x and its versions sort between k and k's versions.
	other, err := svc.CreateCryptoKey(actx, kms.CreateKeyRequest{Parent: ring, ID: "k-x", Key: kms.CryptoKey{
		Purpose: alg.EncryptDecrypt, Template: kms.VersionTemplate{Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCryptoKeyVersion(actx, other.Key.Name, ""); err != nil {
		t.Fatal(err)
	}
	if rep := e.scan(t); !rep.OK {
		t.Fatalf("clean store: %+v", rep.Problems)
	}
	err = e.st.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Delete(ctx, e.v1); err != nil {
			return err
		}
		return tx.Delete(ctx, other.Primary.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.scan(t)
	wantProblem(t, rep, e.key, "1 of them are missing")
	wantProblem(t, rep, other.Key.Name, "1 of them are missing")
	if rep.ProblemCount != 2 {
		t.Errorf("problems = %d, want 2: %+v", rep.ProblemCount, rep.Problems)
	}
	for _, p := range rep.Problems {
		if p.Kind != "cryptokey" {
			t.Errorf("problem %+v: want kind cryptokey", p)
		}
	}
}

// growingSource creates, before its second page, a version of a key the
// first page held and a new key with its first version, as a server
// serving meanwhile does.
type growingSource struct {
	*sqlite.Store
	pages atomic.Int32
	grow  func()
}

func (s *growingSource) Walk(ctx context.Context, after string, limit int) ([]storage.Record, error) {
	if s.pages.Add(1) == 2 {
		s.grow()
	}
	return s.Store.Walk(ctx, after, limit)
}

// TestScanOfAGrowingStore: versions and keys created between two pages of
// the walk are no missing versions.
func TestScanOfAGrowingStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Signed filler between the key and its versions, so that the walk
	// reads the key on its first page and the versions on a later one.
	e.fill(t, e.key+"/aa", 1200)
	svc := kms.New(kms.Config{Store: e.st, Keystore: e.ks, Authorizer: allowAll{}, Logger: slog.New(slog.DiscardHandler)})
	actx := kms.WithCaller(ctx, &kms.Caller{Principal: "admin", Admin: true})
	src := &growingSource{Store: e.st, grow: func() {
		for range 3 {
			if _, err := svc.CreateCryptoKeyVersion(actx, e.key, ""); err != nil {
				t.Error(err)
			}
		}
		_, err := svc.CreateCryptoKey(actx, kms.CreateKeyRequest{Parent: ring, ID: "a-new", Key: kms.CryptoKey{
			Purpose: alg.EncryptDecrypt, Template: kms.VersionTemplate{Algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION"},
		}})
		if err != nil {
			t.Error(err)
		}
	}}
	rep, err := integrity.Scan(ctx, src, e.ks)
	if err != nil || !rep.OK {
		t.Fatalf("Scan() of a store growing meanwhile = %+v, %v", rep, err)
	}
	if src.pages.Load() < 3 {
		t.Fatalf("the walk took %d pages, want several", src.pages.Load())
	}
}

// timedSource records when each walk started and ended; each takes 10 ms.
type timedSource struct {
	*sqlite.Store
	mu     sync.Mutex
	starts []time.Time
	ends   []time.Time
}

func (s *timedSource) Walk(ctx context.Context, after string, limit int) ([]storage.Record, error) {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
	page, err := s.Store.Walk(ctx, after, limit)
	s.mu.Lock()
	s.ends = append(s.ends, time.Now())
	s.mu.Unlock()
	return page, err
}

// TestScheduledScansArePaced: between two pages a scheduled scan waits
// three times as long as the page took (a lower bound: timers never fire
// early).
func TestScheduledScansArePaced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fill(t, "filler", 250) // several pages
	src := &timedSource{Store: e.st}
	rep, err := integrity.ScanScheduled(ctx, src, e.ks)
	if err != nil || !rep.OK {
		t.Fatalf("paced scan: %+v, %v", rep, err)
	}
	if len(src.starts) < 3 {
		t.Fatalf("%d pages, want several", len(src.starts))
	}
	for i := 1; i < len(src.starts); i++ {
		took := src.ends[i-1].Sub(src.starts[i-1])
		if gap := src.starts[i].Sub(src.ends[i-1]); gap < 3*took-time.Millisecond {
			t.Errorf("page %d: waited %v after a page of %v, want at least 3 times as long", i, gap, took)
		}
	}
}

// fill adds n signed records of kind filler named prefix/00000 and on.
func (e *env) fill(t *testing.T, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	err := e.st.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			r := storage.Record{Kind: "filler", Name: fmt.Sprintf("%s/%05d", prefix, i), Data: []byte("x")}
			e.ks.Sign(&r)
			if err := tx.Create(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScanFindsADestroyedVersionPutBack: the version the scheduler
// destroyed (as the audit log proves) holding its material again, its
// record put back from an older copy of the store with its MAC intact, is
// named; the store before that passes.
func TestScanFindsADestroyedVersionPutBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	before, err := e.st.Get(ctx, e.v2) // DESTROY_SCHEDULED, with its material
	if err != nil {
		t.Fatal(err)
	}
	later := kms.New(kms.Config{Store: e.st, Keystore: e.ks, Authorizer: allowAll{}, Auditor: e.log,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	later.SchedulerPass(ctx)
	if rep := e.scan(t); !rep.OK {
		t.Fatalf("after the destruction: %+v", rep.Problems)
	}
	e.rewrite(t, e.v2, false, func(r *storage.Record) {
		if r.Kind != before.Kind {
			t.Fatalf("kind %s", r.Kind)
		}
		rev := r.Rev
		*r = before
		r.Rev = rev
	})
	rep := e.scan(t)
	wantProblem(t, rep, e.v2, "the audit log records its destruction")
	if rep.ProblemCount != 1 {
		t.Errorf("problems: %+v, want only the version put back", rep.Problems)
	}
}

// TestScanFindsACredentialPutBack: an API key the audit log records as
// revoked, or as one of a deleted app, that is live again in the store
// (its record put back from an older copy, its MAC intact) is named; a
// key of an app made again under the same name afterwards is not.
func TestScanFindsACredentialPutBack(t *testing.T) {
	e := newEnv(t)
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	apps := e.apps(t)
	newKey := func(app string) storage.Record {
		t.Helper()
		k, err := apps.CreateKey(ctx, auth.CreateKeyRequest{App: app, Format: auth.FormatAPIKey})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := e.st.Get(ctx, "appkeys/"+k.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	for _, name := range []string{"billing", "gone"} {
		if _, err := apps.CreateApp(ctx, auth.CreateAppRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	revoked := newKey("billing")
	id := strings.TrimPrefix(revoked.Name, "appkeys/")
	if _, err := apps.RevokeKey(ctx, "billing", id); err != nil {
		t.Fatal(err)
	}
	deleted := newKey("gone")
	if err := apps.DeleteApp(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.CreateApp(ctx, auth.CreateAppRequest{Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	newKey("gone") // the new app's: legitimate
	if rep := e.scan(t); !rep.OK {
		t.Fatalf("before anything was put back: %+v", rep.Problems)
	}

	e.putBack(t, revoked)
	e.putBack(t, deleted)
	rep := e.scan(t)
	wantProblem(t, rep, revoked.Name, "records its revocation")
	wantProblem(t, rep, deleted.Name, "the app's deletion")
	if rep.ProblemCount != 2 {
		t.Errorf("problems: %+v, want the two keys put back", rep.Problems)
	}
}

// TestScanFindsADataAccessSettingUndone: a data-access setting put back
// from an older copy (recording turned off again) or removed disagrees
// with the last value the proven log gave it, and is named; one changed
// through the API while the scan runs is not.
func TestScanFindsADataAccessSettingUndone(t *testing.T) {
	e := newEnv(t)
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	if err := e.log.SetDataAccess(ctx, ring, false); err != nil {
		t.Fatal(err)
	}
	off, err := e.st.Get(ctx, audit.ConfigPrefix+ring)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{ring, e.key} {
		if err := e.log.SetDataAccess(ctx, res, true); err != nil {
			t.Fatal(err)
		}
	}
	if rep := e.scan(t); !rep.OK {
		t.Fatalf("settings as the log says: %+v", rep.Problems)
	}

	// Changed through the API between two pages of the walk (filler
	// puts the settings on a later page than the first).
	e.fill(t, "aaa", 250)
	src := &growingSource{Store: e.st, grow: func() {
		if err := e.log.SetDataAccess(ctx, e.key, false); err != nil {
			t.Error(err)
		}
	}}
	if rep, err := integrity.Scan(ctx, src, e.ks); err != nil || !rep.OK {
		t.Fatalf("a setting changed while the scan ran: %+v, %v", rep.Problems, err)
	}

	e.rewrite(t, off.Name, false, func(r *storage.Record) {
		rev := r.Rev
		*r = off
		r.Rev = rev
	})
	if err := e.st.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, audit.ConfigPrefix+e.key) }); err != nil {
		t.Fatal(err)
	}
	rep := e.scan(t)
	wantProblem(t, rep, audit.ConfigPrefix+ring, "the audit log records it set on last")
	wantProblem(t, rep, audit.ConfigPrefix+e.key, "is missing")
	if rep.ProblemCount != 2 {
		t.Errorf("problems: %+v, want the two settings", rep.Problems)
	}
}

// TestScanFindsAnAppPutBack: an app the proven log records as disabled
// last that is enabled in the store, or as deleted that is there again
// (records put back from an older copy), is named; one enabled through the
// API while the scan runs is not.
func TestScanFindsAnAppPutBack(t *testing.T) {
	e := newEnv(t)
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	apps := e.apps(t)
	saved := map[string]storage.Record{}
	for _, name := range []string{"paused", "dropped", "busy"} {
		if _, err := apps.CreateApp(ctx, auth.CreateAppRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		rec, err := e.st.Get(ctx, "apps/"+name)
		if err != nil {
			t.Fatal(err)
		}
		saved[name] = rec
	}
	for _, name := range []string{"paused", "busy"} {
		if _, err := apps.DisableApp(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := apps.DeleteApp(ctx, "dropped"); err != nil {
		t.Fatal(err)
	}
	e.fill(t, "aaa", 250) // the apps on a later page than the first
	src := &growingSource{Store: e.st, grow: func() {
		if _, err := apps.EnableApp(ctx, "busy"); err != nil {
			t.Error(err)
		}
	}}
	if rep, err := integrity.Scan(ctx, src, e.ks); err != nil || !rep.OK {
		t.Fatalf("an app enabled while the scan ran: %+v, %v", rep.Problems, err)
	}

	for _, name := range []string{"paused", "dropped"} {
		e.putBack(t, saved[name])
	}
	rep := e.scan(t)
	wantProblem(t, rep, "apps/paused", "records it disabled last")
	wantProblem(t, rep, "apps/dropped", "records as deleted")
	if rep.ProblemCount != 2 {
		t.Errorf("problems: %+v, want the two apps", rep.Problems)
	}
}

// apps returns the apps of the env's store, recorded in its audit log.
func (e *env) apps(t *testing.T) *auth.Apps {
	t.Helper()
	apps, err := auth.NewApps(auth.AppsConfig{Store: e.st, Keystore: e.ks, Authorizer: allowAll{}, Auditor: e.log,
		PublicURL: "https://kms.example.com", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return apps
}

// putBack writes old over the record of its name (or in its place), as
// someone restoring it from an older copy of the store would: its MAC is
// its own.
func (e *env) putBack(t *testing.T, old storage.Record) {
	t.Helper()
	ctx := context.Background()
	err := e.st.Update(ctx, func(tx storage.Tx) error {
		cur, err := tx.Get(ctx, old.Name)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		old.Rev = cur.Rev
		return tx.Put(ctx, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}
