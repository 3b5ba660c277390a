// SPDX-License-Identifier: Apache-2.0

//go:build unix

package devfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// The crash helper is this test binary run again with crashPathEnv set to
// a root key path and crashStepEnv to the step at which it kills itself.
const (
	crashPathEnv = "CUSTOS_DEVFILE_CRASH_PATH"
	crashStepEnv = "CUSTOS_DEVFILE_CRASH_STEP"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashPathEnv); path != "" {
		step := os.Getenv(crashStepEnv)
		crashPoint = func(s string) {
			if s == step {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		Open(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCreateSurvivesACrash kills a process that is creating the root key
// file at each step of the creation: afterwards there is no root key file,
// or a whole one, never an empty or partial one that every later start
// refuses.
func TestCreateSurvivesACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary: %v", err)
	}
	for _, step := range crashSteps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "root-key")
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashStepEnv+"="+step)
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || !exitErr.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("helper ended with %v, want killed at step %s", err, step)
			}
			if _, err := os.Stat(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open after a crash at step %s = %v", step, err)
			}
			if len(s.key) != 32 {
				t.Fatalf("key of %d bytes", len(s.key))
			}
		})
	}
}

var crashSteps = []string{"created", "written", "linked"}
