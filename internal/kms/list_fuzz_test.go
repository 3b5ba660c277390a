// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
)

// FuzzListQuery feeds arbitrary filter, order_by and page_token values, as
// callers send them, to the decoders of a List call: each either refuses
// with INVALID_ARGUMENT naming its field or gives something usable, never
// panics; and a token is accepted only for the query that made it.
func FuzzListQuery(f *testing.F) {
	f.Add("state=ENABLED AND name:cryptoKeyVersions/3", "name desc, create_time", "")
	f.Add(`labels.env="prod west" OR -purpose=MAC`, "labels.env asc", "eyJhIjoieCIsInEiOiJ5In0")
	f.Add("NOT", ",", "!!!")
	f.Add(`a="`, "name sideways", `eyJvIjotMSwicSI6IiJ9`)
	f.Add("primary.name:* AND next_rotation_time<2030", "rotation_period desc", "e30")
	sample := &CryptoKey{
		Name: "projects/p/locations/l/keyRings/r/cryptoKeys/k", Purpose: "ENCRYPT_DECRYPT",
		CreateTime: time.Unix(1e9, 0), Labels: map[string]string{"env": "prod"},
		RotationPeriod: 48 * time.Hour, Primary: 1,
	}
	known := func(path string) bool { _, ok := cryptoKeyFields(nil)(path); return ok }
	isArgErr := func(err error, field string) bool {
		ke, _ := err.(*kmserr.Error)
		return ke != nil && ke.Code == codes.InvalidArgument && ke.Field == field
	}
	f.Fuzz(func(t *testing.T, filter, orderBy, token string) {
		expr, err := parseFilter(filter, known)
		if err != nil {
			if !isArgErr(err, "filter") {
				t.Fatalf("parseFilter(%q) = %v", filter, err)
			}
		} else if _, err := expr.match(cryptoKeyFields(sample)); err != nil {
			t.Fatalf("filter %q: match = %v", filter, err)
		}
		order, err := parseOrderBy(orderBy, known)
		if err != nil {
			if !isArgErr(err, "order_by") {
				t.Fatalf("parseOrderBy(%q) = %v", orderBy, err)
			}
		} else {
			for _, o := range order {
				if !known(o.path) {
					t.Fatalf("order_by %q gave unknown field %q", orderBy, o.path)
				}
			}
		}

		p := Page{Filter: filter, OrderBy: orderBy}
		digest := queryDigest("parent", p)
		tok, err := decodePageToken(token, digest)
		switch {
		case err != nil:
			if !isArgErr(err, "page_token") {
				t.Fatalf("decodePageToken(%q) = %v", token, err)
			}
		case token != "" && (tok.Query != digest || tok.Offset < 0):
			t.Fatalf("decodePageToken(%q) accepted %+v for query %s", token, tok, digest)
		}
		if token != "" && err == nil {
			// The same token for another parent is refused.
			if _, err := decodePageToken(token, queryDigest("other", p)); err == nil {
				t.Fatalf("token %q accepted for another parent", token)
			}
		}

		// A token that the list writes is read back as written.
		b, _ := json.Marshal(pageToken{After: token, Offset: len(filter), Query: digest})
		back, err := decodePageToken(base64.RawURLEncoding.EncodeToString(b), digest)
		if err != nil || back.After != toValidUTF8(token) || back.Offset != len(filter) {
			t.Fatalf("round trip of a token after %q = %+v, %v", token, back, err)
		}
	})
}

// toValidUTF8 is what encoding/json makes of s: invalid bytes become U+FFFD.
func toValidUTF8(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
