// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/server"
)

// devServer is a dev server in this process.
type devServer struct {
	restURL, grpcAddr, token string
	// issuerAddr is where the bench must serve its token issuer's JWKS:
	// the server fetches it from there (--ekm-jwks-url).
	issuerAddr string
}

// startDevServer starts a dev server in process on loopback ports. Its
// goroutines carry the profiler label side=server, so that a CPU profile
// of a benchmark can be split between server and load generator
// (go tool pprof -tagfocus side=server).
func startDevServer(tb testing.TB) *devServer {
	tb.Helper()
	dir := tb.TempDir()
	issuerAddr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	var srv *server.Server
	pprof.Do(context.Background(), pprof.Labels("side", "server"), func(ctx context.Context) {
		srv, err = server.Start(ctx, server.Options{
			Dev: true, DataDir: dir, Listen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
			EKMJWKSURL: "http://" + issuerAddr + "/certs",
			Logger:     slog.New(slog.DiscardHandler),
		})
	})
	if err != nil {
		tb.Fatalf("server.Start = %v", err)
	}
	tb.Cleanup(srv.Stop)
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		tb.Fatal(err)
	}
	return &devServer{restURL: "http://" + srv.RESTAddr(), grpcAddr: srv.GRPCAddr(), token: strings.TrimSpace(string(tok)), issuerAddr: issuerAddr}
}

func (d *devServer) api() *apiClient {
	return &apiClient{base: d.restURL, token: d.token, client: newHTTPClient(2)}
}

// TestSetup checks the resources the bench makes through the public API:
// the app that encrypts holds nothing but its role on its key, and its
// calls are recorded (data-access audit on).
func TestSetup(t *testing.T) {
	d := startDevServer(t)
	ctx := context.Background()
	f, err := setup(ctx, d.api(), true)
	if err != nil {
		t.Fatalf("setup = %v", err)
	}
	enc := &apiClient{base: d.restURL, token: f.encToken, client: newHTTPClient(1)}
	ops := &apiClient{base: d.restURL, token: f.opsToken, client: newHTTPClient(1)}
	tests := []struct {
		name   string
		as     *apiClient
		method string
		path   string
		body   []byte
		want   int
	}{
		{"the app encrypts", enc, http.MethodPost, "/v1/" + f.encKey + ":encrypt", b64Body("plaintext", f.plaintext32), http.StatusOK},
		{"the app decrypts", enc, http.MethodPost, "/v1/" + f.encKey + ":decrypt", b64Body("ciphertext", f.ciphertext32), http.StatusOK},
		{"the app cannot read the key", enc, http.MethodGet, "/v1/" + f.encKey, nil, http.StatusForbidden},
		{"the app cannot sign", enc, http.MethodPost, "/v1/" + f.ecVersion + ":asymmetricSign", []byte(`{"digest":{"sha256":"` + strings.Repeat("A", 43) + `="}}`), http.StatusForbidden},
		{"the app cannot create keys", enc, http.MethodPost, "/v1/" + f.createRing + "/cryptoKeys?cryptoKeyId=x", []byte(`{"purpose":"ENCRYPT_DECRYPT"}`), http.StatusForbidden},
		{"the other app cannot encrypt", ops, http.MethodPost, "/v1/" + f.encKey + ":encrypt", b64Body("plaintext", f.plaintext32), http.StatusForbidden},
		{"the other app reads the key", ops, http.MethodGet, "/v1/" + f.encKey, nil, http.StatusOK},
		{"the other app creates keys", ops, http.MethodPost, "/v1/" + f.createRing + "/cryptoKeys?cryptoKeyId=x", []byte(`{"purpose":"ENCRYPT_DECRYPT"}`), http.StatusOK},
		{"the other app creates scale keys", ops, http.MethodPost, "/v1/" + f.scaleRing + "/cryptoKeys?cryptoKeyId=s0000001", []byte(`{"purpose":"ENCRYPT_DECRYPT"}`), http.StatusOK},
		{"the app encrypts with scale keys", enc, http.MethodPost, "/v1/" + scaleKeyName(f, 1) + ":encrypt", b64Body("plaintext", f.plaintext32), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != nil {
				body = tc.body
			}
			_, err := tc.as.call(ctx, tc.method, tc.path, body, nil)
			got := http.StatusOK
			if ae, ok := err.(*APIError); ok {
				got = ae.Status
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s %s = HTTP %d (%v), want %d", tc.method, tc.path, got, err, tc.want)
			}
		})
	}

	var cfg struct {
		DataAccess bool `json:"dataAccess"`
	}
	if _, err := d.api().call(ctx, http.MethodGet, "/admin/v1/auditConfig/"+f.encKey, nil, &cfg); err != nil || !cfg.DataAccess {
		t.Errorf("audit config of %s: dataAccess %v (%v), want true", f.encKey, cfg.DataAccess, err)
	}
	var log struct {
		Entries []struct {
			Method string `json:"method"`
		} `json:"entries"`
	}
	if _, err := d.api().call(ctx, http.MethodGet, "/admin/v1/audit?resource="+f.encKey+"&principal=app:"+f.encApp+"&method=Encrypt", nil, &log); err != nil || len(log.Entries) == 0 {
		t.Errorf("no Encrypt by the app in the audit log (%v): data-access audit is not on", err)
	}
}

