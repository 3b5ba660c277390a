// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/custos-kms/custos/internal/cli"
)

// TestMain registers custos as a testscript command: the test binary,
// copied into $PATH as "custos", runs cli.Main when invoked under that name.
// The same command, run as "custos server --dev", is the server the scripts
// talk to.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"custos": func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/*.txtar, each against its own dev server.
func TestScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: startServer,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":     cmdExitCode,
			"envfile":      cmdEnvFile,
			"audittamper":  cmdAuditTamper,
			"recordtamper": cmdRecordTamper,
		},
		RequireExplicitExec: true,
	})
}

// startServer starts "custos server --dev" with its data in $WORK/data on
// two free loopback ports, waits until it writes $WORK/data/admin-token
// (which it does once it accepts requests), and points CUSTOS_ADDR and
// CUSTOS_TOKEN at it. The server is stopped when the script ends; its log is
// in $WORK/server.log and printed if the script fails.
func startServer(env *testscript.Env) error {
	bin, err := exec.LookPath("custos")
	if err != nil {
		return fmt.Errorf("custos is not in $PATH (testscript.Main installs it): %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	data := filepath.Join(env.WorkDir, "data")
	logPath := filepath.Join(env.WorkDir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(bin, "server", "--dev", "--data", data,
		"--listen", addr, "--grpc-listen", "127.0.0.1:"+strconv.Itoa(ports[1]))
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting the server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fails harmlessly if it already exited
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	}
	env.Defer(func() {
		stop()
		if f, ok := env.T().(interface{ Failed() bool }); ok && f.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				env.T().Log("server log:\n" + string(log))
			}
		}
	})

	tokenPath := filepath.Join(data, "admin-token")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(tokenPath); err == nil && len(bytes.TrimSpace(b)) > 0 {
			env.Setenv("CUSTOS_ADDR", "http://"+addr)
			env.Setenv("CUSTOS_TOKEN", string(bytes.TrimSpace(b)))
			env.Setenv("CUSTOS_DATA_DIR", data)
			return nil
		}
		select {
		case err := <-exited:
			exited <- err // let stop() see it
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("the server exited before writing %s: %v\n%s", tokenPath, err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("the server did not write %s within a minute\n%s", tokenPath, log)
		}
	}
}

// serverEnv is this process's environment without CUSTOS_ settings, so
// that nothing from the developer's shell reaches the test server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTOS_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// cmdExitCode implements "exitcode N cmd args...": run cmd and check that
// it exits with status N. Its stdout and stderr can then be checked with
// stdout and stderr.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Logf("[stdout]\n%s[stderr]\n%s", ts.ReadFile("stdout"), ts.ReadFile("stderr"))
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
