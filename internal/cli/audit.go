// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/seal/devfile"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, export and verify the tamper-evident audit log",
		Long: `Read, export and verify the audit log, and choose where data access is
recorded, through the admin API (/admin/v1/audit).

Every admin action (create, update, state change, IAM, credential and quota
change) is recorded, whatever its outcome; data access (encrypt, decrypt,
sign, MAC, export) only where "custos audit config set RESOURCE
--data-access on" enabled it. An entry holds its sequence number, time,
principal and how it authenticated, the method as Cloud KMS names it, the
resource, the outcome (a gRPC code name), the request id, the client
address and any access justification; never data or key material.

Entries are chained with an HMAC under a key derived from the root key, so
that "custos audit verify" can prove the log whole, or name the first entry
altered, removed, reordered or cut off.`,
		Example: `  custos audit list --principal app:billing --status PERMISSION_DENIED
  custos audit list --after 2030-01-01T00:00:00Z --output json | jq .method
  custos audit export --out audit.jsonl
  custos audit verify
  custos audit verify --data ./custos-data
  custos audit config set projects/p/locations/global/keyRings/app --data-access on`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newAuditListCmd(g), newAuditExportCmd(g), newAuditVerifyCmd(g), newAuditConfigCmd(g))
	return cmd
}

// auditFilter holds the filter flags of audit list and export.
type auditFilter struct {
	after, before, principal, resource, method, status string
	limit                                              int
}

// statusNames are the gRPC code names an entry's status can hold.
var statusNames = []string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

func (f *auditFilter) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.after, "after", "", "only entries at or after `TIME` (RFC 3339)")
	fs.StringVar(&f.before, "before", "", "only entries before `TIME` (RFC 3339)")
	fs.StringVar(&f.principal, "principal", "", "only calls by `PRINCIPAL`, e.g. app:billing")
	fs.StringVar(&f.resource, "resource", "", "only entries on `NAME` and the resources below it")
	fs.StringVar(&f.method, "method", "", "only calls of `METHOD`, e.g. Encrypt or CreateCryptoKey")
	fs.StringVar(&f.status, "status", "", "only calls that ended with `STATUS`, a gRPC code name such as PERMISSION_DENIED")
	fs.IntVar(&f.limit, "limit", 0, "print at most `N` entries (default: all)")
}

// query checks the flags and returns the query parameters, without limit.
func (f *auditFilter) query() (url.Values, error) {
	q := url.Values{}
	for _, t := range []struct{ flag, v string }{{"after", f.after}, {"before", f.before}} {
		if t.v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, t.v); err != nil {
			return nil, usageErrorf("--%s: %q is not an RFC 3339 time like 2030-01-02T15:04:05Z", t.flag, t.v)
		}
		q.Set(t.flag, t.v)
	}
	if f.status != "" {
		s := strings.ToUpper(f.status)
		if !slices.Contains(statusNames, s) {
			return nil, usageErrorf("--status: unknown value %q; want a gRPC code name: %s", f.status, strings.Join(statusNames, ", "))
		}
		q.Set("status", s)
	}
	for k, v := range map[string]string{"principal": f.principal, "resource": f.resource, "method": f.method} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.limit < 0 {
		return nil, usageErrorf("--limit must not be negative")
	}
	return q, nil
}

const auditFilterHelp = `Filters: --after and --before bound the time (after <= time < before, RFC 3339),
--principal ("admin", "app:NAME"), --method ("Encrypt", "CreateApp") and
--status ("OK", "PERMISSION_DENIED") must match exactly, and --resource
selects the entries on a resource and below it (a key ring's include its
keys'). Without --resource the whole log is read, which needs the admin; with
it, custos.audit.list on that resource is enough (roles/custos.auditViewer).`

// auditFields are the fields of an entry in the order of the JSON lines
// contract of "custos audit list --output json".
var auditFields = []string{
	"seq", "time", "principal", "authMethod", "method", "resource",
	"status", "requestId", "clientAddress", "justification",
}

