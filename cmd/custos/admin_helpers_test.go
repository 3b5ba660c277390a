// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// cmdEnvFile implements "envfile VAR FILE [REGEXP]": set VAR to the content
// of FILE (stdout and stderr name the last command's), trimmed, or to the
// first submatch of REGEXP in it. Scripts use it to carry a value that a
// command printed, such as an API key or a key id, into a later command.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! envfile")
	}
	if len(args) != 2 && len(args) != 3 {
		ts.Fatalf("usage: envfile VAR FILE [REGEXP]")
	}
	v := strings.TrimSpace(ts.ReadFile(args[1]))
	if len(args) == 3 {
		re, err := regexp.Compile(args[2])
		ts.Check(err)
		m := re.FindStringSubmatch(v)
		if len(m) < 2 {
			ts.Fatalf("envfile: %q does not match %s", args[2], args[1])
		}
		v = m[1]
	}
	ts.Setenv(args[0], v)
}

// cmdRecordTamper implements "recordtamper DB NAME": flip one bit in the
// middle of the stored data of record NAME in the SQLite database DB,
// behind Custos's back, leaving its MAC as it was.
func cmdRecordTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! recordtamper")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: recordtamper DB NAME")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0])+"?_pragma=busy_timeout(10000)")
	ts.Check(err)
	defer db.Close()
	var data []byte
	if err := db.QueryRow(`SELECT data FROM records WHERE name = ?`, args[1]).Scan(&data); err != nil {
		ts.Fatalf("recordtamper: reading %s: %v", args[1], err)
	}
	data[len(data)/2] ^= 0x01
	res, err := db.Exec(`UPDATE records SET data = ? WHERE name = ?`, data, args[1])
	ts.Check(err)
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		ts.Fatalf("recordtamper: updated %d rows (%v), want 1", n, err)
	}
}

// cmdAuditTamper implements "audittamper DB SEQ": flip one bit in the
// stored data of audit entry SEQ of the SQLite database DB, behind
// Custos's back, as someone with write access to the database could. The
// entry is in the record of the entries committed with it, named after
// the first of them ("audit/" + seq in 20 digits), one JSON object per
// line (see the storage layout in package audit). It works while a server
// has the database open (WAL).
func cmdAuditTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! audittamper")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: audittamper DB SEQ")
	}
	seq, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0])+"?_pragma=busy_timeout(10000)")
	ts.Check(err)
	defer db.Close()
	var name string
	var data []byte
	err = db.QueryRow(`SELECT name, data FROM records WHERE kind = 'audit' AND parent = 'audit' AND name <= ? ORDER BY name DESC LIMIT 1`,
		fmt.Sprintf("audit/%020d", seq)).Scan(&name, &data)
	if err != nil {
		ts.Fatalf("audittamper: reading the record of entry %d: %v", seq, err)
	}
	first, err := strconv.ParseInt(strings.TrimPrefix(name, "audit/"), 10, 64)
	ts.Check(err)
	lines := bytes.Split(data, []byte{'\n'})
	if seq-first >= int64(len(lines)) || len(lines[seq-first]) == 0 {
		ts.Fatalf("audittamper: entry %d is not in %s (%d entries)", seq, name, len(lines))
	}
	line := lines[seq-first]
	line[len(line)/2] ^= 0x01
	res, err := db.Exec(`UPDATE records SET data = ? WHERE name = ?`, bytes.Join(lines, []byte{'\n'}), name)
	ts.Check(err)
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		ts.Fatalf("audittamper: updated %d rows (%v), want 1", n, err)
	}
}
