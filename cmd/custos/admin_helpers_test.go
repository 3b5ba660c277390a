// SPDX-License-Identifier: Apache-2.0

package main

import (
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

// cmdAuditTamper implements "audittamper DB SEQ": flip one bit in the
// stored data of audit entry SEQ (the record "audit/" + SEQ in 20 digits,
// see the storage layout in package audit) of the SQLite database DB,
// behind Custos's back, as someone with write access to the database
// could. It works while a server has the database open (WAL).
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
	name := fmt.Sprintf("audit/%020d", seq)
	var data []byte
	err = db.QueryRow(`SELECT data FROM records WHERE name = ? AND name LIKE 'audit/%'`, name).Scan(&data)
	if err != nil {
		ts.Fatalf("audittamper: reading %s: %v", name, err)
	}
	if len(data) == 0 {
		ts.Fatalf("audittamper: %s has no data", name)
	}
	data[len(data)/2] ^= 0x01
	res, err := db.Exec(`UPDATE records SET data = ? WHERE name = ?`, data, name)
	ts.Check(err)
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		ts.Fatalf("audittamper: updated %d rows (%v), want 1", n, err)
	}
}
