// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/custos-kms/custos/internal/integrity"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

func newStoreCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Check the server's store",
		Long: `Check the store of a server: its records, its sealed key material and its
audit chain, while it runs or offline from its data folder.`,
		Example: `  custos store verify
  custos store verify --data ./custos-data`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newStoreVerifyCmd(g))
	return cmd
}

func newStoreVerifyCmd(g *globals) *cobra.Command {
	var dataDir, rootKeyFile string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Scan the whole store for damaged or altered records and key material",
		Long: `Scan every record of the store: check its MAC (a record altered on disk, or
written by someone without the root key, fails it), check that a record of a
known kind can be read and names itself, that a key version's state and its
key material agree (a DESTROYED version holds none, an ENABLED one does),
open every sealed value (each version's key material, each import job's
wrapping private key, the barrier key) under the barrier key for its own
name, then verify the audit chain as "custos audit verify" does. Nothing is
changed; the plaintext of what is opened is forgotten at once.

A server checks a record whenever it uses it; the scan finds the damage
nobody has met yet (a version used once a year, a disabled one), while the
backups still hold a good copy.

Without --data the server scans its own store while it serves (the admin
only; one scan at a time). With --data DIR the store is scanned OFFLINE, with
no server, from a consistent snapshot of DIR/custos.db and the root key
(DIR/root-key, the dev layout, or --root-key-file FILE); it may run while a
server uses DIR. The scan has no time limit unless --timeout (or
CUSTOS_TIMEOUT) sets one.

Exit status: 0 when every check passed (a line says how much was read);
1 when a problem was found (each damaged record is named on stderr, the
first 100 of them); 2 when the scan could not run (a bad flag, no server, no
permission, no store in DIR, a wrong root key). --output json prints the
report, {"ok","records","sealed","auditEntries","problemCount","problems":
[{"name","kind","problem"}]}, whatever the verdict.`,
		Example: `  custos store verify
  custos store verify --data ./custos-data
  custos store verify --data /var/lib/custos --root-key-file /etc/custos/root-key -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := g.verifyStore(cmd, dataDir, rootKeyFile)
			var de *storeDamagedError
			if err != nil && !errors.As(err, &de) {
				return cannotRun(cmd, err)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "scan offline the data folder `DIR` of a server")
	cmd.Flags().StringVar(&rootKeyFile, "root-key-file", "", "root key `FILE` for --data (default DIR/root-key)")
	return cmd
}

// storeDamagedError is the verdict of a scan that found problems: exit
// status 1.
type storeDamagedError struct{ rep integrity.Report }

func (e *storeDamagedError) Error() string {
	return fmt.Sprintf("the store has %d problems in %d records read", e.rep.ProblemCount, e.rep.Records)
}

// verifyStore runs store verify and prints its report.
func (g *globals) verifyStore(cmd *cobra.Command, dataDir, rootKeyFile string) error {
	// A scan reads the whole store: the default time limit of a command
	// would cut a large one short.
	if _, fromEnv := g.env("timeout", envTimeout); !g.flags.Changed("timeout") && !fromEnv {
		g.timeout = 0
	}
	rep, err := verifyReport(g, cmd, dataDir, rootKeyFile, "/admin/v1/store:verify", decodeScanReport,
		func(ctx context.Context, store *sqlite.Store, ks *keystore.Keystore) (integrity.Report, error) {
			return integrity.Scan(ctx, store, ks)
		})
	if err != nil {
		return err
	}
	if !rep.OK {
		if !g.json() {
			for _, p := range rep.Problems {
				fmt.Fprintf(g.stderr, "%s (%s): %s\n", printable(p.Name), printable(p.Kind), printable(p.Problem))
			}
			if more := rep.ProblemCount - int64(len(rep.Problems)); more > 0 {
				fmt.Fprintf(g.stderr, "... and %d more\n", more)
			}
		}
		return &storeDamagedError{rep: rep}
	}
	if !g.json() {
		where := "store"
		if dataDir != "" {
			where = "store in " + dataDir + " (offline)"
		}
		fmt.Fprintf(g.stdout, "%s verified: %d records, %d sealed values, %d audit entries, no problem\n",
			where, rep.Records, rep.Sealed, rep.AuditEntries)
	}
	return nil
}

// decodeScanReport decodes the server's scan report. An answer that is not
// one (no "ok", problems that disagree with it) is an error, so that it
// makes exit status 2 (no verdict) rather than 1 or 0.
func decodeScanReport(raw []byte, rep *integrity.Report) error {
	var check struct {
		OK       *bool            `json:"ok"`
		Problems *json.RawMessage `json:"problems"`
	}
	if err := decodeJSON(raw, &check); err != nil {
		return err
	}
	if err := decodeJSON(raw, rep); err != nil {
		return err
	}
	if check.OK == nil || check.Problems == nil || rep.OK != (rep.ProblemCount == 0) || !rep.OK && len(rep.Problems) == 0 {
		return fmt.Errorf("decoding the server's answer: not a scan report: %s", snippet(raw))
	}
	return nil
}

// printable replaces control characters, which a damaged record's name
// may hold, so that a problem line cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}
