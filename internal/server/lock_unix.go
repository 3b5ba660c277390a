// SPDX-License-Identifier: Apache-2.0

//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// lockFile is the data folder's lock, held by the server that uses it.
const lockFile = "custos.lock"

// lockDataDir takes the data folder for this process: an exclusive lock on
// DATA/custos.lock, held until release is called (or the process ends). A
// second server on the same folder is refused: each keeps its own caches
// of keys, versions and policies, so a key disabled through one would stay
// usable through the other. Offline commands (custos audit verify --data)
// read without the lock.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data folder lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
				holder = "process " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("the data folder %s is in use by %s (another custos server?): one server per data folder", dir, holder)
		}
		return nil, fmt.Errorf("data folder lock: %w", err)
	}
	// The holder's pid, for the message above; the lock is what counts.
	if f.Truncate(0) == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}
