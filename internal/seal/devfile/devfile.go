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
	"path/filepath"
	"runtime"
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
	// The key is written whole and synced under a temporary name, then
	// linked into place: a crash leaves no file or a whole one, never an
	// empty or partial file that every later start would refuse. Link,
	// unlike rename, fails if the file exists: two servers starting on one
	// folder must not write two keys.
	var suffix [8]byte
	rand.Read(suffix[:])
	tmp := path + ".tmp-" + hex.EncodeToString(suffix[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devfile: create root key: %w", err)
	}
	defer os.Remove(tmp)
	step("created")
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	step("written")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("devfile: write root key: %w", err)
	}
	err = os.Link(tmp, path)
	if errors.Is(err, os.ErrExist) {
		return Open(path) // another process created it meanwhile, whole
	}
	if err != nil {
		return nil, fmt.Errorf("devfile: create root key: %w", err)
	}
	step("linked")
	os.Remove(tmp) // no second name for the key
	// The file's name must survive a power loss too: the store's barrier
	// key is about to be sealed under this key.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("devfile: create root key: %w", err)
	}
	return &Seal{key: key}, nil
}

// syncDir makes the entries of the directory durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; NTFS journals names
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}

// crashPoint, if set, is called at each step of create (tests kill the
// process there).
var crashPoint func(string)

func step(s string) {
	if crashPoint != nil {
		crashPoint(s)
	}
}

// RootKey returns the root key.
func (s *Seal) RootKey(context.Context) ([]byte, error) {
	return s.key, nil
}