// auditLine formats one entry of the admin API as a JSON line: the fields
// of the contract first, in its order, every one present ("" when the
// server left a string out), time in RFC 3339 UTC; then any other field,
// by name. The line ends with a newline.
func auditLine(raw []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("decoding the server's answer: an audit entry is not a JSON object")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	write := func(k string, v []byte) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		return json.Compact(&b, v)
	}
	for _, k := range auditFields {
		v, ok := obj[k]
		switch {
		case k == "seq" && !ok:
			return nil, fmt.Errorf("decoding the server's answer: an audit entry has no seq")
		case k == "time" && ok:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("decoding the server's answer: audit entry time: %w", err)
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("decoding the server's answer: audit entry time %q is not RFC 3339", s)
			}
			v, _ = json.Marshal(t.UTC().Format(time.RFC3339Nano))
		case !ok:
			v = []byte(`""`)
		}
		if err := write(k, v); err != nil {
			return nil, fmt.Errorf("decoding the server's answer: audit entry field %s: %w", k, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if slices.Contains(auditFields, k) {
			continue
		}
		if err := write(k, obj[k]); err != nil {
			return nil, fmt.Errorf("decoding the server's answer: audit entry field %s: %w", k, err)
		}
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// auditEntry is the part of an entry the text table shows.
type auditEntry struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Method    string    `json:"method"`
	Resource  string    `json:"resource"`
	Status    string    `json:"status"`
}

// auditPage is the page size of audit list: the server's maximum.
const auditPage = 1000

func newAuditListCmd(g *globals) *cobra.Command {
	var f auditFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit log entries",
		Long: `List the entries of the audit log that the filters select, oldest first,
following every page (or up to --limit entries).

Text output is a table. --output json prints JSON lines, not an array: one
JSON object per line and entry, with the fields
{"seq","time","principal","authMethod","method","resource","status",
"requestId","clientAddress","justification"} in that order ("time" in RFC 3339
UTC, "status" a gRPC code name), followed by any other field the server keeps
("details", "hash").

` + auditFilterHelp,
		Example: `  custos audit list --limit 20
  custos audit list --principal app:billing --status PERMISSION_DENIED
  custos audit list --resource projects/p/locations/global/keyRings/app --method Decrypt -o json
  custos audit list --after 2030-01-01T00:00:00Z --before 2030-01-02T00:00:00Z -o json | jq -r .principal`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := f.query()
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				table := newTableStream(g.stdout, []string{"SEQ", "TIME", "PRINCIPAL", "METHOD", "RESOURCE", "STATUS"})
				n, err := listAudit(ctx, c, base, f.limit, func(raw json.RawMessage) error {
					if g.json() {
						line, err := auditLine(raw)
						if err != nil {
							return err
						}
						_, err = g.stdout.Write(line)
						return err
					}
					var e auditEntry
					if err := decodeJSON(raw, &e); err != nil {
						return err
					}
					table.row([]string{
						strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339),
						e.Principal, e.Method, e.Resource, e.Status,
					})
					return nil
				})
				if g.json() || (err != nil && n == 0) {
					return err
				}
				if n == 0 {
					notef(g.stderr, "no audit entries match")
					return nil
				}
				// The rows seen so far are printed, even when a later page
				// failed.
				if cerr := table.close(); err == nil {
					err = cerr
				}
				return err
			})
		},
	}
	f.add(cmd)
	return cmd
}

// listAudit calls fn with each entry that the query base selects, page
// after page, up to limit entries (0: all), and returns how many it saw.
func listAudit(ctx context.Context, c *client, base url.Values, limit int, fn func(json.RawMessage) error) (int, error) {
	n := 0
	var afterSeq int64
	for {
		page := auditPage
		if limit > 0 && limit-n < page {
			page = limit - n
		}
		q := cloneValues(base)
		q.Set("limit", strconv.Itoa(page))
		if afterSeq > 0 {
			q.Set("afterSeq", strconv.FormatInt(afterSeq, 10))
		}
		items, err := c.adminList(ctx, "/admin/v1/audit", "entries", q)
		if err != nil {
			return n, err
		}
		for _, raw := range items {
			var e struct {
				Seq int64 `json:"seq"`
			}
			if err := decodeJSON(raw, &e); err != nil {
				return n, err
			}
			if e.Seq <= afterSeq {
				return n, fmt.Errorf("the server answered entry %d after entry %d", e.Seq, afterSeq)
			}
			afterSeq = e.Seq
			if err := fn(raw); err != nil {
				return n, err
			}
			n++
		}
		if len(items) < page || limit > 0 && n >= limit {
			return n, nil
		}
	}
}

