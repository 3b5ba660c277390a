// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// Class says what kind of justification a request carries.
type Class int

const (
	// Missing: no accessReasonContext, no reason, null, or
	// REASON_UNSPECIFIED (0).
	Missing Class = iota
	// Known: one of the reasons in [KnownReasons].
	Known
	// Unknown: any other name or number, for example a reason newer than
	// this release. It is a policy decision, never a parse error.
	Unknown
)

func (c Class) String() string {
	switch c {
	case Missing:
		return "missing"
	case Known:
		return "known"
	default:
		return "unknown"
	}
}

// Justification is the Key Access Justifications reason of a request.
type Justification struct {
	Class Class
	// Reason is the reason's canonical name for a Known reason; for an
	// Unknown one, the name or number as sent (cut to a safe length and
	// to printable ASCII, for the audit log); "" when Missing.
	Reason string
}

// String returns the reason for the audit log: the name, the unknown value,
// or "" when missing.
func (j Justification) String() string { return j.Reason }

// maxUnknownReason bounds how much of an unknown reason is kept.
const maxUnknownReason = 64

// knownReasons maps the known reason numbers to their names.
//
// They are the values of google.cloud.kms.v1.AccessReason in the kmspb
// release this binary is built with, without REASON_UNSPECIFIED (0), which
// counts as a missing justification. Today that is 1 to 11, which is what
// the issue names; TestKnownReasonsAreOneToEleven pins it, so that a kmspb
// upgrade that adds reasons is a conscious change (release notes, docs)
// rather than a silent one.
var knownReasons = func() map[int32]string {
	m := map[int32]string{}
	for n, name := range kmspb.AccessReason_name {
		if n != 0 {
			m[n] = name
		}
	}
	return m
}()

// knownByName maps each known reason name to its number.
var knownByName = func() map[string]int32 {
	m := map[string]int32{}
	for n, name := range knownReasons {
		m[name] = n
	}
	return m
}()

// KnownReasons returns the names of the known access reasons, in the order
// of their numbers.
func KnownReasons() []string {
	nums := make([]int32, 0, len(knownReasons))
	for n := range knownReasons {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = knownReasons[n]
	}
	return out
}

// IsKnownReason reports whether name is a known reason name (exact case).
func IsKnownReason(name string) bool {
	_, ok := knownByName[name]
	return ok
}

const unspecified = "REASON_UNSPECIFIED"

// ReasonByName classifies a reason given by name. Names are compared
// without regard to case (proto3 JSON names are upper case; leniency here
// cannot widen a policy, it only spares a refusal). A string of decimal
// digits is read as a number, like protojson does for enums.
func ReasonByName(s string) Justification {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return ReasonByNumber(n)
		}
		return unknown(s)
	}
	up := strings.ToUpper(s)
	switch {
	case up == unspecified || s == "":
		return Justification{Class: Missing}
	case IsKnownReason(up):
		return Justification{Class: Known, Reason: up}
	}
	return unknown(s)
}

// ReasonByNumber classifies a reason given by number: 0 is missing, the
// known numbers map to their names, any other number is unknown.
func ReasonByNumber(n int64) Justification {
	if n == 0 {
		return Justification{Class: Missing}
	}
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		if name, ok := knownReasons[int32(n)]; ok {
			return Justification{Class: Known, Reason: name}
		}
	}
	return unknown(strconv.FormatInt(n, 10))
}

// unknown keeps a printable, bounded form of an unknown reason.
func unknown(s string) Justification {
	return Justification{Class: Unknown, Reason: printable(s, maxUnknownReason)}
}

// printable keeps at most n bytes of s, each non-printable or non-ASCII
// byte replaced by '?', so that request data cannot forge log lines.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x7e {
		i++
	}
	if i == len(s) {
		return s // already printable: no copy
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] < 0x20 || b[i] > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// reasonFromJSON classifies the JSON value of accessReasonContext.reason.
// A string is a name, a number is a number (a non-integral or huge number
// is unknown); null is missing. Any other JSON type is not a reason at
// all: ok is false and the request is invalid.
func reasonFromJSON(raw json.RawMessage) (j Justification, ok bool) {
	if isNull(raw) {
		return Justification{Class: Missing}, true
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Justification{}, false
		}
		return ReasonByName(s), true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var num json.Number
		if err := json.Unmarshal(raw, &num); err != nil {
			return Justification{}, false
		}
		if n, err := strconv.ParseInt(num.String(), 10, 64); err == nil {
			return ReasonByNumber(n), true
		}
		// 5.0 is 5 in proto3 JSON; 5.5 or 1e30 is no reason we know.
		if f, err := num.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return ReasonByNumber(int64(f)), true
		}
		return unknown(num.String()), true
	}
	return Justification{}, false
}
