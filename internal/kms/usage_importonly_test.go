// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/crypto/alg"
	"google.golang.org/grpc/codes"
)

// TestEncryptionLimitImportOnly: an import-only key cannot be rotated, so
// its used-up primary is FAILED_PRECONDITION saying why, and no call tries
// (and records, and logs) a rotation that cannot happen: a caller allowed
// only to encrypt must not be able to write an audit entry per call.
func TestEncryptionLimitImportOnly(t *testing.T) {
	const max = 10
	e := newUsageEnv(t, max)
	ring := e.ring(t, "r")
	key := e.emptyKey(t, ring, "imported", CryptoKey{Purpose: alg.EncryptDecrypt, ImportOnly: true})
	j := e.job(t, ring, "j", RSAOAEP3072SHA256AES256)
	v := e.importKey(t, key, j, "GOOGLE_SYMMETRIC_ENCRYPTION", randomBytes(32))
	for n := 0; n < max; n++ {
		if _, _, err := e.svc.Encrypt(e.ctx, key, []byte("p"), nil); err != nil {
			t.Fatalf("Encrypt #%d: %v", n+1, err)
		}
	}
	e.log.mu.Lock()
	before := len(e.log.events)
	e.log.mu.Unlock()
	for range 5 {
		_, _, err := e.svc.Encrypt(e.ctx, key, []byte("p"), nil)
		wantCode(t, "Encrypt past the limit of an import-only key", err, codes.FailedPrecondition)
		if !strings.Contains(err.Error(), "10 encryptions") || !strings.Contains(err.Error(), v.Name) {
			t.Errorf("the refusal does not say why: %v", err)
		}
	}
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	for _, ev := range e.log.events[before:] {
		if ev.Method == "RotateCryptoKey" {
			t.Errorf("a refused Encrypt recorded a rotation attempt: %+v", ev)
		}
	}
}
