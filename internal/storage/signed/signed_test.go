// SPDX-License-Identifier: Apache-2.0

package signed

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// macSigner is a Signer over HMAC-SHA256 of the data and name, enough to
// test the package without a keystore.
type macSigner struct{}

func (macSigner) sum(r storage.Record) []byte {
	m := hmac.New(sha256.New, []byte("k"))
	fmt.Fprintf(m, "%s|%s|", r.Kind, r.Name)
	m.Write(r.Data)
	return m.Sum(nil)
}
func (s macSigner) Sign(r *storage.Record) { r.MAC = s.sum(*r) }
func (s macSigner) Verify(r storage.Record) error {
	if !hmac.Equal(r.MAC, s.sum(r)) {
		return errors.New("bad mac")
	}
	return nil
}

func TestEncodeDecode(t *testing.T) {
	type v struct{ A string }
	r, err := Encode(macSigner{}, "k", "n", "p", 7, v{"x"})
	if err != nil || r.Due != 7 || r.Parent != "p" {
		t.Fatalf("Encode = %+v, %v", r, err)
	}
	var got v
	if err := Decode(macSigner{}, r, "k", &got); err != nil || got.A != "x" {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	tests := map[string]func(r storage.Record) storage.Record{
		"changed data": func(r storage.Record) storage.Record {
			r.Data = bytes.Replace(r.Data, []byte("x"), []byte("y"), 1)
			return r
		},
		"other kind": func(r storage.Record) storage.Record { r.Kind = "j"; macSigner{}.Sign(&r); return r },
		"not JSON":   func(r storage.Record) storage.Record { r.Data = []byte("{"); macSigner{}.Sign(&r); return r },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			if err := Decode(macSigner{}, change(r), "k", &got); kmserr.Code(err) != codes.DataLoss {
				t.Fatalf("Decode = %v, want DATA_LOSS", err)
			}
		})
	}
}

func TestErr(t *testing.T) {
	tests := []struct {
		in   error
		want codes.Code
	}{
		{nil, codes.OK},
		{fmt.Errorf("x: %w", storage.ErrNotFound), codes.NotFound},
		{storage.ErrExists, codes.AlreadyExists},
		{storage.ErrConflict, codes.Aborted},
		{storage.ErrUnavailable, codes.Unavailable},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{kmserr.FailedPrecondition("x"), codes.FailedPrecondition},
		{errors.New("disk on fire"), codes.Unavailable},
	}
	for _, tc := range tests {
		if got := kmserr.Code(Err(tc.in, "thing", "n")); got != tc.want {
			t.Errorf("Err(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if e := Err(errors.New("disk on fire"), "t", "n"); e.(*kmserr.Error).Msg != "storage unavailable" {
		t.Errorf("the cause leaks into the message: %v", e)
	}
}