func newAuditExportCmd(g *globals) *cobra.Command {
	var (
		f   auditFilter
		out string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export the audit log as JSON lines",
		Long: `Write the audit log (or the entries the filters select) as JSON lines, one
entry per line as the server stores it (with its chain hash), oldest first,
to --out FILE or stdout. The output is JSON lines whatever --output says.

The export streams: it has no size limit, but a long one may need a larger
--timeout (0 for none). With --out, FILE (mode 0600) is replaced only once the
whole export has arrived; an export cut short is an error (exit status 1).

` + auditFilterHelp,
		Example: `  custos audit export --out audit.jsonl
  custos audit export --after 2030-01-01T00:00:00Z --timeout 0 | gzip > audit-2030.jsonl.gz`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := f.query()
			if err != nil {
				return err
			}
			if f.limit > 0 {
				q.Set("limit", strconv.Itoa(f.limit))
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				resp, err := c.request(ctx, http.MethodGet, "/admin/v1/audit:export", q, nil)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if out == "" || out == "-" {
					_, err := copyLines(g.stdout, resp.Body)
					return err
				}
				n, err := writeFileAtomic(out, func(w io.Writer) (int, error) { return copyLines(w, resp.Body) })
				if err != nil {
					return err
				}
				notef(g.stderr, "wrote %d audit entries to %s", n, out)
				return nil
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write to `FILE` instead of stdout")
	return cmd
}

// copyLines copies r to w and returns the number of lines copied. Each
// line must be a JSON object, and the input must end with a newline:
// anything after the last one means the stream was cut. The error says
// which.
func copyLines(w io.Writer, r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	var long []byte // a line longer than br's buffer, gathered
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if len(bytes.TrimSpace(line)) == 0 || line[0] != '{' || !json.Valid(line) {
				bw.Flush()
				return n, fmt.Errorf("the server's answer is not an audit export: line %d is not a JSON object", n+1)
			}
			if _, werr := bw.Write(line); werr != nil {
				return n, werr
			}
			n++
		}
		switch {
		case err == io.EOF && len(line) > 0:
			bw.Flush()
			return n, fmt.Errorf("the export was cut short: %w", io.ErrUnexpectedEOF)
		case err == io.EOF:
			return n, bw.Flush()
		case err != nil:
			bw.Flush()
			return n, fmt.Errorf("the export was cut short: %w", err)
		}
	}
}

// writeFileAtomic writes path (mode 0600) through a temporary file beside
// it that replaces path only if write succeeds.
func writeFileAtomic(path string, write func(io.Writer) (int, error)) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	n, err := write(tmp)
	if err != nil {
		tmp.Close()
		return n, fmt.Errorf("%s was not written: %w", path, err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return n, fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("--out: %w", err)
	}
	return n, nil
}

// auditBrokenError is the verdict of a verification that failed: exit
// status 1.
type auditBrokenError struct{ rep audit.Report }

func (e *auditBrokenError) Error() string {
	if e.rep.FirstBadSeq == 0 {
		return fmt.Sprintf("the audit log is not whole: %s (%d entries verified before it)", e.rep.Problem, e.rep.Entries)
	}
	return fmt.Sprintf("the audit log is not whole: first bad entry is seq %d: %s", e.rep.FirstBadSeq, e.rep.Problem)
}

// cannotRun marks err, which kept audit verify from reaching a verdict,
// for exit status 2, keeping the hint that fits err.
func cannotRun(cmd *cobra.Command, err error) error {
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	return withHint(&usageError{err: err}, hintFor(cmd, err))
}

