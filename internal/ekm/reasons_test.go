// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKnownReasonsAreOneToEleven pins the known reasons to the values 1-11
// of google.cloud.kms.v1.AccessReason. If a kmspb upgrade adds one, this
// fails: decide whether Custos should know it (update this test, the docs
// and the release notes) before it changes what policies allow.
func TestKnownReasonsAreOneToEleven(t *testing.T) {
	want := []string{
		"CUSTOMER_INITIATED_SUPPORT",
		"GOOGLE_INITIATED_SERVICE",
		"THIRD_PARTY_DATA_REQUEST",
		"GOOGLE_INITIATED_REVIEW",
		"CUSTOMER_INITIATED_ACCESS",
		"GOOGLE_INITIATED_SYSTEM_OPERATION",
		"REASON_NOT_EXPECTED",
		"MODIFIED_CUSTOMER_INITIATED_ACCESS",
		"MODIFIED_GOOGLE_INITIATED_SYSTEM_OPERATION",
		"GOOGLE_RESPONSE_TO_PRODUCTION_ALERT",
		"CUSTOMER_AUTHORIZED_WORKFLOW_SERVICING",
	}
	if diff := cmp.Diff(want, KnownReasons()); diff != "" {
		t.Errorf("KnownReasons() (-want +got):\n%s", diff)
	}
	for i, name := range want {
		if got := ReasonByNumber(int64(i + 1)); got != (Justification{Known, name}) {
			t.Errorf("ReasonByNumber(%d) = %+v, want %s", i+1, got, name)
		}
	}
}

func TestReasonFromJSON(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		want   Justification
		wantOK bool
	}{
		{"null", `null`, Justification{Missing, ""}, true},
		{"unspecified by name", `"REASON_UNSPECIFIED"`, Justification{Missing, ""}, true},
		{"unspecified by number", `0`, Justification{Missing, ""}, true},
		{"empty name", `""`, Justification{Missing, ""}, true},
		{"known name", `"CUSTOMER_INITIATED_ACCESS"`, Justification{Known, "CUSTOMER_INITIATED_ACCESS"}, true},
		{"known name, lower case", `"customer_initiated_access"`, Justification{Known, "CUSTOMER_INITIATED_ACCESS"}, true},
		{"known number", `5`, Justification{Known, "CUSTOMER_INITIATED_ACCESS"}, true},
		{"known number as float", `5.0`, Justification{Known, "CUSTOMER_INITIATED_ACCESS"}, true},
		{"known number as string", `"6"`, Justification{Known, "GOOGLE_INITIATED_SYSTEM_OPERATION"}, true},
		{"eleven", `11`, Justification{Known, "CUSTOMER_AUTHORIZED_WORKFLOW_SERVICING"}, true},
		{"twelve", `12`, Justification{Unknown, "12"}, true},
		{"negative", `-1`, Justification{Unknown, "-1"}, true},
		{"huge", `99999999999999999999`, Justification{Unknown, "99999999999999999999"}, true},
		{"fraction", `5.5`, Justification{Unknown, "5.5"}, true},
		{"exponent", `1e3`, Justification{Unknown, "1000"}, true},
		{"new name", `"GOOGLE_INITIATED_SOMETHING_NEW"`, Justification{Unknown, "GOOGLE_INITIATED_SOMETHING_NEW"}, true},
		{"control characters", `"A\nB"`, Justification{Unknown, "A?B"}, true},
		{"boolean", `true`, Justification{}, false},
		{"object", `{}`, Justification{}, false},
		{"array", `[5]`, Justification{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := reasonFromJSON(json.RawMessage(tc.raw))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("reasonFromJSON(%s) = %+v, %v; want %+v, %v", tc.raw, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	long := `"` + string(make([]byte, 0)) + "X"
	for range 200 {
		long += "Y"
	}
	long += `"`
	if got, _ := reasonFromJSON(json.RawMessage(long)); got.Class != Unknown || len(got.Reason) != maxUnknownReason {
		t.Errorf("a long unknown reason is kept as %d bytes, want %d", len(got.Reason), maxUnknownReason)
	}
}
