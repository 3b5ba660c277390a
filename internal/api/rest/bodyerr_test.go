// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"strings"
	"testing"
)

// A body that does not decode is refused with a message that says where and
// which field, and never repeats what the caller sent in it: the offending
// token may be plaintext (a client that forgot base64), key material (an
// import's wrapped key) or anything else secret, and error messages end up
// in logs.
func TestBodyErrorEchoesNoValue(t *testing.T) {
	const secret = "hunter2-very-secret"
	tests := []struct {
		name, target, body, want string
	}{
		{"plaintext not base64", ":encrypt", `{"plaintext":"` + secret + `!"}`, "bytes field plaintext"},
		{"aad of the wrong type", ":encrypt", `{"plaintext":"aGk=","additionalAuthenticatedData":["` + secret + `"]}`, "bytes field additionalAuthenticatedData"},
		{"bare word", ":encrypt", `{"plaintext": ` + secret + `}`, "line 1:"},
		{"two values", ":encrypt", `{"plaintext":"aGk=" "` + secret + `"}`, "line 1:"},
		{"bad checksum", ":encrypt", `{"plaintext":"aGk=","plaintextCrc32c":"` + secret + `"}`, "line 1:"},
		{"bad escape", ":encrypt", `{"plaintext":"` + secret + `\x"}`, "line 1:"},
		{"ciphertext not base64", ":decrypt", `{"ciphertext":"` + secret + `!"}`, "bytes field ciphertext"},
		{"unknown field is named", ":encrypt", `{"plaintxt":"aGk="}`, `unknown field "plaintxt"`},
	}
	h := newHandler(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, "POST", "/v1/"+key+tc.target, tc.body)
			e := decodeError(t, w)
			if w.Code != 400 || e.Error.Status != "INVALID_ARGUMENT" {
				t.Fatalf("%s = %d %s, want 400 INVALID_ARGUMENT", tc.body, w.Code, e.Error.Status)
			}
			if strings.Contains(e.Error.Message, "hunter2") {
				t.Errorf("%s: message %q repeats the body's value", tc.body, e.Error.Message)
			}
			if !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("%s: message %q does not say %q", tc.body, e.Error.Message, tc.want)
			}
		})
	}
}