// Files of a server's data folder that offline verification reads.
const (
	dataDBFile      = "custos.db"
	dataRootKeyFile = "root-key"
)

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var dataDir, rootKeyFile string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove that the audit log is whole, or name the first bad entry",
		Long: `Verify the audit log: check that its entries are numbered without gap, that
each record is authenticated, that each entry's hash chains to the previous
one under the chain key (derived from the root key), and that the head record
names the last entry, so that an entry altered, removed, reordered, forged or
cut off the end is found.

Without --data the server verifies its own log (the admin only). With --data
DIR the log is verified OFFLINE, with no server: the command reads DIR/custos.db
and the root key (DIR/root-key, the dev layout, or --root-key-file FILE). This
one command is a local tool and uses the server's own storage, keystore and
audit code rather than the API. It never writes to the database in DIR: it
reads a consistent snapshot of it into a temporary folder, so it may run while
a server uses DIR.

Exit status: 0 when the chain is whole (a line says how many entries);
1 when it is not (the error names the first bad entry's seq); 2 when the
verification could not run (a bad flag, no server, no permission, no store
in DIR, a wrong root key). --output json prints the report,
{"entries","ok","firstBadSeq","problem"}, whatever the verdict.`,
		Example: `  custos audit verify
  custos audit verify --data ./custos-data
  custos audit verify --data /var/lib/custos --root-key-file /etc/custos/root-key -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := g.verifyAudit(cmd, dataDir, rootKeyFile)
			var be *auditBrokenError
			if err != nil && !errors.As(err, &be) {
				return cannotRun(cmd, err)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "verify offline the data folder `DIR` of a server")
	cmd.Flags().StringVar(&rootKeyFile, "root-key-file", "", "root key `FILE` for --data (default DIR/root-key)")
	return cmd
}

// verifyAudit runs audit verify and prints its report.
func (g *globals) verifyAudit(cmd *cobra.Command, dataDir, rootKeyFile string) error {
	rep, err := verifyReport(g, cmd, dataDir, rootKeyFile, "/admin/v1/audit:verify", decodeReport,
		func(ctx context.Context, store *sqlite.Store, ks *keystore.Keystore) (audit.Report, error) {
			rep, err := audit.Verify(ctx, store, ks, ks.Derive(audit.ChainKeyInfo, 32))
			if err != nil {
				return audit.Report{}, fmt.Errorf("verifying %s: %w", filepath.Join(dataDir, dataDBFile), err)
			}
			return rep, nil
		})
	if err != nil {
		return err
	}
	if !rep.OK {
		return &auditBrokenError{rep: rep}
	}
	if !g.json() {
		where := "audit log"
		if dataDir != "" {
			where = "audit log in " + dataDir + " (offline)"
		}
		fmt.Fprintf(g.stdout, "%s verified: %d entries, the chain is whole\n", where, rep.Entries)
	}
	return nil
}

// decodeReport decodes the server's verification report. An answer that
// is not a report (no "ok", or a failure that says nothing) is an error,
// so that it makes exit status 2 (no verdict) rather than 1 (the log is
// not whole): "{}" from a proxy is no proof of tampering.
func decodeReport(raw []byte, rep *audit.Report) error {
	var check struct {
		OK *bool `json:"ok"`
	}
	if err := decodeJSON(raw, &check); err != nil {
		return err
	}
	if err := decodeJSON(raw, rep); err != nil {
		return err
	}
	if check.OK == nil || !rep.OK && rep.Problem == "" || rep.OK && (rep.FirstBadSeq != 0 || rep.Problem != "") {
		return fmt.Errorf("decoding the server's answer: not a verification report: %s", snippet(raw))
	}
	return nil
}

// context returns the command's context bounded by --timeout.
func (g *globals) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if g.timeout > 0 {
		return context.WithTimeout(ctx, g.timeout)
	}
	return context.WithCancel(ctx)
}

// verifyReport runs a verification and returns its report: offline, with
// offline on a snapshot of the data folder dataDir, or on the server, which
// answers POST path with a report that decode checks. With --output json it
// prints the report, whatever the verdict.
func verifyReport[R any](g *globals, cmd *cobra.Command, dataDir, rootKeyFile, path string,
	decode func([]byte, *R) error, offline func(context.Context, *sqlite.Store, *keystore.Keystore) (R, error)) (R, error) {
	var rep R
	fs := cmd.Flags()
	if fs.Changed("data") && dataDir == "" {
		return rep, usageErrorf("--data must name a folder")
	}
	if fs.Changed("root-key-file") && dataDir == "" {
		return rep, usageErrorf("--root-key-file goes with --data DIR")
	}
	var err error
	if dataDir != "" {
		ctx, cancel := g.context(cmd)
		defer cancel()
		store, ks, done, oerr := openOffline(ctx, dataDir, rootKeyFile)
		if oerr != nil {
			return rep, oerr
		}
		defer done()
		rep, err = offline(ctx, store, ks)
	} else {
		err = g.do(cmd, func(ctx context.Context, c *client) error {
			raw, err := c.adminCall(ctx, http.MethodPost, path, nil, nil)
			if err != nil {
				return err
			}
			return decode(raw, &rep)
		})
	}
	if err == nil && g.json() {
		err = printValue(g.stdout, rep)
	}
	return rep, err
}

// openOffline opens, for reading, a snapshot of the store of the data
// folder dir and its keystore, with the root key in rootKeyFile (default
// DIR/root-key). It opens nothing in dir for writing: the database is
// copied first (sqlite.Open writes: it creates a missing schema, sets the
// journal mode, and checkpoints the WAL when it closes, and keystore.Open
// creates a missing barrier key). done closes the store and removes the
// snapshot.
func openOffline(ctx context.Context, dir, rootKeyFile string) (_ *sqlite.Store, _ *keystore.Keystore, done func(), err error) {
	dbPath := filepath.Join(dir, dataDBFile)
	st, err := os.Stat(dbPath)
	switch {
	case err != nil:
		return nil, nil, nil, withHint(fmt.Errorf("no Custos store in %s: %w", dir, err),
			"--data names the data folder of a server (its --data), which holds "+dataDBFile)
	case !st.Mode().IsRegular() || st.Size() == 0:
		return nil, nil, nil, fmt.Errorf("no Custos store in %s: %s is empty or not a file", dir, dbPath)
	}
	if rootKeyFile == "" {
		rootKeyFile = filepath.Join(dir, dataRootKeyFile)
	}
	// devfile.Open creates a missing key file: make sure it is there.
	if _, err := os.Stat(rootKeyFile); err != nil {
		return nil, nil, nil, withHint(fmt.Errorf("root key: %w", err),
			"a dev server keeps its root key in DIR/"+dataRootKeyFile+"; otherwise give --root-key-file FILE")
	}
	sl, err := devfile.Open(rootKeyFile)
	if err != nil {
		return nil, nil, nil, err
	}
	root, err := sl.RootKey(ctx)
	if err != nil {
		return nil, nil, nil, err
	}

	tmp, err := os.MkdirTemp("", "custos-verify-")
	if err != nil {
		return nil, nil, nil, err
	}
	var store *sqlite.Store
	cleanup := func() {
		if store != nil {
			store.Close()
		}
		os.RemoveAll(tmp)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	snap := filepath.Join(tmp, dataDBFile)
	if err := snapshotDB(ctx, dbPath, snap); err != nil {
		return nil, nil, nil, err
	}
	store, err = sqlite.Open(snap)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the snapshot of %s: %w", dbPath, err)
	}
	// A store a server has used holds the keystore's records; without
	// them keystore.Open would make a new barrier key, and the store
	// would verify as empty.
	sys, err := store.List(ctx, storage.ListOptions{Kind: keystore.KindSystem, Limit: 1})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading %s: %w", dbPath, err)
	}
	if len(sys) == 0 {
		return nil, nil, nil, fmt.Errorf("no Custos store in %s: %s holds no keystore", dir, dbPath)
	}
	ks, err := keystore.Open(ctx, store, root)
	if errors.Is(err, keystore.ErrWrongRootKey) {
		return nil, nil, nil, withHint(fmt.Errorf("the root key in %s does not open the store in %s", rootKeyFile, dir),
			"give the server's root key with --root-key-file FILE")
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening the keystore: %w", err)
	}
	return store, ks, cleanup, nil
}

// snapshotDB copies the SQLite database src, with what its write-ahead log
// holds, to dst as one consistent snapshot (VACUUM INTO, in one read
// transaction on a read-only connection), so that a server may keep writing
// to src meanwhile.
//
// A read-only connection to a database in WAL mode creates its -wal and
// -shm files when they are missing. When there is no -wal file, no server
// has the database open, and the snapshot is read with immutable=1, which
// creates nothing; if a -wal file shows up meanwhile (a server started),
// that snapshot is dropped and read again the shared way.
func snapshotDB(ctx context.Context, src, dst string) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	noWAL := func() bool {
		_, err := os.Lstat(abs + "-wal")
		return errors.Is(err, os.ErrNotExist)
	}
	if noWAL() {
		if err := vacuumInto(ctx, abs, "mode=ro&immutable=1", dst); err == nil && noWAL() {
			return nil
		}
	}
	return vacuumInto(ctx, abs, "mode=ro&_pragma=busy_timeout(10000)", dst)
}

// vacuumInto copies the database src, opened with the SQLite URI
// parameters params, into dst.
func vacuumInto(ctx context.Context, src, params, dst string) error {
	// VACUUM INTO wants a new or empty file; create it private first, since
	// it holds the store's (sealed) records.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	u := url.URL{Scheme: "file", Path: src, RawQuery: params}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	return nil
}

func newAuditConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Choose where data access is recorded",
		Long: `Show and set data-access recording on a project, location, key ring or crypto
