// SPDX-License-Identifier: Apache-2.0

package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestInitRefusesARootKeyInTheDataFolder: a root key file anywhere under
// the data folder, not only directly in it, would be copied with the data.
func TestInitRefusesARootKeyInTheDataFolder(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, key := range []string{
		filepath.Join(data, "root-key"),
		filepath.Join(data, "keys", "root-key"),
		filepath.Join(data, "keys", "..", "keys", "root-key"),
	} {
		if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
			t.Fatal(err)
		}
		err := Init(context.Background(), InitOptions{DataDir: data, RootKeyFile: key, Out: io.Discard})
		if err == nil {
			t.Errorf("Init accepted the root key file %s inside the data folder %s", key, data)
		}
		if _, err := os.Stat(key); err == nil {
			t.Errorf("Init created the root key file %s inside the data folder", key)
		}
	}
	// Beside the data folder is fine, even with a name that starts alike.
	key := data + "-root-key"
	if err := Init(context.Background(), InitOptions{DataDir: data, RootKeyFile: key, Out: io.Discard}); err != nil {
		t.Fatalf("Init with the root key file %s = %v", key, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestInitTokenNotShownIsNotKept: the first admin token is shown once and
// only its hash kept. If it cannot be written out, init must fail and keep
// no hash, so that running it again makes a token that can be shown;
// otherwise the store has an admin whose token nobody has, for ever.
func TestInitTokenNotShownIsNotKept(t *testing.T) {
	dir := t.TempDir()
	o := InitOptions{DataDir: filepath.Join(dir, "data"), RootKeyFile: filepath.Join(dir, "root-key"), Out: failingWriter{}}
	if err := Init(context.Background(), o); err == nil {
		t.Error("Init succeeded though the admin token could not be written")
	}
	var out bytes.Buffer
	o.Out = &out
	if err := Init(context.Background(), o); err != nil {
		t.Fatalf("Init again = %v", err)
	}
	if !strings.Contains(out.String(), "admin token") {
		t.Fatalf("Init again printed no admin token: %q", out.String())
	}
}

// TestServerRefusesARootKeyInTheDataFolder: the server checks what init
// checks, for a root key file made some other way.
func TestServerRefusesARootKeyInTheDataFolder(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for key, refused := range map[string]bool{
		filepath.Join(data, "root-key"):         true,
		filepath.Join(data, "keys", "root-key"): true,
		data + "-root-key":                      false,
	} {
		o := Options{DataDir: data, RootKeyFile: key, Listen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0"}
		err := o.Validate()
		if got := err != nil && strings.Contains(err.Error(), "outside the data folder"); got != refused {
			t.Errorf("Validate with the root key file %s = %v, want refused %v", key, err, refused)
		}
	}
}

// TestOneServerPerDataFolder: the data folder's lock is held by one holder
// at a time, names the holder to the next, and is free again once
// released.
func TestOneServerPerDataFolder(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a second lock of the data folder = %v, want it refused, naming this process", err)
	}
	release()
	release() // twice is harmless
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("the lock after its release = %v", err)
	}
	again()
}

// TestInitWaitsForNoServer: init refuses a data folder that a server
// holds, and works once it is free.
func TestInitWaitsForNoServer(t *testing.T) {
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "root-key")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	release, err := lockDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	err = Init(context.Background(), InitOptions{DataDir: data, RootKeyFile: key, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Init on a folder a server holds = %v, want it refused", err)
	}
	release()
	if err := Init(context.Background(), InitOptions{DataDir: data, RootKeyFile: key, Out: io.Discard}); err != nil {
		t.Fatalf("Init once the folder is free = %v", err)
	}
}

// TestIntegrityScanInterval: 0 turns the scans off, anything else must
// leave the server time to serve between them.
func TestIntegrityScanInterval(t *testing.T) {
	for d, refused := range map[time.Duration]bool{
		0: false, time.Minute: false, 24 * time.Hour: false,
		-time.Second: true, time.Second: true, 59 * time.Second: true,
	} {
		o := Options{Dev: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", IntegrityScanInterval: d}
		err := o.Validate()
		if got := err != nil && strings.Contains(err.Error(), "--integrity-scan-interval"); got != refused {
			t.Errorf("Validate with --integrity-scan-interval %v = %v, want refused %v", d, err, refused)
		}
	}
}
