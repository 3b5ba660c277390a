// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
)

func TestPrintJSONKeepsTheServerObject(t *testing.T) {
	raw := []byte(`{"name":"n","zeta":1,"externalKeyUri":"u","alpha":{"b":[1,2]}}`)
	var buf bytes.Buffer
	if err := printJSON(&buf, raw); err != nil {
		t.Fatal(err)
	}
	want := `{
  "name": "n",
  "zeta": 1,
  "externalKeyUri": "u",
  "alpha": {
    "b": [
      1,
      2
    ]
  }
}
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("printJSON (-want +got):\n%s", diff)
	}
}

func TestPrintJSONArray(t *testing.T) {
	var buf bytes.Buffer
	if err := printJSONArray(&buf, nil); err != nil || buf.String() != "[]\n" {
		t.Errorf("printJSONArray(nil) = %q, %v; want []", buf.String(), err)
	}
	buf.Reset()
	items := []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"b":2}`)}
	if err := printJSONArray(&buf, items); err != nil {
		t.Fatal(err)
	}
	if want := "[\n  {\n    \"a\": 1\n  },\n  {\n    \"b\": 2\n  }\n]\n"; buf.String() != want {
		t.Errorf("printJSONArray = %q, want %q", buf.String(), want)
	}
}

func TestPrintTableAndFields(t *testing.T) {
	var buf bytes.Buffer
	printTable(&buf, []string{"NAME", "STATE"}, [][]string{{"a-long-name", ""}, {"b", "ENABLED"}})
	want := "NAME          STATE\na-long-name   -\nb             ENABLED\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("printTable (-want +got):\n%s", diff)
	}
	buf.Reset()
	printFields(&buf, []field{{"Name", "n"}, {"Skipped", ""}, {"Protection level", "HSM"}})
	want = "Name:              n\nProtection level:  HSM\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("printFields (-want +got):\n%s", diff)
	}
}

func TestExtensionFields(t *testing.T) {
	raw := []byte(`{"name":"n","purpose":"MAC","import_only":true,"exportable":true,"externalKeyUri":"u","custom":{"x":1}}`)
	got := extensionFields(raw, knownFields(&kmspb.CryptoKey{}))
	want := []field{{"custom", `{"x":1}`}, {"exportable", "true"}, {"externalKeyUri", "u"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(field{})); diff != "" {
		t.Errorf("extensionFields (-want +got):\n%s", diff)
	}
}

func TestFormatters(t *testing.T) {
	if got := formatLabels(map[string]string{"b": "2", "a": "1"}); got != "a=1,b=2" {
		t.Errorf("formatLabels = %q", got)
	}
	if got := enumName(kmspb.ProtectionLevel_PROTECTION_LEVEL_UNSPECIFIED); got != "" {
		t.Errorf("enumName(unspecified) = %q, want empty", got)
	}
	if got := enumName(kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(9999)); got != "9999" {
		t.Errorf("enumName(unknown) = %q, want the number", got)
	}
}

func TestReportError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
		code int
	}{
		{"api error", &APIError{HTTPStatus: 404, Status: "NOT_FOUND", Message: "key not found"},
			"custos: error: key not found (NOT_FOUND)\n", 1},
		{"with hint", withHint(errors.New("no token"), "set CUSTOS_TOKEN"),
			"custos: error: no token\ncustos: hint: set CUSTOS_TOKEN\n", 1},
		{"usage", usageErrorf("missing argument X"),
			"custos: error: missing argument X\ncustos: hint: run 'custos --help' for usage\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			code := reportError(&buf, nil, tc.err)
			if code != tc.code || buf.String() != tc.want {
				t.Errorf("reportError = %d, %q; want %d, %q", code, buf.String(), tc.code, tc.want)
			}
		})
	}
}