key. Data access (encrypt, decrypt, sign, MAC, export) is recorded where it
is on: the setting of the resource itself, else of its nearest ancestor with
one; the default is off. Admin activity is always recorded. Each change is
itself recorded ("SetAuditConfig").

RESOURCE is projects/P, projects/P/locations/L, a key ring or a crypto key
name.`,
		Example: `  custos audit config set projects/p --data-access on
  custos audit config set projects/p/locations/global/keyRings/app/cryptoKeys/scratch --data-access off
  custos audit config get projects/p/locations/global/keyRings/app/cryptoKeys/db`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newAuditConfigGetCmd(g), newAuditConfigSetCmd(g))
	return cmd
}

// parseAuditConfigResource checks a resource that can carry a setting.
func parseAuditConfigResource(s string) (string, error) {
	return parseResource(s, "the name of a project (projects/P), location, key ring or crypto key",
		kindLocation, kindKeyRing, kindCryptoKey)
}

func auditConfigPath(res string) string { return "/admin/v1/auditConfig/" + res }

func newAuditConfigGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get RESOURCE",
		Short: "Show whether data access on a resource is recorded",
		Long: `Show whether data access on RESOURCE is recorded, as it applies to RESOURCE
(its own setting or the one it inherits).`,
		Example: `  custos audit config get projects/p/locations/global/keyRings/app/cryptoKeys/db
  custos audit config get projects/p -o json`,
		Args: exactArgs("RESOURCE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseAuditConfigResource(args[0])
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodGet, auditConfigPath(res), nil, nil)
				if err != nil {
					return err
				}
				return g.printAuditConfig(raw)
			})
		},
	}
}

func newAuditConfigSetCmd(g *globals) *cobra.Command {
	var dataAccess string
	cmd := &cobra.Command{
		Use:   "set RESOURCE --data-access on|off",
		Short: "Turn data-access recording on a resource on or off",
		Long: `Turn the recording of data access (encrypt, decrypt, sign, MAC, export) on
