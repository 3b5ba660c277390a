// SPDX-License-Identifier: Apache-2.0

// Package e2e runs the real custos binary on loopback and drives it with the
// official Google Cloud KMS Go clients (gRPC and REST), with plain net/http,
// with the openssl CLI and with direct edits of its data folder.
//
// TestMain builds ./cmd/custos once; every test starts its own server with
// startServer, on free loopback ports and a fresh data folder.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// custosBin is the binary that TestMain builds.
var custosBin string

const (
	// startTimeout bounds the wait for DIR/admin-token.
	startTimeout = 15 * time.Second
	// stopTimeout bounds the graceful stop before SIGKILL.
	stopTimeout = 15 * time.Second
	// callTimeout bounds each test's calls.
	callTimeout = 90 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "custos-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// CUSTOS_E2E_BINARY runs the suite against a binary built elsewhere
	// (a release, or a snapshot while the tree does not build).
	if bin := os.Getenv("CUSTOS_E2E_BINARY"); bin != "" {
		custosBin = bin
		return m.Run()
	}
	custosBin = filepath.Join(dir, "custos")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", custosBin, "./cmd/custos")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building custos in %s: %v\n%s", root, err, out)
		return 1
	}
	return m.Run()
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running custos process.
type server struct {
	dir      string
	restAddr string // host:port
	grpcAddr string // host:port
	token    string
	started  time.Time // when the token file appeared

	cmd     *exec.Cmd
	output  *syncBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts custos with a fresh data folder and the given extra
// flags, waits until it publishes its admin token, and stops it when the
// test ends.
func startServer(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), extraArgs...)
}

// startServerIn is startServer on a given data folder (restart tests).
func startServerIn(t *testing.T, dir string, extraArgs ...string) *server {
	t.Helper()
	// A free port can be taken between freePort and the server's bind:
	// retry a few times on an early exit.
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStart(t, dir, extraArgs...)
		if err == nil {
			return s
		}
		lastOut = err.Error()
		if !strings.Contains(lastOut, "address already in use") {
			break
		}
	}
	t.Fatalf("custos server did not start: %s", lastOut)
	return nil
}

func tryStart(t *testing.T, dir string, extraArgs ...string) (*server, error) {
	t.Helper()
	s := &server{
		dir:      dir,
		restAddr: freePort(t),
		grpcAddr: freePort(t),
		output:   new(syncBuffer),
		done:     make(chan struct{}),
	}
	// A stopped server leaves its admin-token behind. The new server
	// removes it on start, but not before this poller could read it and
	// call a server that does not listen yet: remove it first.
	tokenPath := filepath.Join(dir, "admin-token")
	if err := os.Remove(tokenPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove the old %s: %v", tokenPath, err)
	}
	args := append([]string{"server", "--dev", "--data", dir, "--listen", s.restAddr, "--grpc-listen", s.grpcAddr}, extraArgs...)
	s.cmd = exec.Command(custosBin, args...)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", custosBin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("custos server (data %s) output:\n%s", s.dir, s.output.String())
		}
		s.stop(t)
	})

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("exited early (%v):\n%s", s.waitErr, s.output.String())
		default:
		}
		b, err := os.ReadFile(tokenPath)
		if err == nil {
			s.token = strings.TrimSuffix(string(b), "\n")
			s.started = time.Now()
			return s, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read %s: %v", tokenPath, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no %s after %v:\n%s", tokenPath, startTimeout, s.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, waits, and kills the process if it does not exit in
// time. It reports the exit status of the process (nil for exit code 0).
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			t.Errorf("custos did not stop within %v of SIGTERM; killing it", stopTimeout)
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	<-s.done
	return s.waitErr
}

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// testContext returns a context bounded by callTimeout and the test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startProduction starts a production server on data and waits until it
// listens; token is the admin token the test will use.
func startProduction(t *testing.T, data, rootKey, token string) *server {
	t.Helper()
	s := &server{dir: data, restAddr: freePort(t), grpcAddr: freePort(t), token: token, output: new(syncBuffer), done: make(chan struct{})}
	s.cmd = exec.Command(custosBin, "server", "--data", data, "--root-key-file", rootKey, "--listen", s.restAddr, "--grpc-listen", s.grpcAddr)
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("production server output:\n%s", s.output)
		}
		s.stop(t)
	})
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.restAddr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("production server exited: %v\n%s", s.waitErr, s.output)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("production server did not listen on %s", s.restAddr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
