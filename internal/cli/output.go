// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a [*usageError] with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// hintError carries a hint printed after the error as "custos: hint: ...".
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// withHint attaches a hint to err.
func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// Verification outcomes. They are errors so that the command exits 1.
var (
	errSignatureInvalid = errors.New("signature invalid")
	errMACInvalid       = errors.New("mac invalid")
)

// exitCode classifies err: 0 for nil, 2 for a usage error, 1 otherwise.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// reportError prints err (and a hint, if one helps) to w and returns the
// exit code. cmd is the command that failed, if known.
func reportError(w io.Writer, cmd *cobra.Command, err error) int {
	fmt.Fprintf(w, "custos: error: %s\n", err)
	if h := hintFor(cmd, err); h != "" {
		fmt.Fprintf(w, "custos: hint: %s\n", h)
	}
	return exitCode(err)
}

// hintFor picks the hint for err.
func hintFor(cmd *cobra.Command, err error) string {
	var (
		he *hintError
		ue *usageError
		ae *APIError
		te *transportError
	)
	switch {
	case errors.As(err, &he):
		return he.hint
	case errors.As(err, &ue):
		if cmd != nil {
			return fmt.Sprintf("run '%s --help' for usage", cmd.CommandPath())
		}
		return "run 'custos --help' for usage"
	case errors.Is(err, context.DeadlineExceeded):
		return "the command ran out of time; raise the limit with --timeout or " + envTimeout
	case errors.As(err, &ae):
		switch ae.Status {
		case "UNAUTHENTICATED":
			return "check the token given by --token, --token-file, " + envToken + " or " + envTokenFile
		case "PERMISSION_DENIED":
			return "the token's principal lacks the permission for this operation on this resource"
		case "FAILED_PRECONDITION":
			return "check the state of the key versions with 'custos versions list KEY_NAME'"
		case "UNIMPLEMENTED":
			return "this server does not support the operation"
		}
	case errors.As(err, &te):
		return "is a custos server running there? set the address with --addr or " + envAddr
	}
	return ""
}

// warnf prints a warning to w.
func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "custos: warning: "+format+"\n", args...)
}

// notef prints a note to w.
func notef(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "custos: "+format+"\n", args...)
}

// printJSON writes the JSON value raw to w, indented, as the server sent it
// (field order and unknown fields kept), followed by a newline.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("formatting JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printJSONArray writes items as one indented JSON array.
func printJSONArray(w io.Writer, items []json.RawMessage) error {
	if items == nil {
		items = []json.RawMessage{}
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return fmt.Errorf("formatting JSON: %w", err)
	}
	return printJSON(w, raw)
}

// printValue writes v, a value made by the CLI itself, as indented JSON.
func printValue(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("formatting JSON: %w", err)
	}
	return printJSON(w, raw)
}

// field is one line of a detail view.
type field struct{ label, value string }

// printFields writes "Label:  value" lines aligned in one column, skipping
// empty values.
func printFields(w io.Writer, fields []field) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		fmt.Fprintf(tw, "%s:\t%s\n", f.label, f.value)
	}
	return tw.Flush()
}

// printTable writes a table with the header and rows; empty cells show "-".
func printTable(w io.Writer, header []string, rows [][]string) error {
	t := newTableStream(w, header)
	for _, r := range rows {
		t.row(r)
	}
	return t.close()
}

// tableStream writes a table row by row, aligned a block of
// tableBlock rows at a time, so that a long listing is printed as it
// comes rather than held in memory whole. An empty cell prints as "-".
type tableStream struct {
	tw     *tabwriter.Writer
	header []string
	rows   int
}

const tableBlock = 1000

func newTableStream(w io.Writer, header []string) *tableStream {
	return &tableStream{tw: tabwriter.NewWriter(w, 0, 0, 3, ' ', 0), header: header}
}

// row adds a row, after the header if it is the first.
func (t *tableStream) row(r []string) {
	if t.rows == 0 {
		fmt.Fprintln(t.tw, strings.Join(t.header, "\t"))
	}
	cells := make([]string, len(r))
	for i, c := range r {
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	if t.rows++; t.rows%tableBlock == 0 {
		t.tw.Flush()
	}
}

// close writes what is left; a table without rows is its header alone.
func (t *tableStream) close() error {
	if t.rows == 0 {
		fmt.Fprintln(t.tw, strings.Join(t.header, "\t"))
	}
	return t.tw.Flush()
}

// formatTime formats a timestamp in RFC 3339 (UTC), or "" if unset.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// formatDuration formats a duration the Go way (720h0m0s), or "" if unset.
func formatDuration(d *durationpb.Duration) string {
	if d == nil {
		return ""
	}
	return d.AsDuration().String()
}

// formatLabels formats labels as k=v pairs sorted by key.
func formatLabels(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// extensionFields returns the fields of the JSON object raw that are not in
// known: the Custos extension fields that kmspb doesn't carry, formatted for
// a detail view.
func extensionFields(raw []byte, known func(string) bool) []field {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	var out []field
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if known(k) {
			continue
		}
		v := strings.TrimSpace(string(obj[k]))
		var s string
		if json.Unmarshal(obj[k], &s) == nil {
			v = s
		}
		out = append(out, field{label: k, value: v})
	}
	return out
}

// knownFields returns a test for the JSON field names of m's message type.
func knownFields(m proto.Message) func(string) bool {
	fields := m.ProtoReflect().Descriptor().Fields()
	return func(k string) bool {
		return fields.ByJSONName(k) != nil || fields.ByName(protoreflect.Name(k)) != nil
	}
}

// enumName returns the name of e, or "" for the zero (UNSPECIFIED) value.
func enumName(e protoreflect.Enum) string {
	if e.Number() == 0 {
		return ""
	}
	v := e.Descriptor().Values().ByNumber(e.Number())
	if v == nil {
		return fmt.Sprint(e.Number())
	}
	return string(v.Name())
}
