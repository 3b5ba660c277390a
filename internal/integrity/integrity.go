// SPDX-License-Identifier: Apache-2.0

// Package integrity scans a whole store for damage and tampering: every
// record's MAC, every sealed value (key material, import jobs' wrapping
// keys, the barrier key), what each record of a known kind holds, and the
// audit chain. A server checks a record when it reads it; the scan finds
// what nobody has read yet (a version of a key called once a year, the
// material of a disabled version), before it is needed.
//
// The scan reads pages of records through [storage.Walker], each page its
// own read, so a live server keeps serving meanwhile; it writes nothing.
package integrity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/storage"
)

// MaxProblems bounds the problems a report lists; ProblemCount counts them
// all.
const MaxProblems = 100

// pageSize is how many records one read of the walk returns: an audit
// record may hold 512 entries, so a page of them is already megabytes.
const pageSize = 100

// Source is a store the scan can read whole: the SQLite store is one.
type Source interface {
	storage.Reader
	storage.Walker
}

// Report is the outcome of a scan. Its JSON form is what the admin route
// answers and what `custos store verify -o json` prints.
type Report struct {
	// OK is true when no problem was found.
	OK bool `json:"ok"`
	// Records is how many records were read; every one's MAC was checked.
	Records int64 `json:"records"`
	// Sealed is how many sealed values were opened (key material, import
	// jobs' private keys, the barrier key, a dev admin token).
	Sealed int64 `json:"sealed"`
	// AuditEntries is how many audit entries the chain check walked.
	AuditEntries int64 `json:"auditEntries"`
	// ProblemCount counts every problem; Problems lists the first
	// MaxProblems: the damaged records in name order, then the keys whose
	// versions are missing, then the audit chain.
	ProblemCount int64     `json:"problemCount"`
	Problems     []Problem `json:"problems"`
}

// Problem is one record that failed a check. It names the record and what
// is wrong, never what it holds.
type Problem struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Problem string `json:"problem"`
}

// Scan reads every record of st and checks it with ks: its MAC, then, by
// kind, what it holds (see [kms.RecordChecks] and
// [keystore.Keystore.CheckSystem]), that no key version is missing
// ([kms.VersionCensus]), that no version the audit log records as
// destroyed holds key material again ([kms.CheckStillDestroyed]), that no
// credential the log records as revoked, or whose app it records as
// deleted, is live again ([auth.KeyLog]), that every data-access setting
// holds what the log set last ([audit.ConfigLog]), and the
// audit chain ([audit.VerifyEach]).
// It returns an error only when the scan could not run to its end (the
// store failed, ctx ended); damage is reported in the Report.
func Scan(ctx context.Context, st Source, ks *keystore.Keystore) (Report, error) {
	return scan(ctx, st, ks, 0)
}

