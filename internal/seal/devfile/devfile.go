// SPDX-License-Identifier: Apache-2.0

// Package devfile keeps the root key in a plain file (mode 0600), for
// development only: anyone who can read the file can read every key.
package devfile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/custos-kms/custos/internal/seal"
)

// Seal is a root key read from, or created in, a file.
type Seal struct {
	key []byte
}

var _ seal.Provider = (*Seal)(nil)

// Load reads the root key from an existing file (production: a file the
// operator provisions and protects); it never creates one.
func Load(path string) (*Seal, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("devfile: root key file: %w (create it with custos init)", err)
	}
	return Open(path)
}

// Open reads the root key from path, creating the file with a fresh random
// key if it does not exist. The file holds the key in hex and a newline.
// Open refuses a file that other users can read.
func Open(path string) (*Seal, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("devfile: read root key: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("devfile: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("devfile: root key file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != seal.RootKeySize {
		return nil, fmt.Errorf("devfile: root key file %s is not %d hex-encoded bytes", path, seal.RootKeySize)
	}
	return &Seal{key: key}, nil
}

func create(path string) (*Seal, error) {
	key := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("devfile: %w", err)
	}
	// O_EXCL: two servers starting on one folder must not write two keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devfile: create root key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("devfile: write root key: %w", err)
	}
	return &Seal{key: key}, nil
}

// RootKey returns the root key.
func (s *Seal) RootKey(context.Context) ([]byte, error) {
	return s.key, nil
}