RESOURCE and below it on or off. A setting on a resource below overrides it.
Prints the setting.`,
		Example: `  custos audit config set projects/p --data-access on
  custos audit config set projects/p/locations/global/keyRings/app/cryptoKeys/scratch --data-access off`,
		Args: exactArgs("RESOURCE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseAuditConfigResource(args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data-access") {
				return usageErrorf("missing --data-access on|off")
			}
			var on bool
			switch strings.ToLower(dataAccess) {
			case "on", "true":
				on = true
			case "off", "false":
			default:
				return usageErrorf("--data-access must be on or off, not %q", dataAccess)
			}
			return g.do(cmd, func(ctx context.Context, c *client) error {
				raw, err := c.adminCall(ctx, http.MethodPut, auditConfigPath(res), nil, map[string]bool{"dataAccess": on})
				if err != nil {
					return err
				}
				return g.printAuditConfig(raw)
			})
		},
	}
	cmd.Flags().StringVar(&dataAccess, "data-access", "", "record data access: `on` or off")
	return cmd
}

// printAuditConfig prints a data-access setting.
func (g *globals) printAuditConfig(raw []byte) error {
	if g.json() {
		return printJSON(g.stdout, raw)
	}
	var cfg struct {
		Resource   string `json:"resource"`
		DataAccess bool   `json:"dataAccess"`
	}
	if err := decodeJSON(raw, &cfg); err != nil {
		return err
	}
	state := "off"
	if cfg.DataAccess {
		state = "on"
	}
	return printFields(g.stdout, []field{{"Resource", cfg.Resource}, {"Data access", state}})
}