// scan is Scan; with idle > 0 it waits after each page idle times as long
// as the page took, so that a scheduled scan takes a share of one core
// (1 / (1+idle)) from the calls the server answers meanwhile.
func scan(ctx context.Context, st Source, ks *keystore.Keystore, idle int) (Report, error) {
	rep := Report{Problems: []Problem{}}
	// The audit log first: what it proves (the destructions the scheduler
	// made) is checked against the records below.
	destroyed := map[string]time.Time{}
	keys := auth.NewKeyLog()
	configs := audit.NewConfigLog()
	ar, err := audit.VerifyEach(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32), func(e *audit.Entry) {
		configs.Note(e)
		if e.Status != "OK" {
			return
		}
		if e.Method == "DestroyCryptoKeyVersion" && e.Principal == kms.SchedulerPrincipal {
			destroyed[e.Resource] = e.Time
		}
		keys.Note(e.Method, e.Details, e.Time)
	})
	if err != nil {
		return Report{}, fmt.Errorf("integrity: verify the audit log: %w", err)
	}
	checks := kms.RecordChecks()
	checks[keystore.KindSystem] = func(_ kms.Unsealer, r storage.Record) (int, error) { return ks.CheckSystem(r) }
	census := kms.NewVersionCensus()
	var suspects []Problem // apps and data-access settings that disagree with the log
	after := ""
	for {
		start := time.Now()
		page, err := st.Walk(ctx, after, pageSize)
		if err != nil {
			return Report{}, fmt.Errorf("integrity: read the records after %q: %w", after, err)
		}
		for _, r := range page {
			// Each page must go on from the last: a database altered
			// outside Custos can hand back names out of order (SQLite
			// sorts a BLOB name after every TEXT one), and a walk that
			// does not move forward would read the store again and
			// again, forever.
			if r.Name <= after {
				return Report{}, fmt.Errorf("integrity: the store returned the record %q after %q: its records are not in name order (was the database altered outside Custos?)", r.Name, after)
			}
			after = r.Name
			rep.Records++
			verified, err := checkRecord(ks, checks, r, &rep.Sealed)
			if at, ok := destroyed[r.Name]; ok && verified && err == nil {
				err = kms.CheckStillDestroyed(r, at)
			}
			if verified && err == nil {
				if err = keys.Check(r); err != nil && r.Kind == auth.KindApp {
					suspects = append(suspects, Problem{Name: r.Name, Kind: string(r.Kind), Problem: err.Error()})
					err = nil
				}
			}
			if verified && err == nil {
				if cerr := configs.Check(r); cerr != nil {
					suspects = append(suspects, Problem{Name: r.Name, Kind: string(r.Kind), Problem: cerr.Error()})
				}
			}
			if err != nil {
				rep.add(Problem{Name: r.Name, Kind: string(r.Kind), Problem: err.Error()})
			}
			census.Add(r, verified)
		}
		if len(page) < pageSize {
			break
		}
		if idle > 0 {
			if err := sleep(ctx, time.Duration(idle)*time.Since(start)); err != nil {
				return Report{}, err
			}
		}
	}
	census.Missing(func(key string, kind storage.Kind, err error) {
		rep.add(Problem{Name: key, Kind: string(kind), Problem: err.Error()})
	})
	configs.Missing(func(name string, err error) {
		suspects = append(suspects, Problem{Name: name, Kind: string(audit.KindConfig), Problem: err.Error()})
	})
	if err := confirmSettings(ctx, st, ks, suspects, &rep); err != nil {
		return Report{}, err
	}
	rep.AuditEntries = ar.Entries
	if !ar.OK {
		where := "the audit chain is broken"
		if ar.FirstBadSeq > 0 {
			where += fmt.Sprintf(" at entry %d", ar.FirstBadSeq)
		}
		// Listed even past MaxProblems: it is one problem of its own kind.
		rep.ProblemCount++
		rep.Problems = append(rep.Problems, Problem{Name: audit.HeadName, Kind: string(audit.KindSystem), Problem: where + ": " + ar.Problem})
	}
	rep.OK = rep.ProblemCount == 0
	return rep, nil
}

// confirmSettings reports the apps and data-access settings that
// disagreed with the log and still do with the log read again: one changed
// while the scan ran has its entry written after the store, so it may
// disagree with the log read before, never with one read after.
func confirmSettings(ctx context.Context, st Source, ks *keystore.Keystore, suspects []Problem, rep *Report) error {
	if len(suspects) == 0 {
		return nil
	}
	again, apps := audit.NewConfigLog(), auth.NewKeyLog()
	_, err := audit.VerifyEach(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32), func(e *audit.Entry) {
		again.Note(e)
		if e.Status == "OK" {
			apps.Note(e.Method, e.Details, e.Time)
		}
	})
	if err != nil {
		return fmt.Errorf("integrity: read the audit log again: %w", err)
	}
	for _, p := range suspects {
		var now *storage.Record
		r, err := st.Get(ctx, p.Name)
		switch {
		case err == nil:
			now = &r
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("integrity: read %s again: %w", p.Name, err)
		}
		switch {
		case p.Kind == string(auth.KindApp):
			if now != nil && apps.Check(*now) != nil {
				rep.add(p)
			}
		case !again.Agrees(p.Name, now):
			rep.add(p)
		}
	}
	return nil
}

