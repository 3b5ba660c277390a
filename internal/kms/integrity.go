// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/custos-kms/custos/internal/storage"
)

// Unsealer opens material sealed by the keystore; *keystore.Keystore is one.
type Unsealer interface {
	Unseal(name string, sealed []byte) ([]byte, error)
}

// RecordCheck checks what a stored record of one kind holds, once its MAC
// has been verified: that it can be read, that it names itself, that its
// state and its sealed material agree, and that the material opens under
// the barrier key for its own name. sealed is how many materials it opened.
type RecordCheck func(u Unsealer, r storage.Record) (sealed int, err error)

// RecordChecks returns the checks of the core's record kinds, for the
// integrity scan (internal/integrity). Reading a record at run time does
// the same checks, but only when it is used: the scan finds a damaged
// version that nobody has called yet.
func RecordChecks() map[storage.Kind]RecordCheck {
	return map[storage.Kind]RecordCheck{
		kindKeyRing:   checkNamed[KeyRing](func(v *KeyRing) string { return v.Name }),
		kindCryptoKey: checkNamed[CryptoKey](func(v *CryptoKey) string { return v.Name }),
		kindVersion:   checkVersionRecord,
		kindImportJob: checkImportJobRecord,
		kindEKMIndex:  checkEKMIndexRecord,
	}
}

// checkNamed returns a check that decodes a T and compares the name it
// holds with the record's.
func checkNamed[T any](name func(*T) string) RecordCheck {
	return func(_ Unsealer, r storage.Record) (int, error) {
		v := new(T)
		if err := json.Unmarshal(r.Data, v); err != nil {
			return 0, fmt.Errorf("cannot be read: %w", err)
		}
		if n := name(v); n != r.Name {
			return 0, fmt.Errorf("holds %q", n)
		}
		return 0, nil
	}
}

func checkVersionRecord(u Unsealer, r storage.Record) (int, error) {
	var v Version
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return 0, fmt.Errorf("cannot be read: %w", err)
	}
	if v.Name != r.Name {
		return 0, fmt.Errorf("holds the version %q", v.Name)
	}
	switch v.State {
	case Enabled, Disabled, DestroyScheduled:
		if len(v.Material) == 0 {
			return 0, fmt.Errorf("is %s but holds no key material", v.State)
		}
	case Destroyed, PendingImport, ImportFailed:
		if len(v.Material) != 0 {
			return 0, fmt.Errorf("is %s but still holds key material", v.State)
		}
	}
	return openSealed(u, v.Name, v.Material)
}

func checkImportJobRecord(u Unsealer, r storage.Record) (int, error) {
	var j importJobRecord
	if err := json.Unmarshal(r.Data, &j); err != nil {
		return 0, fmt.Errorf("cannot be read: %w", err)
	}
	if j.Name != r.Name {
		return 0, fmt.Errorf("holds the import job %q", j.Name)
	}
	switch {
	case j.State == ImportJobActive && len(j.PrivateKey) == 0:
		return 0, errors.New("is ACTIVE but holds no wrapping private key")
	case j.State == ImportJobExpired && len(j.PrivateKey) != 0:
		return 0, errors.New("is EXPIRED but still holds its wrapping private key")
	}
	return openSealed(u, j.Name, j.PrivateKey)
}

func checkEKMIndexRecord(_ Unsealer, r storage.Record) (int, error) {
	var key string
	if err := json.Unmarshal(r.Data, &key); err != nil {
		return 0, fmt.Errorf("cannot be read: %w", err)
	}
	if key == "" {
		return 0, errors.New("names no crypto key")
	}
	return 0, nil
}

// openSealed opens sealed (if any) for name and forgets the plaintext at
// once: the scan proves the material opens, it never uses it.
func openSealed(u Unsealer, name string, sealed []byte) (int, error) {
	if len(sealed) == 0 {
		return 0, nil
	}
	pt, err := u.Unseal(name, sealed)
	if err != nil {
		return 0, fmt.Errorf("its sealed key material does not open: %w", err)
	}
	clear(pt)
	return 1, nil
}
