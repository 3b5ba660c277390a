// SPDX-License-Identifier: Apache-2.0

//go:build unix

package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/storage"
)

// The crash helper is this test binary run again with crashHelperEnv set to
// a database path: see TestMain.
const (
	crashHelperEnv = "CUSTOS_SQLITE_CRASH_HELPER_DB"
	crashPrefixEnv = "CUSTOS_SQLITE_CRASH_HELPER_PREFIX"
)

func TestMain(m *testing.M) {
	// The crash test runs this binary again as the process it kills.
	if os.Getenv(crashHelperEnv) != "" {
		crashHelper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashRecord is the record the helper creates under that name.
func crashRecord(prefix, name string) storage.Record {
	r := testRecord(name)
	r.Parent = prefix
	return r
}

// crashHelper opens the database and, from several goroutines, runs Update
// calls that each create a record and increment a counter record, printing
// each record's name once its Update has returned nil. It never stops: the
// test kills it.
func crashHelper() {
	path, prefix := os.Getenv(crashHelperEnv), os.Getenv(crashPrefixEnv)
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	counter := prefix + "/counter"
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.Create(ctx, storage.Record{Kind: "test.Counter", Name: counter, Data: []byte("0")})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(2)
	}
	var (
		next atomic.Int64
		mu   sync.Mutex // one line per write to stdout
	)
	for range 16 {
		go func() {
			for {
				name := fmt.Sprintf("%s/keys/%07d", prefix, next.Add(1))
				err := s.Update(ctx, func(tx storage.Tx) error {
					if err := tx.Create(ctx, crashRecord(prefix, name)); err != nil {
						return err
					}
					c, err := tx.Get(ctx, counter)
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(c.Data))
					if err != nil {
						return err
					}
					c.Data = strconv.AppendInt(nil, int64(n+1), 10)
					return tx.Put(ctx, c)
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "crash helper:", err)
					os.Exit(3)
				}
				// Unbuffered: the line reaches the pipe before the next
				// Update, so what the test reads was acknowledged.
				mu.Lock()
				fmt.Fprintln(os.Stdout, name)
				mu.Unlock()
			}
		}()
	}
	select {}
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary: %v", err)
	}
	path := filepath.Join(t.TempDir(), "custos.db")
	// Two rounds: the second starts from a database recovered after a kill.
	for round, prefix := range []string{"round1", "round2"} {
		acked := runAndKill(t, exe, path, prefix, 300+200*round)

		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: Open() after kill = %v", round+1, err)
		}
		for _, name := range acked {
			got, err := s.Get(t.Context(), name)
			if err != nil {
				t.Errorf("round %d: acknowledged record %q: Get() = %v", round+1, name, err)
				continue
			}
			if diff := cmp.Diff(withRev(crashRecord(prefix, name), 1), got); diff != "" {
				t.Errorf("round %d: record %q damaged (-want +got):\n%s", round+1, name, diff)
			}
		}
		// Each Update created a record and incremented the counter; after
		// the crash both halves of every Update are there, or neither.
		rs, err := s.List(t.Context(), storage.ListOptions{Kind: "test.CryptoKey", Parent: prefix})
		if err != nil {
			t.Fatalf("List() = %v", err)
		}
		c, err := s.Get(t.Context(), prefix+"/counter")
		if err != nil {
			t.Fatalf("Get(counter) = %v", err)
		}
		if string(c.Data) != strconv.Itoa(len(rs)) {
			t.Errorf("round %d: counter = %s, but %d records exist", round+1, c.Data, len(rs))
		}
		if len(rs) < len(acked) {
			t.Errorf("round %d: %d records exist, %d were acknowledged", round+1, len(rs), len(acked))
		}
		t.Logf("round %d: %d acknowledged before the kill, %d committed", round+1, len(acked), len(rs))
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
	}
}

// runAndKill starts the crash helper on the database at path, kills it with
// SIGKILL once it has acknowledged at least n records, and returns every
// name it acknowledged.
func runAndKill(t *testing.T, exe, path, prefix string, n int) []string {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+path, crashPrefixEnv+"="+prefix)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		acked = append(acked, sc.Text())
		if len(acked) == n {
			// Mid-stream: the helper's sixteen writers are all busy.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill helper: %v", err)
			}
		}
	}
	// Lines written before the kill are still in the pipe: they were
	// acknowledged too, and are read above until EOF.
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || !exitErr.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("helper ended with %v, want killed by a signal; stderr:\n%s", err, stderr.Bytes())
	}
	if len(acked) < n {
		t.Fatalf("helper acknowledged %d records before dying, want %d; stderr:\n%s", len(acked), n, stderr.Bytes())
	}
	return acked
}
