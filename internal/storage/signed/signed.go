// SPDX-License-Identifier: Apache-2.0

// Package signed stores values as JSON records authenticated by the
// keystore's record MAC, and maps storage errors to API errors. Every
// package that keeps records (the core, apps, IAM, Cloud EKM policies) goes
// through it, so that a record changed or moved on disk is refused the same
// way everywhere: DATA_LOSS, never used.
package signed

import (
	"context"
	"encoding/json"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

// Signer computes and checks record MACs; *keystore.Keystore is one.
type Signer interface {
	Sign(r *storage.Record)
	Verify(r storage.Record) error
}

// Encode serializes v as JSON into a signed record.
func Encode(s Signer, kind storage.Kind, name, parent string, due int64, v any) (storage.Record, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return storage.Record{}, kmserr.Internal(err, "internal error")
	}
	r := storage.Record{Kind: kind, Name: name, Parent: parent, Due: due, Data: data}
	s.Sign(&r)
	return r, nil
}

// Decode verifies r's MAC and kind, then unmarshals its JSON into v. A
// record that fails either check was altered or moved on disk: the error is
// DATA_LOSS and v must not be used.
func Decode(s Signer, r storage.Record, kind storage.Kind, v any) error {
	if err := s.Verify(r); err != nil {
		return kmserr.DataLoss(err, "stored record %s failed its integrity check", r.Name)
	}
	if r.Kind != kind {
		return kmserr.DataLoss(nil, "stored record %s has kind %s, want %s", r.Name, r.Kind, kind)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return kmserr.DataLoss(err, "stored record %s cannot be read", r.Name)
	}
	return nil
}

// Err converts a storage error into the API error for the resource (what
// and name are for the NOT_FOUND and ALREADY_EXISTS messages). An error that
// already carries a code passes through; a transient fault is UNAVAILABLE,
// its cause logged, never sent.
func Err(err error, what, name string) error {
	var ke *kmserr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return err
	case errors.Is(err, storage.ErrNotFound):
		return kmserr.NotFound("%s %s not found", what, name)
	case errors.Is(err, storage.ErrExists):
		return kmserr.AlreadyExists("%s %s already exists", what, name)
	case errors.Is(err, storage.ErrConflict):
		return kmserr.Aborted("%s %s was changed concurrently; retry", what, name)
	case errors.Is(err, context.Canceled):
		return &kmserr.Error{Code: codes.Canceled, Msg: "request cancelled", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &kmserr.Error{Code: codes.DeadlineExceeded, Msg: "deadline exceeded", Err: err}
	default:
		return kmserr.Unavailable(err, "storage unavailable")
	}
}