// TestRunWorkloads runs every workload over both transports for a few
// requests with 2 workers, and Encrypt for 1 s beside its ceiling. It
// checks that every request succeeds, not how fast.
func TestRunWorkloads(t *testing.T) {
	d := startDevServer(t)
	ctx := context.Background()
	base := Options{RESTURL: d.restURL, GRPCAddr: d.grpcAddr, Token: d.token, Concurrency: 2, GRPCConns: 1}

	o := base
	o.Workloads, o.Requests, o.EKMIssuerListen = []string{"all"}, 6, d.issuerAddr
	s, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run(all workloads) = %v", err)
	}
	// Every workload over both transports, but Cloud EKM over REST only.
	if got, want := len(s.Results), 2*len(workloads)-2; got != want {
		t.Errorf("%d results, want %d", got, want)
	}
	for _, r := range s.Results {
		if r.Errors != 0 || r.Requests != 6 {
			t.Errorf("%s/%s: %d requests, %d errors (%s); want 6 and 0", r.Workload, r.Transport, r.Requests, r.Errors, r.FirstError)
		}
	}

	// Without a trusted issuer the Cloud EKM workloads are refused by
	// name, and left out of "all".
	o = base
	o.Workloads, o.Requests = []string{wEKMWrap}, 1
	if _, err := Run(ctx, o); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Errorf("Run(ekm-wrap) without an issuer = %v, want an error about the issuer", err)
	}

	o = base
	o.Workloads, o.Duration, o.Warmup = []string{wEncrypt32}, time.Second, 100*time.Millisecond
	o.Ceiling, o.EchoInProcess = true, true
	if s, err = Run(ctx, o); err != nil {
		t.Fatalf("Run(encrypt-32 with ceiling) = %v", err)
	}
	kinds := map[string]bool{}
	for _, r := range s.Results {
		kinds[r.Target+" "+r.Workload+"/"+r.Transport] = true
		if r.Errors != 0 || r.Requests == 0 {
			t.Errorf("%s %s/%s: %d requests, %d errors (%s)", r.Target, r.Workload, r.Transport, r.Requests, r.Errors, r.FirstError)
		}
		if r.Target == "custos" && (r.Ceiling == "" || r.Ratio == 0) {
			t.Errorf("%s/%s has no ceiling ratio", r.Workload, r.Transport)
		}
	}
	for _, k := range []string{"echo echo-32/rest", "echo echo-32/grpc", "custos encrypt-32/rest", "custos encrypt-32/grpc"} {
		if !kinds[k] {
			t.Errorf("no %s run", k)
		}
	}
	if len(s.RawCrypto) != 4 {
		t.Errorf("%d raw crypto rates, want 4", len(s.RawCrypto))
	}
}

// TestStandardSmall runs the standard set at a tiny scale with the bench
// starting its own server and echo as child processes (the test binary
// acting as custos).
func TestStandardSmall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv("BENCH_TEST_RUN_AS_CUSTOS", "1")
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	s, err := Run(context.Background(), Options{
		StartServer: true, Self: os.Args[0], Standard: true, Ceiling: true, ServerCPUProfile: prof,
		Workloads: []string{wEncrypt32, wCreateKey}, Concurrency: 2, GRPCConns: 1, Requests: 5,
		ScaleKeys: 40, ScaleSmallKeys: 20, FillConcurrency: 4, ScaleConcurrency: 2,
	})
	if err != nil {
		t.Fatalf("Run(standard) = %v", err)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("no server CPU profile: %v", err)
	}
	sc := s.Scale
	if sc == nil || sc.StartupSeconds <= 0 || sc.RSSBytes <= 0 || sc.RSSSmallBytes <= 0 || sc.FillErrors != 0 || sc.FillRate <= 0 {
		t.Fatalf("scale = %+v", sc)
	}
	if s.Server == nil || s.Server.PID == 0 || s.Server.StartupSeconds <= 0 {
		t.Errorf("server = %+v", s.Server)
	}
	phases := map[string]bool{}
	for _, r := range s.Results {
		phases[r.Phase] = true
		if r.Errors != 0 {
			t.Errorf("%s/%s %s: %d errors (%s)", r.Workload, r.Transport, r.Phase, r.Errors, r.FirstError)
		}
		if r.Target == "custos" && r.ServerCPUus == 0 && r.Requests > 50 {
			t.Errorf("%s/%s %s: no server CPU time", r.Workload, r.Transport, r.Phase)
		}
	}
	for _, p := range []string{"", "keys=20", "keys=40", "fill"} {
		if !phases[p] {
			t.Errorf("no run in phase %q", p)
		}
	}
	ids := map[string]string{}
	for _, tg := range s.Targets {
		ids[tg.ID] = tg.Status
	}
	for _, id := range []string{"startup", "memory-per-key", "scale-encrypt-32", "scale-get-key", "create-key-grpc-fill"} {
		if ids[id] == "" || ids[id] == statusNotMeasured {
			t.Errorf("target %s: %q, want a verdict", id, ids[id])
		}
	}
}
