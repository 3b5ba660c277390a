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

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/storage"
)

// MaxProblems bounds the problems a report lists; ProblemCount counts them
// all.
const MaxProblems = 100

// pageSize is how many records one read of the walk returns.
const pageSize = 500

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
	// MaxProblems, in name order (the audit chain's last).
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
// [keystore.Keystore.CheckSystem]), then the audit chain ([audit.Verify]).
// It returns an error only when the scan could not run to its end (the
// store failed, ctx ended); damage is reported in the Report.
func Scan(ctx context.Context, st Source, ks *keystore.Keystore) (Report, error) {
	rep := Report{Problems: []Problem{}}
	checks := kms.RecordChecks()
	checks[keystore.KindSystem] = func(_ kms.Unsealer, r storage.Record) (int, error) { return ks.CheckSystem(r) }
	after := ""
	for {
		page, err := st.Walk(ctx, after, pageSize)
		if err != nil {
			return Report{}, fmt.Errorf("integrity: read the records after %q: %w", after, err)
		}
		for _, r := range page {
			rep.Records++
			if err := checkRecord(ks, checks, r, &rep.Sealed); err != nil {
				rep.add(Problem{Name: r.Name, Kind: string(r.Kind), Problem: err.Error()})
			}
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].Name
	}
	ar, err := audit.Verify(ctx, st, ks, ks.Derive(audit.ChainKeyInfo, 32))
	if err != nil {
		return Report{}, fmt.Errorf("integrity: verify the audit log: %w", err)
	}
	rep.AuditEntries = ar.Entries
	if !ar.OK {
		where := "the audit chain is broken"
		if ar.FirstBadSeq > 0 {
			where += fmt.Sprintf(" at entry %d", ar.FirstBadSeq)
		}
		rep.add(Problem{Name: audit.HeadName, Kind: string(audit.KindSystem), Problem: where + ": " + ar.Problem})
	}
	rep.OK = rep.ProblemCount == 0
	return rep, nil
}

// checkRecord checks one record: its MAC first, since nothing in a record
// whose MAC fails may be trusted, not even its kind.
func checkRecord(ks *keystore.Keystore, checks map[storage.Kind]kms.RecordCheck, r storage.Record, sealed *int64) error {
	if err := ks.Verify(r); err != nil {
		if errors.Is(err, keystore.ErrTampered) {
			return errors.New("its MAC does not verify: the record was altered, or written without the root key")
		}
		return err
	}
	check := checks[r.Kind]
	if check == nil {
		return nil
	}
	n, err := check(ks, r)
	*sealed += int64(n)
	return err
}

func (r *Report) add(p Problem) {
	r.ProblemCount++
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, p)
	}
}
