// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"net/http"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// TestEmptyStringBody: google-gax's REST transport (the Node.js client)
// sends the JSON string "" as the body when the body field is an empty
// message. It must read as no body, not as malformed JSON.
func TestEmptyStringBody(t *testing.T) {
	f := &fakeKMS{}
	h := newHandler(t, Config{KMS: f})
	w := serve(h, http.MethodPost, "/v1/projects/p/locations/l/keyRings?keyRingId=r&$alt=json%3Benum-encoding=int", `""`)
	if w.Code != http.StatusOK {
		t.Fatalf(`POST keyRings with body "" = %d %s, want 200`, w.Code, w.Body)
	}
	method, req := f.last()
	cr, ok := req.(*kmspb.CreateKeyRingRequest)
	if method != "CreateKeyRing" || !ok || cr.GetKeyRingId() != "r" || cr.GetParent() != "projects/p/locations/l" {
		t.Fatalf("got %s %v", method, req)
	}
	// A string that is not empty is still malformed for a message body.
	if w := serve(h, http.MethodPost, "/v1/projects/p/locations/l/keyRings?keyRingId=r", `"x"`); w.Code != http.StatusBadRequest {
		t.Fatalf(`body "x" = %d, want 400`, w.Code)
	}
}