// checkRecord checks one record: its MAC first, since nothing in a record
// whose MAC fails may be trusted, not even its kind. verified says whether
// the MAC verified.
func checkRecord(ks *keystore.Keystore, checks map[storage.Kind]kms.RecordCheck, r storage.Record, sealed *int64) (verified bool, err error) {
	if err := ks.Verify(r); err != nil {
		if errors.Is(err, keystore.ErrTampered) {
			return false, errors.New("its MAC does not verify: the record was altered, or written without the root key")
		}
		return false, err
	}
	check := checks[r.Kind]
	if check == nil {
		return true, nil
	}
	n, err := check(ks, r)
	*sealed += int64(n)
	return true, err
}

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *Report) add(p Problem) {
	r.ProblemCount++
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// Scanner runs scans of one store: one at a time (a second waits for the
// first), each logged and counted for /metrics, on demand ([Scanner.Scan])
// and on a schedule ([Scanner.Run]).
type Scanner struct {
	src Source
	ks  *keystore.Keystore
	log *slog.Logger
	now func() time.Time
	one chan struct{} // held by the running scan

	mu       sync.Mutex
	last     Report    // of the last scan that ran to its end
	lastEnd  time.Time // zero before the first
	ok       uint64    // scans that found nothing
	damaged  uint64    // scans that found problems
	failures uint64    // scans that could not run to their end (not those ctx cut short)
}

// NewScanner returns a Scanner of src with ks. log may be nil.
func NewScanner(src Source, ks *keystore.Keystore, log *slog.Logger) *Scanner {
	if log == nil {
		log = slog.Default()
	}
	return &Scanner{src: src, ks: ks, log: log, now: time.Now, one: make(chan struct{}, 1)}
}

// Scan runs one scan once no other runs, logs its outcome (an error-level
// line naming the first problem when it finds any) and counts it. A scan
// that ctx cuts short is logged, not counted: it says nothing of the store.
func (s *Scanner) Scan(ctx context.Context) (Report, error) {
	return s.run(ctx, 0)
}

// scheduledIdle paces the scans Run starts: a quarter of one core.
const scheduledIdle = 3

// run is Scan, with scan's idle.
func (s *Scanner) run(ctx context.Context, idle int) (Report, error) {
	select {
	case s.one <- struct{}{}:
		defer func() { <-s.one }()
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
	start := s.now()
	rep, err := scan(ctx, s.src, s.ks, idle)
	took := s.now().Sub(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil:
		// Cut short by its caller (a client that gave up, a server
		// stopping): no verdict on the store, and no failure of it.
		s.log.Info("integrity scan cancelled", "err", err, "took", took)
	case err != nil:
		s.failures++
		s.log.Error("integrity scan could not finish", "err", err, "took", took)
	case rep.OK:
		s.ok++
		s.last, s.lastEnd = rep, s.now()
		s.log.Info("integrity scan: no problem", "records", rep.Records, "sealed", rep.Sealed, "auditEntries", rep.AuditEntries, "took", took)
	default:
		s.damaged++
		s.last, s.lastEnd = rep, s.now()
		first := rep.Problems[0]
		s.log.Error("integrity scan found damaged records: restore them from a backup", "problems", rep.ProblemCount,
			"records", rep.Records, "first", first.Name, "problem", first.Problem, "took", took)
	}
	return rep, err
}

// FirstScanAfter bounds the wait for the first scheduled scan, so that a
// server restarted more often than its interval still scans.
const FirstScanAfter = time.Hour

// Run scans every interval until ctx ends. The first scan comes after
// the interval or FirstScanAfter, whichever is shorter, so that a server
// starts at once. These scans go at a quarter of one core's pace, so
// that they take little from the calls the server answers meanwhile (on
// demand, Scan goes at full speed). interval <= 0 means never.
func (s *Scanner) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTimer(min(interval, FirstScanAfter))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.run(ctx, scheduledIdle) // logged and counted; nothing more to do with it here
			t.Reset(interval)
		}
	}
}

// WriteMetrics writes the scans' figures in the Prometheus text format.
func (s *Scanner) WriteMetrics(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("# HELP custos_integrity_scans_total Integrity scans of the store, by result (ok, damaged, failed: could not run to its end).\n")
	b.WriteString("# TYPE custos_integrity_scans_total counter\n")
	fmt.Fprintf(&b, "custos_integrity_scans_total{result=\"ok\"} %d\n", s.ok)
	fmt.Fprintf(&b, "custos_integrity_scans_total{result=\"damaged\"} %d\n", s.damaged)
	fmt.Fprintf(&b, "custos_integrity_scans_total{result=\"failed\"} %d\n", s.failures)
	if !s.lastEnd.IsZero() {
		b.WriteString("# HELP custos_integrity_problems Problems found by the last integrity scan that ran to its end.\n")
		b.WriteString("# TYPE custos_integrity_problems gauge\n")
		fmt.Fprintf(&b, "custos_integrity_problems %d\n", s.last.ProblemCount)
		b.WriteString("# HELP custos_integrity_records Records read by the last integrity scan that ran to its end.\n")
		b.WriteString("# TYPE custos_integrity_records gauge\n")
		fmt.Fprintf(&b, "custos_integrity_records %d\n", s.last.Records)
		b.WriteString("# HELP custos_integrity_last_scan_timestamp_seconds When the last integrity scan that ran to its end ended (Unix time).\n")
		b.WriteString("# TYPE custos_integrity_last_scan_timestamp_seconds gauge\n")
		fmt.Fprintf(&b, "custos_integrity_last_scan_timestamp_seconds %d\n", s.lastEnd.Unix())
	}
	_, err := io.WriteString(w, b.String())
	return err
}
