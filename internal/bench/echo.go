// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
)

// The ceiling of the transports is a bare server on the same machine,
// driven by the same generator with the same concurrency: a Go net/http
// HTTP/1.1 keep-alive server and a Go gRPC server, each answering a
// same-sized echo without authentication, authorization, crypto, audit or
// storage. Custos's figures are reported as a fraction of theirs.

// echoHTTPHandler reads the request body and answers a JSON object of the
// size asked in echoSizeHeader (else as long as the body). The object has a
// "ciphertext" field, so that the Encrypt workload's check passes.
func echoHTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		size := int(n)
		if v := r.Header.Get(echoSizeHeader); v != "" {
			if s, err := strconv.Atoi(v); err == nil && s >= 0 && s <= 1<<20 {
				size = s
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(echoBody(size))
	})
}

// echoBodies caches the answers by size: the echo should cost nothing but
// the transport.
var echoBodies sync.Map // int → []byte

// echoBody returns {"ciphertext":"AAAA..."} padded to size bytes (at least
// the bare object).
func echoBody(size int) []byte {
	if b, ok := echoBodies.Load(size); ok {
		return b.([]byte)
	}
	const head, tail = `{"ciphertext":"`, `"}`
	pad := max(size-len(head)-len(tail), 0)
	b := []byte(head + strings.Repeat("A", pad) + tail)
	echoBodies.Store(size, b)
	return b
}

// echoKMS answers Encrypt with a response as large as Custos's (the
// plaintext's length plus the envelope's overhead, and the version's name),
// and nothing else.
type echoKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer
}

// envelopeOverhead is what Custos's Encrypt adds to a plaintext: kind,
// version varint, nonce and tag.
const envelopeOverhead = 1 + 1 + 12 + 16

func (echoKMS) Encrypt(_ context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	return &kmspb.EncryptResponse{
		Name:            req.GetName() + "/cryptoKeyVersions/1",
		Ciphertext:      make([]byte, len(req.GetPlaintext())+envelopeOverhead),
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}

// EchoAddrs are the addresses of a running echo server.
type EchoAddrs struct {
	REST string `json:"rest"` // host:port
	GRPC string `json:"grpc"` // host:port
}

// ServeEcho runs the bare HTTP and gRPC echo servers on the two loopback
// addresses (port 0 picks one) until ctx ends. ready is called with the
// bound addresses once both accept connections.
func ServeEcho(ctx context.Context, restAddr, grpcAddr string, ready func(EchoAddrs)) error {
	for _, a := range []string{restAddr, grpcAddr} {
		if !loopback(a) {
			return fmt.Errorf("echo: %s is not a loopback address", a)
		}
	}
	hl, err := net.Listen("tcp", restAddr)
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	gl, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		hl.Close()
		return fmt.Errorf("echo: %w", err)
	}
	hs := &http.Server{Handler: echoHTTPHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(1 << 20))
	kmspb.RegisterKeyManagementServiceServer(gs, echoKMS{})
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(hl) }()
	go func() { errc <- gs.Serve(gl) }()
	if ready != nil {
		ready(EchoAddrs{REST: hl.Addr().String(), GRPC: gl.Addr().String()})
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	gs.Stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// loopback reports whether a host:port address is on loopback.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// echoProc is an echo server: a child process (the ceiling runs in its own
// process, as Custos does) or, in tests, a goroutine.
type echoProc struct {
	addrs EchoAddrs
	pid   int // 0 in process
	stop  func()
}

// startEchoProcess runs "self bench echo" and reads the addresses it
// prints. The child exits when its stdin closes, so it never outlives the
// bench.
func startEchoProcess(ctx context.Context, self string) (*echoProc, error) {
	cmd := exec.Command(self, "bench", "echo")
	cmd.Env = childEnv()
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the echo server: %w", err)
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout)
	}()
	var s string
	select {
	case s = <-line:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	var a EchoAddrs
	if err := json.Unmarshal([]byte(s), &a); err != nil || a.REST == "" || a.GRPC == "" {
		stop()
		return nil, fmt.Errorf("the echo server did not report its addresses (got %q)", strings.TrimSpace(s))
	}
	return &echoProc{addrs: a, pid: cmd.Process.Pid, stop: stop}, nil
}

// startEchoInProcess runs the echo servers in this process (tests).
func startEchoInProcess(ctx context.Context) (*echoProc, error) {
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan EchoAddrs, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- ServeEcho(ctx, "127.0.0.1:0", "127.0.0.1:0", func(a EchoAddrs) { ready <- a })
	}()
	select {
	case a := <-ready:
		return &echoProc{addrs: a, stop: func() { cancel(); <-errc }}, nil
	case err := <-errc:
		cancel()
		return nil, err
	}
}
